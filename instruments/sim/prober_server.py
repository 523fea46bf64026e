"""Simulated FormFactor Velox remote-command servers (the prober of the simulated lab).

Two transports, as on a real station, on two ports of the twin:

* **plain lines** (GPIB or a raw socket): one command per line, ``\\n`` terminated (a trailing
  ``\\r`` is ignored); replies ``<code>: <values>`` (``0:`` alone when there are no values),
  errors ``<code>: <message>``. ``*IDN?`` replies without a code and contains no ``:`` (pymeasure's
  Velox driver treats any reply with a colon as coded). ``*CLS``, ``*RST`` and ``*WAI`` are
  accepted without a reply, ``*OPC?`` -> ``1``, ``*STB?`` -> ``0``::

      MoveChuckContact 100          ->  0:
      ReadChuckPosition Y H         ->  0: 1250.00 -300.00 9700.00
      StepNextDie                   ->  703: EndOfWafer
      Bogus                         ->  509: UnknownCommand Bogus

* **message server** (FormFactor's TCP port 1412; framing in
  :mod:`instruments.cascade.velox_commands`): a client registers first with
  ``FCN=1:RegisterProberApp:<app> <app> 0`` (reply ``Rsp=1:0:``), then sends
  ``Cmd=<id>:<Name>:<args>`` and gets ``Rsp=<id>:<code>:<values or message>`` with the same id.
  Commands before registration get ``Rsp=<id>:540:ClientNotRegistered``; ``FCN=<n>:GetCommands:``
  lists the commands as ``group name number timeout`` separated by ``;``; any other line gets
  ``Rsp=0:509:...``. The registration reply's exact text is not public (FormFactor's client
  reads and ignores it); ``Rsp=1:0:`` is the simulator's choice.

The vocabulary (names, argument defaults, reply fields, codes) is the table of
:mod:`instruments.cascade.velox_commands`; this module holds the handlers. Arguments follow the
Velox order and defaults: units ``Y`` microns, ``I`` mils, ``J`` jogs, ``E`` encoder counts (the
words too), ``X`` index steps (MoveChuck only); references ``H Z C D R`` (or the words);
temperature units ``C F K``; velocities 0.1..100 % are checked and otherwise ignored (moves are
instantaneous). Commands are matched case-insensitively; a command not in the twin's handler table
answers 509 at once, one the table marks *refused* answers its error.

Why over 500 lines: one module holds both Velox transports the station speaks (plain lines and
FormFactor's message-server framing) over one command table, so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol

from instruments.cascade import velox_commands as vc
from instruments.sim.line_server import LineServer
from instruments.sim.prober import (
    DEW_POINT_C,
    E_BAD_ARGUMENT,
    E_NOT_SUPPORTED,
    E_OK,
    E_UNKNOWN_COMMAND,
    ERROR_MESSAGES,
    ProberError,
    ProberModel,
    StepResult,
)

IDN = "FormFactor,Velox (simulated),MemProbe-SIM,3.2.0.0"
SOFTWARE_VERSION = "3.2.0.0 Velox-Simulator"


class _Lab(Protocol):
    lock: AbstractContextManager[Any]
    prober: ProberModel


class _Args:
    """Positional arguments of one command with typed access; defaults from the table."""

    def __init__(self, tokens: list[str], spec: vc.CommandSpec | None = None) -> None:
        self.tokens = tokens
        self.spec = spec

    def __len__(self) -> int:
        return len(self.tokens)

    def text(self, i: int, default: str | None = None) -> str:
        """Argument ``i``; missing: ``default``, else the table's Velox default, else an error."""
        if i < len(self.tokens):
            return self.tokens[i]
        if default is not None:
            return default
        table_default = self.spec.default(i) if self.spec is not None else None
        if not table_default:
            raise ProberError(E_BAD_ARGUMENT, f"missing argument {i + 1}")
        return table_default

    def number(self, i: int, default: float | None = None) -> float:
        raw = self.text(i, None if default is None else repr(default))
        try:
            value = float(raw)
        except ValueError:
            raise ProberError(E_BAD_ARGUMENT, f"not a number: {raw!r}") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise ProberError(E_BAD_ARGUMENT, f"not a finite number: {raw!r}")
        return value

    def integer(self, i: int, default: int | None = None) -> int:
        value = self.number(i, None if default is None else float(default))
        if value != int(value):
            raise ProberError(E_BAD_ARGUMENT, f"not an integer: {value!r}")
        return int(value)

    def flag(self, i: int, default: int | None = None) -> bool:
        value = self.integer(i, default)
        if value not in (0, 1):
            raise ProberError(E_BAD_ARGUMENT, f"flag {value} (0 or 1)")
        return bool(value)

    def unit(self, i: int, allow_index: bool = False) -> str:
        raw = self.text(i, "Y").upper()
        unit = vc.UNIT_LETTERS.get(raw)
        if unit is None or (unit == "X" and not allow_index):
            raise ProberError(E_BAD_ARGUMENT, f"unit {raw!r}")
        return unit

    def um_per(self, i: int) -> float:
        return vc.UM_PER_UNIT[self.unit(i)]

    def ref(self, i: int, default: str = "H") -> str:
        raw = self.text(i, default).upper()
        if raw not in vc.REFERENCE_LETTERS:
            raise ProberError(E_BAD_ARGUMENT, f"position reference {raw!r}")
        return vc.REFERENCE_LETTERS[raw]

    def velocity(self, i: int) -> float:
        value = self.number(i, 100.0)
        lo, hi = vc.VELOCITY_RANGE
        if not lo <= value <= hi:
            raise ProberError(E_BAD_ARGUMENT, f"velocity {value:g} %")
        return value

    def temp_unit(self, i: int) -> str:
        raw = self.text(i, "C").upper()[:1]
        if raw not in vc.TEMPERATURE_UNITS:
            raise ProberError(E_BAD_ARGUMENT, f"temperature unit {raw!r}")
        return raw


