"""Simulated FormFactor Velox remote-command server (the prober of the simulated lab).

Wire format (one command per line, ``\\n`` terminated; a trailing ``\\r`` is ignored)::

    MoveChuckContact 100          ->  0:
    ReadChuckPosition Y H         ->  0: 1250.00 -300.00 9700.00
    StepNextDie                   ->  703: EndOfWafer
    Bogus                         ->  509: UnknownCommand Bogus
    *IDN?                         ->  FormFactor,Velox (simulated),MemProbe-SIM,3.2.0.0

Replies are ``<code>: <values>`` (``0:`` alone when there are no values), errors
``<code>: <message>``; the codes are the table in :mod:`instruments.sim.prober`. ``*IDN?``
replies without a code and contains no ``:`` (pymeasure's Velox driver treats any reply with a
colon as coded). ``*CLS``, ``*RST`` and ``*WAI`` are accepted without a reply, as on SCPI devices.

The Velox message-server form is accepted on the same port: ``Cmd=<id>:<Name>:<args>`` (or
``Cmd=<id>:<Name> <args>``) -> ``Rsp=<id>:<code>:<values or message>``.

Arguments follow the Velox order and defaults: units ``Y`` microns (or ``Microns``), ``I`` mils,
``X`` index steps (MoveChuck only); position references ``H``/``Z``/``C``/``D``/``R`` (or the
words); temperature units ``C``, ``F``, ``K``; velocities 0.1..100 % are checked and otherwise
ignored (moves are instantaneous). Commands are matched case-insensitively.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol

from instruments.sim.line_server import LineServer
from instruments.sim.prober import (
    E_BAD_ARGUMENT,
    E_OK,
    E_UNKNOWN_COMMAND,
    ERROR_MESSAGES,
    ProberError,
    ProberModel,
    StepResult,
)

IDN = "FormFactor,Velox (simulated),MemProbe-SIM,3.2.0.0"
SOFTWARE_VERSION = "3.2.0.0 Velox-Simulator"

_UNITS = {"Y": "Y", "MICRONS": "Y", "MICRON": "Y", "I": "I", "MILS": "I", "X": "X",
          "INDEX": "X"}
_UM_PER_UNIT = {"Y": 1.0, "I": 25.4}
_REFS = {"H": "H", "HOME": "H", "Z": "Z", "ZERO": "Z", "C": "C", "CENTER": "C", "R": "R",
         "RELATIVE": "R", "D": "D", "DIEHOME": "D"}
_TEMP_UNITS = ("C", "F", "K")


class _Lab(Protocol):
    lock: AbstractContextManager[Any]
    prober: ProberModel


class _Args:
    """Positional arguments of one command with typed, defaulted access."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens

    def __len__(self) -> int:
        return len(self.tokens)

    def text(self, i: int, default: str | None = None) -> str:
        if i < len(self.tokens):
            return self.tokens[i]
        if default is None:
            raise ProberError(E_BAD_ARGUMENT, f"missing argument {i + 1}")
        return default

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

    def unit(self, i: int, allow_index: bool = False) -> str:
        raw = self.text(i, "Y").upper()
        unit = _UNITS.get(raw)
        if unit is None or (unit == "X" and not allow_index):
            raise ProberError(E_BAD_ARGUMENT, f"unit {raw!r}")
        return unit

    def ref(self, i: int, default: str = "H") -> str:
        raw = self.text(i, default).upper()
        if raw not in _REFS:
            raise ProberError(E_BAD_ARGUMENT, f"position reference {raw!r}")
        return _REFS[raw]

    def velocity(self, i: int) -> float:
        value = self.number(i, 100.0)
        if not 0.1 <= value <= 100:
            raise ProberError(E_BAD_ARGUMENT, f"velocity {value:g} %")
        return value

    def temp_unit(self, i: int) -> str:
        raw = self.text(i, "C").upper()[:1]
        if raw not in _TEMP_UNITS:
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


def _to_c(value: float, unit: str) -> float:
    if unit == "F":
        return (value - 32.0) * 5.0 / 9.0
    if unit == "K":
        return value - 273.15
    return value


