"""Driver for the on-chip digital controller (array/cell selection, PCSA read-out).

The protocol is ours (``docs/chip-controller-protocol.md``): SCPI-like lines terminated by ``\\n``,
errors in a queue read with ``SYST:ERR?``. On the bench the controller sits on a serial port; in the
simulated lab it is a TCP socket (``TCPIP::127.0.0.1::<port>::SOCKET``).
"""

from __future__ import annotations

import logging

from pymeasure.instruments import Instrument, SCPIMixin
from pymeasure.instruments.validators import strict_discrete_set, strict_range

from instruments.chip.geometry import ARRAYS, N_COLS_1T1R, N_ROWS
from instruments.exchange import SerialExchange

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())

SIDES = ("BL", "BLB")
#: columns of the 1T1R array / pairs of the 2T2R array (equal: see instruments.chip.geometry)
N_COLS = N_COLS_1T1R
#: PCSA:READ? reply when no die is contacted (open circuit)
OPEN_REPLY = "OPEN"
ERROR_REPLY = "ERROR"
#: error code of a radiation-induced upset of the controller's registers, detected and corrected
#: (the command still ran; ``docs/chip-controller-protocol.md``): reported, not a rejection
UPSET_ERROR = 301
#: ``*OPT?`` option of a firmware with the scan mode (``docs/chip-controller-protocol.md``)
SCAN_OPTION = "SCAN"
#: s, [E] time the controller's multiplexer takes to route the next cell after a trigger edge
#: (analog switches of the array periphery, a few us each, plus the firmware's edge handling;
#: our firmware's design figure, not measured): a measurement that steps on the controller's
#: triggers must wait at least this long after each edge (its step delay)
SCAN_SWITCH_S = 10e-6
#: scan states reported by ``SCAN:STAT?``
SCAN_STATES = ("IDLE", "ARMED", "DONE")