def _fmt(*values: float | int | str) -> str:
    out = []
    for v in values:
        if isinstance(v, bool):
            out.append("1" if v else "0")
        elif isinstance(v, float):
            out.append(f"{v:.2f}")
        else:
            out.append(str(v))
    return " ".join(out)


def _step(result: StepResult) -> str:
    return _fmt(result.col, result.row, result.site, result.last_site_index)


def _die_args(a: _Args, start: int) -> tuple[tuple[int, int] | None, int]:
    if len(a) <= start:
        return None, 0
    die = (a.integer(start), a.integer(start + 1))
    return die, a.integer(start + 2, 0)


# -- command handlers: (model, args) -> reply values ---------------------------------------------
def _read_chuck_position(m: ProberModel, a: _Args) -> str:
    k = a.um_per(0)
    x, y, z = m.position_um(a.ref(1))
    return _fmt(x / k, y / k, z / k)


def _read_chuck_heights(m: ProberModel, a: _Args) -> str:
    k = a.um_per(0)
    contact, *gaps = m.heights()
    return _fmt(contact if contact < 0 else contact / k, *(g / k for g in gaps))


def _set_chuck_height(m: ProberModel, a: _Args) -> str:
    k = a.um_per(2)
    m.set_chuck_height(a.text(0), a.text(1), a.number(3) * k)
    return ""


def _set_chuck_mode(m: ProberModel, a: _Args) -> str:
    flags = [a.integer(i) for i in range(6)]
    if any(f not in (0, 1, 2) for f in flags):
        raise ProberError(E_BAD_ARGUMENT, "flag values must be 0, 1 or 2")
    # ContactSearch, EdgeInterlock, QuietContact are accepted and not modelled
    m.set_chuck_mode(*flags[:3])
    return ""


def _read_chuck_status(m: ProberModel, a: _Args) -> str:
    s = m.chuck_status()
    return _fmt(s.flags_init, s.flags_mode, s.flags_limit, s.flags_moving, s.comp,
                s.vacuum_on, s.preset_height, s.load_pos, s.lift_down, s.camera_connection,
                s.quiet)


