"""Driver for FormFactor/Cascade probe stations controlled by Velox (remote commands).

(Longer than ~500 lines on purpose: one driver class, one method per Velox remote command used;
the command vocabulary itself is :mod:`instruments.cascade.velox_commands`.)

:class:`VeloxProber` extends pymeasure's :class:`pymeasure.instruments.formfactor.Velox` with the
commands a wafer run needs (chuck status and heights, map position, binning, die/site stepping,
heater, external mode, wafer-map parameters), two transports, and operator safety rules enforced
*before* anything is sent.

Interlocks (nobody can bypass them through the driver)
------------------------------------------------------
Every command goes out through :meth:`VeloxProber.write`, which looks its name up in the
vocabulary (:mod:`instruments.cascade.velox_commands`) first. So the driver's own methods,
pymeasure's inherited ones (``prober.chuck.move(...)``, ``prober.wafermap.step_next_die()``,
``step_to_die()``, ``step_first_die()``) and raw ``prober.ask("StepNextDie")`` all pass the same
checks:

* a command that moves the chuck in X/Y (MoveChuck, MoveChuckIndex, MoveChuckSubsite, the steps,
  MoveChuckLoad, InitChuck, ...) reads the real chuck state (ReadChuckStatus, and the heights
  and Z when the preset height is none of C/O/A/S) and is refused with
  :class:`ProberSafetyError` unless the chuck is separated; with ``auto_separate=True`` the driver
  separates first (MoveChuckSeparation) and reads the state again;
* MoveChuckContact is refused when no contact height is taught;
* SetHeaterTemp/HeatChuck are checked against the bench :class:`SafetyLimits` and only sent while
  separated (as X/Y moves; ``auto_separate`` separates first); the driver also sends
  ``UseContactSafety``/``ReduceContact`` = 1 so the station separates on its side too.

Only writing to ``prober.adapter`` directly bypasses the driver.

Transports
----------
``transport="plain"`` (GPIB, raw sockets): lines ``Name args`` -> ``<code>: <values>``.
``transport="message-server"`` (FormFactor's message server, TCP port 1412): the driver registers
first (``FCN=1:RegisterProberApp:<app> <app> 0``), then frames every command
``Cmd=<id>:<Name>:<args>`` and reads ``Rsp=<id>:<code>:<values>``, checking the id (stale replies
and notifications are skipped). The bench file chooses (``[prober] transport``).

Replies: code 0 is success, 703 is "end of route" (normal completion of a wafer, reported as
``StepResult.end_of_route``), anything else raises :class:`VeloxError`.

Notes on pymeasure 0.16's ``Velox`` (kept as is, worked around here):

* ``read()`` raises ``ConnectionError`` for any non-zero reply code although the link is fine; we
  raise :class:`VeloxError` (a ``ConnectionError`` subclass, so old handlers still work) with the
  code attached.
* It defines no terminations; on a raw socket pyvisa then waits for more data after each reply
  (up to 2 s). We default both terminations to ``\\n``.
* ``WaferMap.step_to_die`` drops a site index of 0 (``if s_pos:``) and discards the reply;
  ``step_next_die`` at the end of the route returns the message words instead of coordinates.
* Its docstrings call the fourth StepFirstDie/StepNextDie value the "total number of subdies";
  the Velox command reference names it LastSiteIndex.
* It interlocks nothing: its ``chuck`` and ``wafermap`` channels send moves in contact.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from pymeasure.instruments import Instrument
from pymeasure.instruments.formfactor import Velox
from pymeasure.instruments.formfactor.velox import Chuck, WaferMap
from pymeasure.instruments.validators import strict_discrete_set, strict_range

from instruments.cascade import velox_commands as vc
from instruments.cascade.velox_replies import ChuckStatus, MapPosition
from instruments.exchange import SerialChannel, SerialExchange
from instruments.limits import SafetyLimits

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())

END_OF_ROUTE = vc.E_END_OF_ROUTE
VELOCITY_RANGE = vc.VELOCITY_RANGE
POSITION_REFERENCES = {"home": "H", "zero": "Z", "center": "C", "diehome": "D", "relative": "R"}
PRESET_HEIGHTS = {"contact": "C", "overtravel": "O", "align": "A", "separation": "S"}


class VeloxError(ConnectionError):
    """The prober answered a command with a non-zero code (other than 703 end of route)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class VeloxReplyMismatch(VeloxError):
    """A reply that cannot answer the command sent (a coded reply to ``*IDN?`` or an uncoded
    one to a Velox command): the connection was out of step; no value is made of it."""

    def __init__(self, command: str, reply: str) -> None:
        super().__init__(-1, f"reply {reply.strip()!r} does not answer {command!r}")
        self.command = command
        self.reply = reply