def _from_c(celsius: float, unit: str) -> float:
    if unit == "F":
        return celsius * 9.0 / 5.0 + 32.0
    if unit == "K":
        return celsius + 273.15
    return celsius


def _step(result: StepResult) -> str:
    return _fmt(result.col, result.row, result.site, result.last_site_index)


def _die_args(a: _Args, start: int) -> tuple[tuple[int, int] | None, int]:
    if len(a) <= start:
        return None, 0
    die = (a.integer(start), a.integer(start + 1))
    return die, a.integer(start + 2, 0)


# -- command handlers: (model, args) -> reply values ---------------------------------------------
def _read_chuck_position(m: ProberModel, a: _Args) -> str:
    unit = a.unit(0)
    x, y, z = m.position_um(a.ref(1))
    k = _UM_PER_UNIT[unit]
    return _fmt(x / k, y / k, z / k)


def _read_chuck_heights(m: ProberModel, a: _Args) -> str:
    k = _UM_PER_UNIT[a.unit(0)]
    contact, *gaps = m.heights()
    return _fmt(contact if contact < 0 else contact / k, *(g / k for g in gaps))


def _set_chuck_height(m: ProberModel, a: _Args) -> str:
    k = _UM_PER_UNIT[a.unit(2)]
    m.set_chuck_height(a.text(0, "C"), a.text(1, "0"), a.number(3, 0.0) * k)
    return ""


def _set_chuck_mode(m: ProberModel, a: _Args) -> str:
    flags = [a.integer(i, 2) for i in range(6)]
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
    k = _UM_PER_UNIT[a.unit(2)]
    a.velocity(3)
    m.move_z(a.number(0) * k, relative=ref == "R")
    return ""


def _move_chuck(m: ProberModel, a: _Args) -> str:
    x, y, ref, unit = a.number(0), a.number(1), a.ref(2), a.unit(3, allow_index=True)
    a.velocity(4)
    if unit == "X":
        x, y = x * m.index_um[0], y * m.index_um[1]
    else:
        x, y = x * _UM_PER_UNIT[unit], y * _UM_PER_UNIT[unit]
    m.move_chuck(x, y, ref)
    return ""


def _move_chuck_index(m: ProberModel, a: _Args) -> str:
    xs, ys, ref = a.integer(0), a.integer(1), a.ref(2)
    a.velocity(3)
    m.move_chuck_index(xs, ys, ref)
    return ""


def _move_chuck_subsite(m: ProberModel, a: _Args) -> str:
    k = _UM_PER_UNIT[a.unit(2)]
    a.velocity(3)
    m.move_chuck_subsite(a.number(0) * k, a.number(1) * k)
    return ""


def _read_chuck_index(m: ProberModel, a: _Args) -> str:
    k = _UM_PER_UNIT[a.unit(0)]
    return _fmt(m.index_um[0] / k, m.index_um[1] / k)


def _set_chuck_index(m: ProberModel, a: _Args) -> str:
    k = _UM_PER_UNIT[a.unit(2)]
    x, y = a.number(0) * k, a.number(1) * k
    if x <= 0 or y <= 0:
        raise ProberError(E_BAD_ARGUMENT, "index must be positive")
    m.index_um = (x, y)
    return ""


def _set_chuck_vacuum(m: ProberModel, a: _Args) -> str:
    value = a.integer(0)
    if value not in (0, 1):
        raise ProberError(E_BAD_ARGUMENT, f"vacuum {value}")
    m.set_vacuum(bool(value))
    return ""


def _step_first_die(m: ProberModel, a: _Args) -> str:
    return _step(m.step_first_die(clear_bins=bool(a.integer(0, 1))))


def _step_next_die(m: ProberModel, a: _Args) -> str:
    die, site = _die_args(a, 0)
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
    p = m.map_position()
    return _fmt(p.col, p.row, p.x_from_home_um, p.y_from_home_um, p.site, p.last_site_index,
                p.die_number, p.dies_count)


def _set_map_home(m: ProberModel, a: _Args) -> str:
    die = (a.integer(0), a.integer(1)) if len(a) else None
    m.set_map_home(die)
    return ""


def _set_wafer_map_params2(m: ProberModel, a: _Args) -> str:
    m.set_wafer_map_params(*(a.number(i) for i in range(8)))
    return ""