def _z_move(action: Callable[[ProberModel], None]) -> Callable[[ProberModel, _Args], str]:
    def run(m: ProberModel, a: _Args) -> str:
        a.velocity(0)
        action(m)
        return ""
    return run


def _move_chuck_z(m: ProberModel, a: _Args) -> str:
    ref = a.ref(1, "Z")
    if ref not in ("Z", "R"):
        raise ProberError(E_BAD_ARGUMENT, f"Z reference {ref!r}")
    k = a.um_per(2)
    a.velocity(3)
    m.move_z(a.number(0) * k, relative=ref == "R")
    return ""


def _move_chuck(m: ProberModel, a: _Args) -> str:
    x, y, ref, unit = a.number(0), a.number(1), a.ref(2), a.unit(3, allow_index=True)
    a.velocity(4)
    if unit == "X":
        x, y = x * m.index_um[0], y * m.index_um[1]
    else:
        x, y = x * vc.UM_PER_UNIT[unit], y * vc.UM_PER_UNIT[unit]
    m.move_chuck(x, y, ref)
    return ""


def _move_chuck_index(m: ProberModel, a: _Args) -> str:
    xs, ys, ref = a.integer(0), a.integer(1), a.ref(2)
    a.velocity(3)
    m.move_chuck_index(xs, ys, ref)
    return ""


def _move_chuck_subsite(m: ProberModel, a: _Args) -> str:
    k = a.um_per(2)
    a.velocity(3)
    m.move_chuck_subsite(a.number(0) * k, a.number(1) * k)
    return ""


def _read_chuck_index(m: ProberModel, a: _Args) -> str:
    k = a.um_per(0)
    return _fmt(m.index_um[0] / k, m.index_um[1] / k)


def _set_chuck_index(m: ProberModel, a: _Args) -> str:
    k = a.um_per(2)
    x, y = a.number(0) * k, a.number(1) * k
    if x < vc.MIN_DIE_PITCH_UM or y < vc.MIN_DIE_PITCH_UM:
        raise ProberError(E_BAD_ARGUMENT, f"index must be >= {vc.MIN_DIE_PITCH_UM:g} um")
    m.index_um = (x, y)
    return ""


def _read_chuck_thermo_value(m: ProberModel, a: _Args) -> str:
    unit = a.temp_unit(0)
    return _fmt(vc.from_celsius(20.0, unit), 2.33, 2.33)


def _step_next_die(m: ProberModel, a: _Args) -> str:
    die, site = _die_args(a, 0)
    if die is not None and site == -1:  # Velox: Site -1 = SubDie 0 of the next die
        die, site = None, 0
    return _step(m.step_next_die(die, site))


def _step_next_subdie(m: ProberModel, a: _Args) -> str:
    return _fmt(*m.step_next_subdie())


def _bin_step_die(m: ProberModel, a: _Args) -> str:
    bin_code = a.integer(0)
    die, site = _die_args(a, 1)
    return _step(m.bin_step_die(bin_code, die, site))


def _bin_map_die(m: ProberModel, a: _Args) -> str:
    bin_code = a.integer(0)
    die = (a.integer(1), a.integer(2)) if len(a) > 1 else None
    return _fmt(*m.bin_map_die(bin_code, die))


def _read_map_position2(m: ProberModel, a: _Args) -> str:
    a.integer(0)  # Pos: accepted, the current position is reported
    p = m.map_position()
    return _fmt(p.col, p.row, p.x_from_home_um, p.y_from_home_um, p.site, p.last_site_index,
                p.die_number, p.dies_count, p.cluster_number, p.clusters_count)


def _set_map_home(m: ProberModel, a: _Args) -> str:
    die = (a.integer(0), a.integer(1)) if len(a) else None
    m.set_map_home(die)
    return ""


def _set_wafer_map_params2(m: ProberModel, a: _Args) -> str:
    values = [a.number(i) for i in range(8)]
    values[4] = float(a.integer(4))  # FlatAngle is an integer
    m.set_wafer_map_params(*values)
    return ""