class ChipControllerError(RuntimeError):
    """The controller reported errors (``errors`` holds the (code, message) pairs)."""

    def __init__(self, message: str, errors: list[tuple[int, str]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


def _cell_validator(value: tuple[int, int], values: tuple[int, int]) -> tuple[int, int]:
    """Validate (row, col) against (n_rows, n_cols)."""
    row, col = value
    strict_range(row, (0, values[0] - 1))
    strict_range(col, (0, values[1] - 1))
    if row != int(row) or col != int(col):
        raise ValueError(f"row and column must be integers, not {value!r}")
    return int(row), int(col)


class ChipController(SerialExchange, SCPIMixin, Instrument):
    """The RRAM test chip's digital controller.

    Args:
        adapter: VISA resource (serial port ``ASRL3::INSTR`` = COM3 on Windows,
            ``ASRL/dev/ttyUSB0::INSTR`` on Linux, or
            ``TCPIP::127.0.0.1::PORT::SOCKET``) or adapter.
        name: instrument name.
        **kwargs: passed to pymeasure; terminations default to ``\\n``, serial ports to 115200 Bd.

    Each query is one exchange, never interleaved with another thread's; after a read timed
    out, the next exchange first drops the late reply up to the reply of ``*IDN?``
    (:class:`~instruments.exchange.SerialExchange`).
    """

    resync_query = "*IDN?"
    #: the identity (``docs/chip-controller-protocol.md``); no other reply names the controller
    resync_reply = r"(?i)^[^,]*,[^,]*chip controller"

    def __init__(
        self, adapter: object, name: str = "RRAM chip controller", **kwargs: object
    ) -> None:
        kwargs.setdefault("read_termination", "\n")
        kwargs.setdefault("write_termination", "\n")
        kwargs.setdefault("timeout", 5000)
        kwargs.setdefault("asrl", {"baud_rate": 115200})
        super().__init__(adapter, name, **kwargs)
        #: controller upsets (error 301) met by :meth:`check_set_errors` since the driver opened
        self.upsets = 0

    array = Instrument.control(
        "ARR:SEL?", "ARR:SEL %s",
        """Control the array routed to the instrument channels, ``1T1R`` or ``2T2R`` (str).""",
        validator=strict_discrete_set, values=ARRAYS, cast=str, check_set_errors=True,
    )

    cell = Instrument.control(
        "CELL:SEL?", "CELL:SEL %d,%d",
        """Control the selected cell as (row, col) (tuple of int); for 2T2R, col is the pair.""",
        validator=_cell_validator, values=(N_ROWS, N_COLS), cast=int,
        get_process_list=tuple, check_set_errors=True,
    )

    side = Instrument.control(
        "CELL:SIDE?", "CELL:SIDE %s",
        """Control the side of the selected 2T2R pair, ``BL`` or ``BLB`` (str).""",
        validator=strict_discrete_set, values=SIDES, cast=str, check_set_errors=True,
    )

    # -- board multiplexer (packaged chips; docs/packaged-chips.md) -------------------------
    def board_count(self) -> int:
        """Chip sockets the board multiplexer selects (``BOARD:COUNT?``); 0 = no board (the
        controller serves the die under a probe card)."""
        return int(self.ask("BOARD:COUNT?").strip())

    @property
    def board_socket(self) -> int:
        """The socket (0-based) the instrument channels are routed to (``BOARD:SEL?``)."""
        return int(self.ask("BOARD:SEL?").strip())

    @board_socket.setter
    def board_socket(self, socket: int) -> None:
        """Route the instrument channels to ``socket`` (``BOARD:SEL n``).

        The controller refuses while any terminal is driven (outputs on) or for a socket it
        does not have: ChipControllerError with its error (nothing switched). Validated first.
        """
        if isinstance(socket, bool) or int(socket) != socket or socket < 0:
            raise ValueError(f"socket must be an integer >= 0, not {socket!r}")
        self.write(f"BOARD:SEL {int(socket)}")
        self.check_set_errors()

    def board_id(self, socket: int) -> tuple[int, int] | None:
        """Origin die (col, row) of the chip in ``socket`` (``BOARD:ID? n``), None if the
        controller does not know it (``NONE``)."""
        reply = self.ask(f"BOARD:ID? {int(socket)}").strip()
        if reply.upper() in ("NONE", ERROR_REPLY):
            if reply == ERROR_REPLY:
                raise ChipControllerError(f"BOARD:ID? {socket} refused", self.check_errors())
            return None
        col, _, row = reply.partition(",")
        return int(col), int(row)

    # -- options and scan mode (a trigger input steps through a cell sequence) ----------------
    def options(self) -> tuple[str, ...]:
        """The firmware's options (``*OPT?``, IEEE 488.2: comma-separated, ``0`` for none); a
        firmware without ``*OPT?`` (it answers ``ERROR``) has none (its error is drained)."""
        reply = self.ask("*OPT?").strip()
        if reply.upper() == ERROR_REPLY:
            self.check_errors()
            return ()
        return tuple(o.strip().upper() for o in reply.split(",") if o.strip() not in ("", "0"))

    def has_scan(self) -> bool:
        """True when the firmware has the scan mode (option ``SCAN``)."""
        return SCAN_OPTION in self.options()

    def scan_start(self, array: str, side: str, row0: int, col0: int, row1: int,
                   col1: int) -> None:
        """Load the cells ``row0..row1`` x ``col0..col1`` (row by row; 2T2R: pairs, on
        ``side``) and arm: the first cell is routed at once, each trigger edge routes the next.

        Three lines: ``SCAN:LOAD``, ``SCAN:ARM`` and one ``SYST:ERR?`` (ChipControllerError if
        the controller refused either, e.g. error 204 when a scan is already armed). Every
        value is validated before anything is sent.
        """
        strict_discrete_set(array, ARRAYS)
        strict_discrete_set(side, SIDES)
        _cell_validator((row0, col0), (N_ROWS, N_COLS))
        _cell_validator((row1, col1), (N_ROWS, N_COLS))
        if row1 < row0 or col1 < col0:
            raise ValueError(f"empty scan: rows {row0}..{row1}, columns {col0}..{col1}")
        self.write(f"SCAN:LOAD {array},{side},{int(row0)},{int(col0)},{int(row1)},{int(col1)}")
        self.write("SCAN:ARM")
        self.check_set_errors()

    def scan_count(self) -> int:
        """Trigger edges the controller received since it was armed (``SCAN:COUNT?``)."""
        reply = self.ask("SCAN:COUNT?").strip()
        try:
            return int(reply)
        except ValueError:
            raise ChipControllerError(f"bad SCAN:COUNT? reply {reply!r}",
                                      self.check_errors()) from None

    def scan_state(self) -> str:
        """``IDLE``, ``ARMED`` or ``DONE`` (``SCAN:STAT?``)."""
        reply = self.ask("SCAN:STAT?").strip().upper()
        if reply not in SCAN_STATES:
            raise ChipControllerError(f"bad SCAN:STAT? reply {reply!r}", self.check_errors())
        return reply

    def scan_abort(self) -> None:
        """Disarm the scan (``SCAN:ABORT``; harmless when not armed). No error check: it is on
        the way to a safe state and must not raise for an earlier error."""
        self.write("SCAN:ABORT")

    def check_errors(self) -> list[tuple[int, str]]:
        """Read the whole error queue; returns the (code, message) pairs (logged)."""
        errors: list[tuple[int, str]] = []
        for _ in range(32):  # bounded: the queue holds at most 10
            code_text, _, message = self.ask("SYST:ERR?").strip().partition(",")
            code = int(code_text)
            if code == 0:
                break
            errors.append((code, message.strip().strip('"')))
            log.error("%s: %d, %s", self.name, code, message)
        return errors

    def check_set_errors(self) -> list[tuple[int, str]]:
        """After a setting: raise ChipControllerError if the controller rejected it.

        Upsets (:data:`UPSET_ERROR`, under irradiation) were corrected by the controller and
        the command still ran: they are logged as warnings and counted in :attr:`upsets`, never
        raised on their own (a setting is not failed by the beam); with a real rejection the
        message names them apart."""
        errors = self.check_errors()
        upsets = [e for e in errors if e[0] == UPSET_ERROR]
        rejected = [e for e in errors if e[0] != UPSET_ERROR]
        if upsets:
            self.upsets += len(upsets)
            log.warning("%s: %d controller upset(s) (error %d) corrected; the setting ran",
                        self.name, len(upsets), UPSET_ERROR)
        if rejected:
            text = "; ".join(f"{c}: {m}" for c, m in rejected)
            extra = f" (and {len(upsets)} corrected upset(s), error {UPSET_ERROR})" if upsets \
                else ""
            raise ChipControllerError(f"chip controller rejected the setting: {text}{extra}",
                                      errors)
        return errors

    def select(self, array: str, row: int, col: int, side: str = "BL") -> None:
        """Route the instrument channels to one cell (for 2T2R, ``col`` is the pair index).

        Every value is validated before anything is sent; the controller's error queue is
        checked after each setting (ChipControllerError if a setting was rejected).
        """
        strict_discrete_set(array, ARRAYS)
        _cell_validator((row, col), (N_ROWS, N_COLS))
        strict_discrete_set(side, SIDES)
        self.array = array
        self.cell = (row, col)
        self.side = side

    def selection(self) -> tuple[str, int, int, str]:
        """The current selection as (array, row, col, side), read back from the controller."""
        row, col = self.cell
        return self.array, row, col, self.side

    def pcsa_read(self, row: int) -> list[int]:
        """Read 2T2R row ``row`` with the precharge sense amplifiers: 32 bits, pair 0 first.

        Raises ChipControllerError when no die is contacted (open circuit) or on a rejected
        request.
        """
        row = int(strict_range(row, (0, N_ROWS - 1)))
        reply = self.ask(f"PCSA:READ? {row}").strip()
        if reply == OPEN_REPLY:
            errors = self.check_errors()
            raise ChipControllerError(
                "PCSA read is open circuit: no die contacted (is the prober in contact?)", errors
            )
        if reply == ERROR_REPLY or len(reply) != N_COLS or set(reply) - {"0", "1"}:
            errors = self.check_errors()
            raise ChipControllerError(f"bad PCSA reply {reply!r}", errors)
        return [1 if ch == "1" else 0 for ch in reply]

    def _inputs(self, inputs: list[int] | tuple[int, ...]) -> str:
        bits = [int(b) for b in inputs]
        if len(bits) != N_COLS or set(bits) - {0, 1}:
            raise ValueError(f"inputs must be {N_COLS} bits of 0/1, got {inputs!r}")
        return "".join(str(b) for b in bits)

    def _ask_pcsa(self, command: str) -> str:
        reply = self.ask(command).strip()
        if reply == OPEN_REPLY:
            errors = self.check_errors()
            raise ChipControllerError(
                "PCSA read is open circuit: no die contacted (is the prober in contact?)", errors
            )
        if reply == ERROR_REPLY:
            errors = self.check_errors()
            raise ChipControllerError(f"bad PCSA reply {reply!r}", errors)
        return reply

    def pcsa_xnor(self, row: int, inputs: list[int] | tuple[int, ...]) -> list[int]:
        """In-memory XNOR of 2T2R row ``row`` with 32 input bits: 32 output bits, pair 0 first.

        The input bit is applied on each pair's selection (1: weight, 0: NOT weight). Every
        value is validated before anything is sent.
        """
        row = int(strict_range(row, (0, N_ROWS - 1)))
        reply = self._ask_pcsa(f"PCSA:XNOR? {row},{self._inputs(inputs)}")
        if len(reply) != N_COLS or set(reply) - {"0", "1"}:
            raise ChipControllerError(f"bad PCSA reply {reply!r}", self.check_errors())
        return [1 if ch == "1" else 0 for ch in reply]

    def popcount(self, row: int, inputs: list[int] | tuple[int, ...] | None = None) -> int:
        """Popcount (0..32) of the XNOR of row ``row`` with ``inputs`` (None: of the plain read)."""
        row = int(strict_range(row, (0, N_ROWS - 1)))
        arg = f"{row}" if inputs is None else f"{row},{self._inputs(inputs)}"
        reply = self._ask_pcsa(f"PCSA:POPC? {arg}")
        try:
            value = int(reply)
        except ValueError:
            raise ChipControllerError(f"bad popcount reply {reply!r}",
                                      self.check_errors()) from None
        if not 0 <= value <= N_COLS:
            raise ChipControllerError(f"popcount {value} out of range", self.check_errors())
        return value