class ProberSafetyError(RuntimeError):
    """A prober action was refused by the driver's safety rules; nothing was sent."""


@dataclass(frozen=True)
class ChuckHeights:
    """ReadChuckHeights in um: contact from zero (None = not taught) and the gaps."""

    contact_um: float | None
    overtravel_um: float
    align_dist_um: float
    sep_dist_um: float
    search_gap_um: float

    @property
    def contact_set(self) -> bool:
        """A contact height is taught."""
        return self.contact_um is not None


@dataclass(frozen=True)
class StepResult:
    """Reply of a step: die (col, row), site and last site index; ``end_of_route`` on 703."""

    col: int | None
    row: int | None
    site: int | None
    last_site_index: int | None
    end_of_route: bool = False

    @property
    def die(self) -> tuple[int, int] | None:
        """(col, row), None at the end of the route."""
        if self.col is None or self.row is None:
            return None
        return self.col, self.row


@dataclass(frozen=True)
class MapYield:
    """ReadMapYield counters."""

    total: int
    tested: int
    passed: int
    failed: int


@dataclass(frozen=True)
class HeaterState:
    """GetHeaterTemp: temperature in ``unit`` and the station's status word."""

    temperature: float
    unit: str
    status: str


@dataclass(frozen=True)
class ProberStatus:
    """ReadProberStatus."""

    busy: int
    contact: int
    mode: str
    quiet: bool


@dataclass(frozen=True)
class WaferMapParams:
    """GetWaferMapParams2 / SetWaferMapParams2 (units as named; flat angle 0 bottom, 90 left,
    180 top, 270 right)."""

    diameter_mm: float
    die_width_um: float
    die_height_um: float
    flat_length_mm: float
    flat_angle_deg: int
    x_offset_um: float
    y_offset_um: float
    edge_area_um: float


class SafeChuck(SerialChannel, Chuck):
    """pymeasure's chuck channel; its moves pass the driver's interlock (in ``write``), its
    queries are atomic exchanges, and ``move_contact`` refuses when no contact height is
    taught."""

    def move_contact(self, velocity: float = 100) -> None:
        """As pymeasure's ``Chuck.move_contact``, refused when no contact height is taught."""
        self.parent.contact(velocity)


class SerialWaferMap(SerialChannel, WaferMap):
    """pymeasure's wafer-map channel, its queries atomic exchanges of the prober."""