def _get_wafer_map_params(m: ProberModel, a: _Args) -> str:
    d, w, h, flat, angle, xo, yo, edge = m.wafer_map_params()
    return _fmt(d, w, h, flat, angle, 100.0 * xo / w, 100.0 * yo / h, edge)


def _get_die_data_as_num(m: ProberModel, a: _Args) -> str:
    return _fmt(*m.die_data(a.integer(0)))


def _get_subdie_data(m: ProberModel, a: _Args) -> str:
    site = a.integer(0)
    s = m.subsite(site)
    return _fmt(site, s.dx_um, s.dy_um, s.label)


def _get_subdie_status(m: ProberModel, a: _Args) -> str:
    m.subsite(a.integer(0))
    return "1"


def _get_map_orientation(m: ProberModel, a: _Args) -> str:
    a.flag(0)  # UseOrientationCornerForShift: the twin's origin is the top-left corner anyway
    return _fmt(0, 0, 0, 0, 1)


def _set_heater_temp(m: ProberModel, a: _Args) -> str:
    unit = a.temp_unit(1)
    safety = a.flag(2)
    set_point = m.set_heater_temp(vc.to_celsius(a.number(0), unit), use_contact_safety=safety)
    return _fmt(vc.from_celsius(set_point, unit), unit)


def _heat_chuck(m: ProberModel, a: _Args) -> str:
    unit = a.temp_unit(1)
    reduce_contact = a.flag(2)
    reached = m.heat_chuck(vc.to_celsius(a.number(0), unit), reduce_contact=reduce_contact)
    return _fmt(vc.from_celsius(reached, unit), unit)


def _get_heater_temp(m: ProberModel, a: _Args) -> str:
    unit = a.temp_unit(0)
    temp, status = m.heater_status()
    return _fmt(vc.from_celsius(temp, unit), unit, status)


def _get_target_temp(m: ProberModel, a: _Args) -> str:
    unit = a.temp_unit(0)
    return _fmt(vc.from_celsius(m.set_point_c, unit), unit)


def _set_heater_soak(m: ProberModel, a: _Args) -> str:
    fixed = a.integer(0)
    for i in (1, 2, 3):
        a.number(i)  # dynamic and die soak times: accepted, not modelled
    m.set_heater_soak(fixed)
    return ""


def _read_temperature_chuck_status(m: ProberModel, a: _Args) -> str:
    status = m.heater_status()[1]
    return _fmt(status, 1, round(m.soak_time_left_s()), 0)


def _get_dew_point(m: ProberModel, a: _Args) -> str:
    unit = a.temp_unit(0)
    return _fmt(vc.from_celsius(DEW_POINT_C, unit), unit)


def _set_external_mode(m: ProberModel, a: _Args) -> str:
    m.set_external_mode(a.text(0))
    return ""


def _is_app_registered(m: ProberModel, a: _Args) -> str:
    return "1" if a.text(0, "").lower() in ("wafermap", "") else "0"


def _enable_motor_quiet(m: ProberModel, a: _Args) -> str:
    m.quiet = a.flag(0)
    return ""


def _set_wafer_id(m: ProberModel, a: _Args) -> str:
    m.wafer_id = " ".join(a.tokens) or "0"
    return ""


def _get_wafer_id(m: ProberModel, a: _Args) -> str:
    return f'"{m.wafer_id}"' if " " in m.wafer_id else m.wafer_id


def _move_chuck_lift(m: ProberModel, a: _Args) -> str:
    m.move_lift(a.flag(0))
    return ""


def _move_chuck_load(m: ProberModel, a: _Args) -> str:
    a.text(0)  # LoadPosition: one load position on the twin
    m.move_load()
    return ""


def _init_chuck(m: ProberModel, a: _Args) -> str:
    flags = a.integer(0)
    a.integer(1)
    a.integer(2)
    m.init_chuck(flags)
    return ""


def _refused(m: ProberModel, a: _Args) -> str:
    raise ProberError(E_NOT_SUPPORTED)