def _set_heater_temp(m: ProberModel, a: _Args) -> str:
    unit = a.temp_unit(1)
    a.integer(2, 0)  # UseContactSafety: accepted, not modelled
    set_point = m.set_heater_temp(_to_c(a.number(0), unit))
    return _fmt(_from_c(set_point, unit), unit)


def _heat_chuck(m: ProberModel, a: _Args) -> str:
    unit = a.temp_unit(1)
    a.integer(2, 0)  # ReduceContact: accepted, not modelled
    reached = m.heat_chuck(_to_c(a.number(0), unit))
    return _fmt(_from_c(reached, unit), unit)


def _get_heater_temp(m: ProberModel, a: _Args) -> str:
    unit = a.temp_unit(0)
    temp, status = m.heater_status()
    return _fmt(_from_c(temp, unit), unit, status)


def _set_external_mode(m: ProberModel, a: _Args) -> str:
    m.set_external_mode(a.text(0))
    return ""


def _is_app_registered(m: ProberModel, a: _Args) -> str:
    return "1" if a.text(0, "").lower() in ("wafermap", "") else "0"


COMMANDS: dict[str, Callable[[ProberModel, _Args], str]] = {
    "ReportSoftwareVersion": lambda m, a: SOFTWARE_VERSION,
    "ReportKernelVersion": lambda m, a: SOFTWARE_VERSION,
    "IsAppRegistered": _is_app_registered,
    "ReadProberStatus": lambda m, a: _fmt(*m.prober_status()),
    "SetExternalMode": _set_external_mode,
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
    "ReadChuckIndex": _read_chuck_index,
    "SetChuckIndex": _set_chuck_index,
    "SetChuckVacuum": _set_chuck_vacuum,
    "StepFirstDie": _step_first_die,
    "StepNextDie": _step_next_die,
    "StepNextSubDie": _step_next_subdie,
    "BinStepDie": _bin_step_die,
    "BinMapDie": _bin_map_die,
    "ReadMapPosition2": _read_map_position2,
    "ReadMapYield": lambda m, a: _fmt(*m.map_yield()),
    "SetMapHome": _set_map_home,
    "GetWaferMapParams2": lambda m, a: _fmt(*m.wafer_map_params()),
    "SetWaferMapParams2": _set_wafer_map_params2,
    "SetHeaterTemp": _set_heater_temp,
    "HeatChuck": _heat_chuck,
    "GetHeaterTemp": _get_heater_temp,
}
_LOOKUP = {name.lower(): fn for name, fn in COMMANDS.items()}
_SILENT = {"*cls", "*rst", "*wai"}


def execute(model: ProberModel, name: str, args: list[str]) -> tuple[int, str]:
    """Run one Velox command on ``model``; returns (code, values or error message)."""
    fn = _LOOKUP.get(name.lower())
    if fn is None:
        return E_UNKNOWN_COMMAND, f"{ERROR_MESSAGES[E_UNKNOWN_COMMAND]} {name}"
    try:
        return E_OK, fn(model, _Args(args))
    except ProberError as exc:
        return exc.code, str(exc)


def handle_line(model: ProberModel, line: str) -> str | None:
    """Reply to one received line (plain or message-server form); None = no reply."""
    text = line.strip()
    if not text:
        return None
    if text[:4].lower() == "cmd=":
        msg_id, _, rest = text[4:].partition(":")
        if ":" in rest:
            name, _, arg_text = rest.partition(":")
        else:
            name, _, arg_text = rest.partition(" ")
        name = name.strip()
        if name.upper() == "*IDN?":
            return f"Rsp={msg_id}:0:{IDN}"
        code, values = execute(model, name, arg_text.split())
        return f"Rsp={msg_id}:{code}:{values}"
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


def make_server(lab: _Lab, host: str = "127.0.0.1", port: int = 0) -> LineServer:
    """A :class:`LineServer` speaking Velox remote commands to ``lab.prober`` under ``lab.lock``."""

    def factory() -> Callable[[str], str | None]:
        def handler(line: str) -> str | None:
            with lab.lock:
                return handle_line(lab.prober, line)
        return handler

    return LineServer("prober", factory, host=host, port=port, terminator="\n")