class VeloxProber(SerialExchange, Velox):
    """A Velox-controlled probe station with the safety interlocks of this bench.

    Args:
        adapter: VISA resource (``TCPIP::host::port::SOCKET``, ``GPIB0::28::INSTR``) or adapter.
        name: instrument name.
        limits: bench safety limits (chuck temperature range); defaults to ``SafetyLimits()``.
        transport: ``"plain"`` lines or FormFactor's ``"message-server"`` framing.
        app_name: the name the driver registers with on the message server.
        auto_separate: separate first (instead of refusing) before an X/Y move or a
            temperature change while not separated.
        **kwargs: passed to pymeasure (``timeout`` in ms, terminations, ...).

    The inherited ``chuck`` and ``wafermap`` channels keep pymeasure's API; their commands go
    through :meth:`write`, so they get the same interlock.

    Each command and its reply is one exchange, never interleaved with another thread's
    (:class:`~instruments.exchange.SerialExchange`). On the plain transport a read that timed
    out leaves the connection out of step: the next exchange first sends ``*IDN?`` (its reply,
    unlike any Velox command's, has no code) and drops the lines before its reply. The message
    server's replies carry the command's id instead (stale ones skipped). A reply whose form
    cannot answer the command sent raises :class:`VeloxReplyMismatch`.
    """

    chuck = Instrument.ChannelCreator(SafeChuck)
    wafermap = Instrument.ChannelCreator(SerialWaferMap)
    resync_query = "*IDN?"
    #: ``*IDN?``'s reply: no leading code (as every IEEE 488.2 common query's) and commas
    resync_reply = r"^\s*(?![-+]?\d+\s*:)[^,]*,"

    def __init__(
        self,
        adapter: object,
        name: str = "FormFactor Velox prober",
        limits: SafetyLimits | None = None,
        transport: str = "plain",
        app_name: str = "MemProbe",
        auto_separate: bool = False,
        **kwargs: object,
    ) -> None:
        if transport not in vc.TRANSPORTS:
            raise ValueError(f"prober transport {transport!r}: use one of {vc.TRANSPORTS}")
        kwargs.setdefault("read_termination", "\n")
        kwargs.setdefault("write_termination", "\n")
        self.transport = transport
        self.auto_separate = auto_separate
        self._msg_id = 1
        self._sent = ""  # the name of the last command sent (to check its reply's form)
        if transport == "message-server":
            self.resync_query = None  # replies carry ids: stale ones are skipped by id
        super().__init__(adapter, name=name, **kwargs)
        self.limits = limits or SafetyLimits()
        if transport == "message-server":
            self._register(app_name)

    # -- transport ------------------------------------------------------------------------------
    def _register(self, app_name: str) -> None:
        """Register with the message server; its one-line answer is read and logged."""
        self.adapter.write(vc.registration_message(app_name))
        try:
            with self._io_timeout(2.0, at_most=True):
                answer = self.adapter.read()
        except Exception as exc:  # noqa: BLE001 - a server that does not answer is logged only
            log.warning("%s: no answer to the registration (%s)", self.name, exc)
            return
        log.info("%s: registered as %s: %s", self.name, app_name, answer.strip())

    def write(self, command: str, **kwargs: object) -> None:
        """Send ``command`` after the interlock checks (see the module docstring), framed for
        the transport. The checks and the command are one exchange (no other thread's command
        comes between them)."""
        with self.exchange():
            self._guard(command)
            name, _, args = command.strip().partition(" ")
            self._sent = name
            if self.transport == "message-server":
                self._msg_id = vc.next_message_id(self._msg_id)
                command = vc.frame_command(self._msg_id, name, args.strip())
            super().write(command, **kwargs)

    def _read_reply(self) -> str:
        got = super(Velox, self).read()  # the adapter's read, without Velox.read's parsing
        if self.transport != "message-server":
            return got
        for _ in range(64):  # skip notifications and replies to timed-out commands
            try:
                msg_id, code, values = vc.parse_response(got)
            except ValueError:
                log.info("%s: skipped %r", self.name, got.strip())
            else:
                if msg_id == self._msg_id:
                    return f"{code}: {values}" if values else f"{code}:"
                log.info("%s: skipped stale reply %r", self.name, got.strip())
            got = super(Velox, self).read()
        raise VeloxError(-1, f"no reply with id {self._msg_id} from the message server")

    @property
    def id(self) -> str:  # noqa: A003 - pymeasure's name
        """Identification: ``*IDN?`` on the plain transport; on the message server (which has
        no ``*IDN?``) ``FormFactor,Velox,<software version>``."""
        if self.transport == "message-server":
            return f"FormFactor,Velox,{self.ask('ReportSoftwareVersion')}"
        return self.ask("*IDN?")

    # -- replies ----------------------------------------------------------------------------
    def read(self) -> str:
        """Read a reply; return its values, raise VeloxError on a non-zero code (except 703).

        Replies of IEEE 488.2 common queries (``*IDN?``, ``*OPC?``), without a leading integer
        code, are returned whole. A reply whose form does not fit the command sent (a code or
        none) raises :class:`VeloxReplyMismatch`.
        """
        with self.exchange():
            self.error_code = 0
            self.error_message = ""
            self.wafermap.end_reached = False
            got = self._read_reply()
        head, sep, rest = got.partition(":")
        coded = bool(sep) and head.strip().lstrip("-").isdigit()
        if coded == self._sent.startswith("*"):  # IEEE 488.2 common queries: no code
            self.mark_out_of_step()  # a reply is missing or extra: resync before the next one
            raise VeloxReplyMismatch(self._sent, got)
        if not coded:
            return got.strip()
        code = int(head)
        response = rest.strip()
        if code:
            self.error_code = code
            self.error_message = response
            if code == END_OF_ROUTE:
                self.wafermap.end_reached = True
                log.info("%s: %d %s", self.name, code, response)
            else:
                raise VeloxError(code, response)
        return response

    def _fields(self, command: str) -> list[str]:
        return self.ask(command).split()

    # -- status -----------------------------------------------------------------------------
    def chuck_status(self) -> ChuckStatus:
        """Read the chuck status (ReadChuckStatus)."""
        f = self._fields("ReadChuckStatus")
        if len(f) < 7:
            raise VeloxError(-1, f"short ReadChuckStatus reply: {' '.join(f)!r}")
        extra = f[7:] + [""] * 4
        return ChuckStatus(
            flags_init=int(f[0]), flags_mode=int(f[1]), flags_limit=int(f[2]),
            flags_moving=int(f[3]), comp=f[4], vacuum_on=f[5] == "1", preset_height=f[6],
            load_pos=extra[0], lift_down=extra[1] == "1", camera_connection=extra[2],
            quiet=extra[3] == "1",
        )

    def chuck_heights(self) -> ChuckHeights:
        """Read the taught heights in um (ReadChuckHeights Y)."""
        v = [float(x) for x in self._fields("ReadChuckHeights Y")[:5]]
        contact = None if v[0] < 0 else v[0]
        return ChuckHeights(contact, v[1], v[2], v[3], v[4])

    def chuck_position(self, reference: str = "home") -> tuple[float, float, float]:
        """Chuck (x, y, z) in um; x, y relative to ``reference`` (home, zero, center, diehome)."""
        ref = strict_discrete_set(reference.lower(), ("home", "zero", "center", "diehome"))
        f = self._fields(f"ReadChuckPosition Y {POSITION_REFERENCES[ref]}")
        return float(f[0]), float(f[1]), float(f[2])

    def prober_status(self) -> ProberStatus:
        """Read the station status (ReadProberStatus)."""
        f = self._fields("ReadProberStatus")
        return ProberStatus(int(f[0]), int(f[1]), f[2], f[3] == "1")

    def set_external_mode(self, remote: bool) -> None:
        """Lock the station UI for remote control (True, ``R``) or give it back (False, ``L``)."""
        self.ask(f"SetExternalMode {'R' if remote else 'L'}")

    # -- Z ----------------------------------------------------------------------------------
    def _velocity(self, velocity: float) -> float:
        return strict_range(velocity, VELOCITY_RANGE)

    def contact(self, velocity: float = 100) -> None:
        """Move to contact height; refused (ProberSafetyError) when no contact height is taught
        (checked in :meth:`write`)."""
        self.ask(f"MoveChuckContact {self._velocity(velocity)}")

    def separate(self, velocity: float = 100) -> None:
        """Move to separation height."""
        self.ask(f"MoveChuckSeparation {self._velocity(velocity)}")

    def align(self, velocity: float = 100) -> None:
        """Move to align height."""
        self.ask(f"MoveChuckAlign {self._velocity(velocity)}")

    def set_chuck_height(self, preset: str, value_um: float | None = None) -> None:
        """Teach a height: ``contact`` at the current Z (``value_um`` None) or at ``value_um``
        from zero; ``overtravel``/``align``/``separation`` gaps in um."""
        letter = PRESET_HEIGHTS[strict_discrete_set(preset.lower(), tuple(PRESET_HEIGHTS))]
        if value_um is None:
            if letter != "C":
                raise ValueError("only the contact height can be taught at the current Z")
            self.ask("SetChuckHeight C 0")
        else:
            self.ask(f"SetChuckHeight {letter} V Y {value_um:g}")

    def safe_state(self) -> None:
        """Separate (when a contact height is taught; otherwise there is no known safe height)."""
        if self.chuck_heights().contact_set:
            self.separate()
        else:
            log.warning("%s: no contact height taught; cannot move to separation", self.name)

    # -- the interlock (every command passes here, see write) ---------------------------------
    def _guard(self, command: str) -> None:
        """Check ``command`` against the interlocks before it is sent; raise
        ProberSafetyError (nothing sent) when it must not go out now."""
        words = command.split()
        if not words:
            return
        name = words[0].lower()
        if name in vc.XY_MOTION:
            self._require_separated(f"{words[0]} (moves the chuck in X/Y)")
        elif name in vc.HEATER_SET:
            self._check_temperature(words, command)
        elif name == "movechuckcontact" and not self.chuck_heights().contact_set:
            raise ProberSafetyError("no contact height is taught on the prober; refusing contact")

    def _is_separated(self) -> tuple[bool, str]:
        status = self.chuck_status()
        if status.separated:
            return True, "S"
        if status.preset_height in ("C", "O", "A"):
            return False, status.preset_height
        heights = self.chuck_heights()  # between presets: compare Z with the taught heights
        if heights.contact_um is None:
            return False, "no contact height taught"
        z = self.chuck_position("zero")[2]
        return z <= heights.contact_um - heights.sep_dist_um + 0.5, f"Z {z:g} um"

    def _require_separated(self, action: str) -> None:
        separated, where = self._is_separated()
        if separated:
            return
        if self.auto_separate and where != "no contact height taught":
            log.info("%s: separating before %s", self.name, action)
            self.separate()
            separated, where = self._is_separated()
            if separated:
                return
        raise ProberSafetyError(
            f"refusing {action}: chuck is not at separation height ({where}); separate first"
        )

    def _check_temperature(self, words: list[str], command: str) -> None:
        try:
            value = float(words[1])
        except (IndexError, ValueError):
            raise ProberSafetyError(f"refusing {command!r}: no temperature") from None
        unit = words[2].upper()[:1] if len(words) > 2 else "C"
        try:
            celsius = vc.to_celsius(value, unit)
        except ValueError:
            raise ProberSafetyError(
                f"refusing {command!r}: temperature unit {words[2]!r}") from None
        self.limits.check_temperature(celsius)
        self._require_separated("a chuck temperature change")

    # -- X/Y --------------------------------------------------------------------------------
    def move_chuck_xy(
        self, x_um: float, y_um: float, reference: str = "home", velocity: float = 100
    ) -> None:
        """Move the chuck to (x, y) um from ``reference`` (home, zero, center, diehome, relative).

        Reads the chuck status first and raises ProberSafetyError, sending no move, unless the
        chuck is separated.
        """
        ref = strict_discrete_set(reference.lower(), tuple(POSITION_REFERENCES))
        self._velocity(velocity)
        self.ask(f"MoveChuck {x_um:g} {y_um:g} {POSITION_REFERENCES[ref]} Y {velocity}")

    def move_chuck_subsite(self, dx_um: float, dy_um: float, velocity: float = 100) -> None:
        """Move to (dx, dy) um from the die home; separated only (as move_chuck_xy)."""
        self._velocity(velocity)
        self.ask(f"MoveChuckSubsite {dx_um:g} {dy_um:g} Y {velocity}")

    # -- wafer map --------------------------------------------------------------------------
    def _step(self, command: str) -> StepResult:
        f = self.ask(command).split()  # a step is an X/Y move: write checks the interlock
        if self.wafermap.end_reached:
            return StepResult(None, None, None, None, end_of_route=True)
        v = [int(x) for x in f[:4]]
        return StepResult(v[0], v[1], v[2], v[3])

    @staticmethod
    def _die_args(col: int | None, row: int | None, site: int | None) -> str:
        if col is None and row is None:
            if site is not None:
                raise ValueError("a site needs a die (col, row)")
            return ""
        if col is None or row is None:
            raise ValueError("give both col and row")
        text = f" {int(col)} {int(row)}"
        return text + (f" {int(site)}" if site is not None else "")

    def step_first_die(self, clear_bins: bool = True) -> StepResult:
        """Step to the first die of the route (StepFirstDie)."""
        return self._step(f"StepFirstDie {int(clear_bins)}")

    def step_next_die(
        self, col: int | None = None, row: int | None = None, site: int | None = None
    ) -> StepResult:
        """Step to the next die of the route, or to die (col, row) [site]; 703 -> end_of_route."""
        return self._step("StepNextDie" + self._die_args(col, row, site))

    def step_next_subdie(self) -> tuple[int, int]:
        """Step to the next subsite; returns (site, last site index)."""
        f = self._fields("StepNextSubDie")
        return int(f[0]), int(f[1])

    def bin_step_die(
        self, bin_code: int, col: int | None = None, row: int | None = None,
        site: int | None = None,
    ) -> StepResult:
        """Bin the current die and step to the next one (or to die (col, row) [site])."""
        return self._step(f"BinStepDie {int(bin_code)}" + self._die_args(col, row, site))

    def bin_map_die(
        self, bin_code: int, col: int | None = None, row: int | None = None
    ) -> tuple[int, int]:
        """Bin a die (default: the current one) without moving; returns its (col, row)."""
        f = self._fields(f"BinMapDie {int(bin_code)}" + self._die_args(col, row, None))
        return int(f[0]), int(f[1])

    def map_position(self) -> MapPosition:
        """Where the prober is on the map (ReadMapPosition2, all ten fields)."""
        f = self._fields("ReadMapPosition2")
        extra = [int(x) for x in f[8:10]] + [0, 0]
        return MapPosition(int(f[0]), int(f[1]), float(f[2]), float(f[3]), int(f[4]),
                           int(f[5]), int(f[6]), int(f[7]), extra[0], extra[1])

    def map_yield(self) -> MapYield:
        """Yield counters (ReadMapYield)."""
        f = [int(x) for x in self._fields("ReadMapYield")[:4]]
        return MapYield(*f)

    def set_map_home(self, col: int | None = None, row: int | None = None) -> None:
        """Make die (col, row), or the current die, the home die."""
        self.ask("SetMapHome" + self._die_args(col, row, None))

    @property
    def wafer_map_params(self) -> WaferMapParams:
        """Wafer-map geometry (GetWaferMapParams2; FlatAngle an integer)."""
        f = self._fields("GetWaferMapParams2")[:8]
        v = [float(x) for x in f]
        return WaferMapParams(v[0], v[1], v[2], v[3], int(v[4]), v[5], v[6], v[7])

    def set_wafer_map_params(self, params: WaferMapParams) -> None:
        """Set the wafer-map geometry (SetWaferMapParams2)."""
        p = params
        self.ask(
            f"SetWaferMapParams2 {p.diameter_mm:g} {p.die_width_um:g} {p.die_height_um:g} "
            f"{p.flat_length_mm:g} {int(p.flat_angle_deg)} {p.x_offset_um:g} {p.y_offset_um:g} "
            f"{p.edge_area_um:g}"
        )

    # -- heater -----------------------------------------------------------------------------
    def set_heater_temp(self, celsius: float) -> float:
        """Set the chuck set point (C) and return at once; returns the set point reported.

        Checked against ``limits`` and only while separated (nothing sent otherwise).
        """
        f = self._fields(f"SetHeaterTemp {celsius:g} C 1")
        return float(f[0])

    def heat_chuck(self, celsius: float, timeout_s: float = 7200.0) -> float:
        """Set the chuck set point (C) and wait until reached and soaked; returns the temperature.

        The reply comes only when the station is done, so the I/O timeout is raised to
        ``timeout_s`` for this command. Checked as :meth:`set_heater_temp`.
        """
        with self.exchange(), self._io_timeout(timeout_s):  # no other request meanwhile
            f = self._fields(f"HeatChuck {celsius:g} C 1")
        return float(f[0])

    def heater(self) -> HeaterState:
        """Chuck temperature (C) and heater status (GetHeaterTemp)."""
        f = self._fields("GetHeaterTemp C")
        return HeaterState(float(f[0]), f[1] if len(f) > 1 else "C", f[2] if len(f) > 2 else "")

    @contextmanager
    def _io_timeout(self, seconds: float, at_most: bool = False) -> Iterator[None]:
        """Raise (or with ``at_most`` set) the I/O timeout to ``seconds`` for a block."""
        connection = getattr(self.adapter, "connection", None)
        old = getattr(connection, "timeout", None)
        if not isinstance(old, (int, float)) or isinstance(old, bool):
            yield  # no adjustable timeout (e.g. a test adapter)
            return
        connection.timeout = seconds * 1000 if at_most else max(old, seconds * 1000)
        try:
            yield
        finally:
            connection.timeout = old