HANDLERS: dict[str, Callable[[ProberModel, _Args], str]] = {
    "ReportSoftwareVersion": lambda m, a: SOFTWARE_VERSION,
    "ReportKernelVersion": lambda m, a: SOFTWARE_VERSION,
    "EchoData": lambda m, a: " ".join(a.tokens) or "Test",
    "IsAppRegistered": _is_app_registered,
    "ReadProberStatus": lambda m, a: _fmt(*m.prober_status()),
    "SetExternalMode": _set_external_mode,
    "EnableMotorQuiet": _enable_motor_quiet,
    "ReadScopeStatus": lambda m, a: _fmt(7, 0, 0, "T", 0, "F", 1, 0, int(m.quiet)),
    "GetWaferID": _get_wafer_id,
    "SetWaferID": _set_wafer_id,
    "ReadChuckStatus": _read_chuck_status,
    "ReadChuckPosition": _read_chuck_position,
    "ReadChuckHeights": _read_chuck_heights,
    "SetChuckHeight": _set_chuck_height,
    "SetChuckMode": _set_chuck_mode,
    "MoveChuckContact": _z_move(ProberModel.move_contact),
    "MoveChuckAlign": _z_move(ProberModel.move_align),
    "MoveChuckSeparation": _z_move(ProberModel.move_separation),
    "MoveChuckZ": _move_chuck_z,
    "MoveChuck": _move_chuck,
    "MoveChuckIndex": _move_chuck_index,
    "MoveChuckSubsite": _move_chuck_subsite,
    "MoveChuckLoad": _move_chuck_load,
    "MoveChuckLift": _move_chuck_lift,
    "InitChuck": _init_chuck,
    "ReadChuckIndex": _read_chuck_index,
    "SetChuckIndex": _set_chuck_index,
    "SetChuckVacuum": lambda m, a: m.set_vacuum(a.flag(0)) or "",
    "ReadChuckThermoValue": _read_chuck_thermo_value,
    "StepFirstDie": lambda m, a: _step(m.step_first_die(clear_bins=a.flag(0))),
    "StepNextDie": _step_next_die,
    "StepToDie": lambda m, a: _step(m.step_to_die(a.integer(0), a.integer(1))),
    "StepNextSubDie": _step_next_subdie,
    "BinStepDie": _bin_step_die,
    "BinMapDie": _bin_map_die,
    "ReadMapPosition2": _read_map_position2,
    "ReadMapYield": lambda m, a: _fmt(*m.map_yield()),
    "SetMapHome": _set_map_home,
    "GetWaferMapParams2": lambda m, a: _fmt(*m.wafer_map_params()),
    "SetWaferMapParams2": _set_wafer_map_params2,
    "GetWaferMapParams": _get_wafer_map_params,
    "GetMapDims": lambda m, a: _fmt(*m.map_dims()),
    "GetNumSelectedDies": lambda m, a: str(len(m.route)),
    "GetDieDataAsNum": _get_die_data_as_num,
    "GetSubDieData": _get_subdie_data,
    "GetSubDieStatus": _get_subdie_status,
    "GetMapOrientation": _get_map_orientation,
    "SetHeaterTemp": _set_heater_temp,
    "HeatChuck": _heat_chuck,
    "GetHeaterTemp": _get_heater_temp,
    "GetTargetTemp": _get_target_temp,
    "SetHeaterSoak": _set_heater_soak,
    "StopHeatChuck": lambda m, a: m.stop_heat_chuck() or "",
    "EnableHeaterHoldMode": lambda m, a: _fmt(m.enable_hold_mode(a.flag(0))),
    "EnableHeaterStandby": lambda m, a: _fmt(m.enable_standby(a.flag(0))),
    "GetDewPointTemp": _get_dew_point,
    "ReadTemperatureChuckStatus": _read_temperature_chuck_status,
}
# every command the table marks "refused" answers its error; "not modelled" ones answer 509
for _spec in vc.COMMANDS:
    if _spec.support == "refused":
        HANDLERS[_spec.name] = _refused
_LOOKUP = {name.lower(): fn for name, fn in HANDLERS.items()}
_SILENT = {"*cls", "*rst", "*wai"}


def execute(model: ProberModel, name: str, args: list[str]) -> tuple[int, str]:
    """Run one Velox command on ``model``; returns (code, values or error message)."""
    fn = _LOOKUP.get(name.lower())
    if fn is None:
        return E_UNKNOWN_COMMAND, f"{ERROR_MESSAGES[E_UNKNOWN_COMMAND]} {name}"
    try:
        return E_OK, fn(model, _Args(args, vc.spec(name)))
    except ProberError as exc:
        return exc.code, str(exc)


def handle_line(model: ProberModel, line: str) -> str | None:
    """Reply to one plain-transport line; None = no reply."""
    text = line.strip()
    if not text:
        return None
    name, *args = text.split()
    lname = name.lower()
    if lname == "*idn?":
        return IDN
    if lname == "*opc?":
        return "1"
    if lname == "*stb?":
        return "0"
    if lname in _SILENT:
        return None
    code, values = execute(model, name, args)
    return f"{code}: {values}" if values else f"{code}:"


class MessageSession:
    """One message-server client connection: registration state and framing."""

    def __init__(self, model_call: Callable[[Callable[[ProberModel], str]], str]) -> None:
        self._call = model_call
        self.app: str | None = None

    def handle(self, line: str) -> str | None:
        text = line.strip()
        if not text:
            return None
        kind, _, body = text.partition("=")
        msg_id, _, rest = body.partition(":")
        name, _, arg_text = rest.partition(":")
        name = name.strip()
        if kind.upper() == "FCN":
            return self._function(msg_id, name, arg_text)
        if kind.upper() != "CMD" or not msg_id.strip().isdigit() or not name:
            return vc.frame_response(0, E_UNKNOWN_COMMAND, f"MalformedMessage {text[:40]}")
        if self.app is None:
            return vc.frame_response(msg_id, vc.E_NOT_REGISTERED,
                                     ERROR_MESSAGES[vc.E_NOT_REGISTERED])
        tokens = arg_text.split()

        def run(model: ProberModel) -> str:
            code, values = execute(model, name, tokens)
            return vc.frame_response(msg_id, code, values)

        return self._call(run)

    def _function(self, msg_id: str, name: str, arg_text: str) -> str:
        lname = name.lower()
        if lname == "registerproberapp":
            self.app = (arg_text.split() or ["PythonApp"])[0]
            return vc.frame_response(msg_id, E_OK)
        if lname == "unregisterproberapp":
            self.app = None
            return vc.frame_response(msg_id, E_OK)
        if lname == "getcommands":
            listing = ";".join(f"{c.group} {c.name} {i} {c.timeout_ms}"
                               for i, c in enumerate(vc.COMMANDS, start=1)
                               if c.name in HANDLERS)
            return vc.frame_response(msg_id, E_OK, listing)
        return vc.frame_response(msg_id, E_UNKNOWN_COMMAND, f"UnknownFunction {name}")


def _settle_dc(lab: object) -> None:
    settle = getattr(lab, "settle_dc", None)
    if callable(settle):
        settle()


def make_server(lab: _Lab, host: str = "127.0.0.1", port: int = 0) -> LineServer:
    """A :class:`LineServer` speaking plain Velox lines to ``lab.prober`` under ``lab.lock``."""

    def factory() -> Callable[[str], str | None]:
        def handler(line: str) -> str | None:
            with lab.lock:
                _settle_dc(lab)  # the B1500's DC levels act up to a contact or XY change
                return handle_line(lab.prober, line)
        return handler

    return LineServer("prober", factory, host=host, port=port, terminator="\n")


def make_message_server(lab: _Lab, host: str = "127.0.0.1", port: int = 0) -> LineServer:
    """A :class:`LineServer` speaking FormFactor's message-server protocol (registration,
    ``Cmd=``/``Rsp=`` framing with ids) to ``lab.prober`` under ``lab.lock``."""

    def call(run: Callable[[ProberModel], str]) -> str:
        with lab.lock:
            _settle_dc(lab)
            return run(lab.prober)

    def factory() -> Callable[[str], str | None]:
        return MessageSession(call).handle

    return LineServer("prober-message-server", factory, host=host, port=port, terminator="\n")
