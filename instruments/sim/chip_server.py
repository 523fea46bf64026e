"""Simulated on-chip digital controller (cell selection and PCSA read-out).

Speaks the chip-controller protocol documented in ``docs/chip-controller-protocol.md``: SCPI-like
text lines terminated by ``\\n``, short mnemonics only, case-insensitive. Setting commands change
``lab.selection`` (array, row, col, side) under ``lab.lock``; a rejected setting changes nothing and
queues an error that ``SYST:ERR?`` returns. Every query gets exactly one reply line; a query that
fails replies ``ERROR`` (and queues the error), so a client never waits for a timeout.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from instruments.chip.geometry import ARRAY_SHAPES, N_ROWS
from instruments.sim.line_server import LineServer

IDN = "MemProbe,RRAM chip controller (simulated),SIM-0001,1.0"
#: columns of the 1T1R array and pairs of the 2T2R array
N_COLS = {array: cols for array, (_rows, cols) in ARRAY_SHAPES.items()}
SIDES = ("BL", "BLB")
ERROR_QUEUE_LENGTH = 10

# Error codes: SCPI standard (negative) and device-specific (positive).
E_NONE = (0, "No error")
E_UNDEFINED_HEADER = (-113, "Undefined header")
E_MISSING_PARAMETER = (-109, "Missing parameter")
E_DATA_TYPE = (-104, "Data type error")
E_ILLEGAL_VALUE = (-224, "Illegal parameter value")
E_OUT_OF_RANGE = (-222, "Data out of range")
E_QUEUE_OVERFLOW = (-350, "Queue overflow")
E_OPEN_CIRCUIT = (201, "No die contacted; PCSA read is open circuit")
E_OUTPUTS_ON = (202, "Outputs on; switch sockets with every terminal undriven")
E_NO_BOARD = (203, "No board multiplexer")
E_SCAN_ARMED = (204, "Scan armed; disarm with SCAN:ABORT first")
E_NO_SEQUENCE = (205, "No scan sequence loaded")
#: a radiation-induced upset of the controller's registers, detected and corrected
E_UPSET = (301, "Single-event upset in the controller; registers restored")

#: ``*OPT?`` reply of a firmware with the scan mode (``0``: no options)
SCAN_OPTION = "SCAN"
#: settings refused while a scan is armed (they would change the routing under the trigger)
ROUTING_HEADERS = frozenset({"ARR:SEL", "CELL:SEL", "CELL:SIDE", "BOARD:SEL", "SCAN:LOAD",
                             "SCAN:ARM"})
SCAN_IDLE, SCAN_ARMED, SCAN_DONE = "IDLE", "ARMED", "DONE"

#: reply of PCSA:READ? when no die is contacted
OPEN_REPLY = "OPEN"
#: reply of any query that failed
ERROR_REPLY = "ERROR"


class _Lab(Protocol):
    lock: AbstractContextManager[Any]
    selection: Any

    def pcsa_read(self, row: int) -> str | None: ...

    def pcsa_xnor(self, row: int, inputs: str) -> str | None: ...


@dataclass(frozen=True)
class ScanSequence:
    """Cells of a scan: rows ``row0..row1`` x columns (2T2R: pairs) ``col0..col1``, row by row,
    on one array and side."""

    array: str
    side: str
    row0: int
    col0: int
    row1: int
    col1: int

    def cell(self, k: int) -> tuple[int, int]:
        """(row, col) of the ``k``-th cell (0-based)."""
        width = self.col1 - self.col0 + 1
        return self.row0 + k // width, self.col0 + k % width

    def __len__(self) -> int:
        return (self.row1 - self.row0 + 1) * (self.col1 - self.col0 + 1)

    def text(self) -> str:
        """As ``SCAN:LOAD`` takes it and ``SCAN:LOAD?`` answers."""
        return (f"{self.array},{self.side},{self.row0},{self.col0},{self.row1},"
                f"{self.col1}")


class _CommandError(Exception):
    def __init__(self, error: tuple[int, str], detail: str = "") -> None:
        super().__init__(detail)
        self.error = error
        self.detail = detail


class ChipControllerState:
    """Protocol engine of one simulated controller: parses lines, keeps the error queue."""

    def __init__(self, lab: _Lab, scan: bool = True) -> None:
        self.lab = lab
        self.errors: deque[tuple[int, str]] = deque()
        #: the firmware has the scan mode (``*OPT?`` ``SCAN``; else ``SCAN:`` is undefined)
        self.scan_enabled = scan
        self.scan_sequence: ScanSequence | None = None
        self.scan_state = SCAN_IDLE
        #: trigger edges received since the last ``SCAN:ARM``
        self.scan_count = 0

    # -- errors -----------------------------------------------------------------------------
    def push_error(self, error: tuple[int, str], detail: str = "") -> None:
        """Queue an error (the last slot becomes 'Queue overflow' when full)."""
        code, message = error
        if detail:
            message = f"{message}; {detail}"
        if len(self.errors) >= ERROR_QUEUE_LENGTH:
            self.errors[-1] = E_QUEUE_OVERFLOW
            return
        self.errors.append((code, message))

    def pop_error(self) -> str:
        """``SYST:ERR?`` reply: oldest error as ``code,"message"``, ``0,"No error"`` when empty."""
        code, message = self.errors.popleft() if self.errors else E_NONE
        return f'{code},"{message}"'

    # -- parsing ----------------------------------------------------------------------------
    @staticmethod
    def _one_arg(arg: str) -> str:
        if not arg:
            raise _CommandError(E_MISSING_PARAMETER)
        return arg.strip().upper()

    @staticmethod
    def _int(text: str) -> int:
        try:
            return int(text.strip())
        except ValueError:
            raise _CommandError(E_DATA_TYPE, f"not an integer: {text.strip()!r}") from None

    def handle(self, line: str) -> str | None:
        """Reply to one line; None for setting commands."""
        text = line.strip()
        if not text:
            return None
        header, _, arg = text.partition(" ")
        header = header.upper()
        is_query = header.endswith("?")
        with self.lab.lock:  # the error queue is shared by every connection, like the selection
            settle = getattr(self.lab, "settle_dc", None)
            if callable(settle):
                settle()  # the B1500's DC levels act on the old cell up to a change of selection
            upsets = getattr(self.lab, "controller_upsets", None)
            for _ in range(upsets() if callable(upsets) else 0):  # the beam, if any
                self.push_error(E_UPSET)
            try:
                return self._dispatch(header, arg.strip())
            except _CommandError as exc:
                self.push_error(exc.error, exc.detail)
                return ERROR_REPLY if is_query else None

    def _dispatch(self, header: str, arg: str) -> str | None:
        handler = _HANDLERS.get(header)
        if handler is None or (header.startswith("SCAN:") and not self.scan_enabled):
            raise _CommandError(E_UNDEFINED_HEADER, header)
        if header in ROUTING_HEADERS and self.scan_state == SCAN_ARMED:
            raise _CommandError(E_SCAN_ARMED, header)
        return handler(self, arg)

    # -- scan mode: a trigger edge steps to the next cell -----------------------------------
    def on_trigger(self, _t: float) -> None:
        """An edge on the trigger input (the lab's trigger line, lab clock ``_t`` s).

        Armed: count it and route the next cell of the sequence (the DC levels held so far
        act on the old cell first); after the edge of the last cell the scan is done (the
        selection stays on the last cell). Done: extra edges are still counted (so a count
        query tells them); idle: ignored. The switch takes ``SCAN_SWITCH_S`` (~10 us [E],
        :data:`instruments.chip.controller.SCAN_SWITCH_S`), covered by the measuring
        instrument's step delay, not added to the clock."""
        with self.lab.lock:
            if self.scan_state == SCAN_IDLE:
                return
            self.scan_count += 1
            seq = self.scan_sequence
            if self.scan_state != SCAN_ARMED or seq is None:
                return
            if self.scan_count >= len(seq):
                self.scan_state = SCAN_DONE
                return
            settle = getattr(self.lab, "settle_dc", None)
            if callable(settle):
                settle()
            self.lab.selection.row, self.lab.selection.col = seq.cell(self.scan_count)

    # -- commands (one method each; the table :data:`_HANDLERS` maps headers to them) ---------
    def _idn(self, _arg: str) -> str:
        return IDN

    def _opc(self, _arg: str) -> str:
        return "1"

    def _reset(self, _arg: str) -> None:
        sel = self.lab.selection
        sel.array, sel.row, sel.col, sel.side = "1T1R", 0, 0, "BL"
        self.scan_sequence, self.scan_state, self.scan_count = None, SCAN_IDLE, 0

    def _options(self, _arg: str) -> str:
        return SCAN_OPTION if self.scan_enabled else "0"

    def _clear(self, _arg: str) -> None:
        self.errors.clear()

    def _error(self, _arg: str) -> str:
        return self.pop_error()

    def _array_query(self, _arg: str) -> str:
        return str(self.lab.selection.array)

    def _array_set(self, arg: str) -> None:
        sel = self.lab.selection
        array = self._one_arg(arg)
        if array not in N_COLS:
            raise _CommandError(E_ILLEGAL_VALUE, f"array {array!r}")
        if sel.col >= N_COLS[array]:
            raise _CommandError(E_OUT_OF_RANGE, f"column {sel.col} in {array}")
        sel.array = array

    def _cell_query(self, _arg: str) -> str:
        sel = self.lab.selection
        return f"{sel.row},{sel.col}"

    def _cell_set(self, arg: str) -> None:
        sel = self.lab.selection
        parts = self._one_arg(arg).split(",")
        if len(parts) != 2:
            raise _CommandError(E_MISSING_PARAMETER, "expected row,col")
        row, col = self._int(parts[0]), self._int(parts[1])
        if not 0 <= row < N_ROWS:
            raise _CommandError(E_OUT_OF_RANGE, f"row {row}")
        if not 0 <= col < N_COLS[sel.array]:
            raise _CommandError(E_OUT_OF_RANGE, f"column {col}")
        sel.row, sel.col = row, col

    def _side_query(self, _arg: str) -> str:
        return str(self.lab.selection.side)

    def _side_set(self, arg: str) -> None:
        side = self._one_arg(arg)
        if side not in SIDES:
            raise _CommandError(E_ILLEGAL_VALUE, f"side {side!r}")
        self.lab.selection.side = side

    def _pcsa_read(self, arg: str) -> str:
        row = self._int(self._one_arg(arg))
        if not 0 <= row < N_ROWS:
            raise _CommandError(E_OUT_OF_RANGE, f"row {row}")
        bits = self.lab.pcsa_read(row)
        if bits is None:
            self.push_error(E_OPEN_CIRCUIT)
            return OPEN_REPLY
        return bits

    def _pcsa_xnor(self, arg: str) -> str:
        return self._xnor("PCSA:XNOR?", arg)

    def _pcsa_popcount(self, arg: str) -> str:
        return self._xnor("PCSA:POPC?", arg)

    def _xnor(self, header: str, arg: str) -> str:
        """``PCSA:XNOR? row,bits`` (32 output bits) or ``PCSA:POPC? row[,bits]`` (ones 0..32)."""
        parts = self._one_arg(arg).split(",")
        row = self._int(parts[0])
        if not 0 <= row < N_ROWS:
            raise _CommandError(E_OUT_OF_RANGE, f"row {row}")
        if len(parts) > 2 or (header == "PCSA:XNOR?" and len(parts) != 2):
            raise _CommandError(E_MISSING_PARAMETER, "expected row,input bits")
        inputs = parts[1].strip() if len(parts) == 2 else "1" * N_COLS["2T2R"]
        if len(inputs) != N_COLS["2T2R"] or set(inputs) - {"0", "1"}:
            raise _CommandError(E_ILLEGAL_VALUE,
                                f"input bits {inputs!r} ({N_COLS['2T2R']} of 0/1)")
        bits = self.lab.pcsa_xnor(row, inputs)
        if bits is None:
            self.push_error(E_OPEN_CIRCUIT)
            return OPEN_REPLY
        return bits if header == "PCSA:XNOR?" else str(bits.count("1"))


_HANDLERS: dict[str, Callable[[ChipControllerState, str], str | None]] = {
    "*IDN?": ChipControllerState._idn,
    "*OPT?": ChipControllerState._options,
    "*OPC?": ChipControllerState._opc,
    "*RST": ChipControllerState._reset,
    "*CLS": ChipControllerState._clear,
    "SYST:ERR?": ChipControllerState._error,
    "ARR:SEL?": ChipControllerState._array_query,
    "ARR:SEL": ChipControllerState._array_set,
    "CELL:SEL?": ChipControllerState._cell_query,
    "CELL:SEL": ChipControllerState._cell_set,
    "CELL:SIDE?": ChipControllerState._side_query,
    "CELL:SIDE": ChipControllerState._side_set,
    "PCSA:READ?": ChipControllerState._pcsa_read,
    "PCSA:XNOR?": ChipControllerState._pcsa_xnor,
    "PCSA:POPC?": ChipControllerState._pcsa_popcount,
}
"""Header (upper case, short mnemonics) -> handler: the whole command set of the controller."""


# -- board multiplexer of a packaged bench (docs/packaged-chips.md) ------------------------------
def _board_count(state: ChipControllerState, arg: str) -> str:
    """``BOARD:COUNT?``: sockets on the board, 0 without a board (a probe card)."""
    board = getattr(state.lab, "board", None)
    return str(board.sockets if board is not None else 0)


def _board_selected(state: ChipControllerState, arg: str) -> str:
    """``BOARD:SEL?``: the socket routed to the instruments (0 without a board)."""
    board = getattr(state.lab, "board", None)
    return str(board.selected if board is not None else 0)


def _board_select(state: ChipControllerState, arg: str) -> None:
    """``BOARD:SEL n``: route to socket ``n``; refused (nothing switched) while a terminal is
    driven (error 202), for a socket the board lacks (-222), or without a board (203)."""
    socket = state._int(state._one_arg(arg))
    if getattr(state.lab, "board", None) is None:
        raise _CommandError(E_NO_BOARD)
    try:
        state.lab.select_socket(socket)
    except ValueError as exc:
        raise _CommandError(E_OUT_OF_RANGE, str(exc)) from None
    except RuntimeError as exc:
        raise _CommandError(E_OUTPUTS_ON, str(exc)) from None
    return None


def _board_id(state: ChipControllerState, arg: str) -> str:
    """``BOARD:ID? [n]``: origin die ``col,row`` of the chip in socket ``n`` (default: the
    selected one), ``NONE`` if unknown."""
    board = getattr(state.lab, "board", None)
    if board is None:
        raise _CommandError(E_NO_BOARD)
    socket = state._int(arg) if arg.strip() else board.selected
    if not 0 <= socket < board.sockets:
        raise _CommandError(E_OUT_OF_RANGE, f"socket {socket}")
    col, row = board.dies[socket]
    return f"{col},{row}"


#: the board commands, one handler each (header -> handler(state, argument))
BOARD_COMMANDS: dict[str, Callable[[ChipControllerState, str], str | None]] = {
    "BOARD:COUNT?": _board_count,
    "BOARD:SEL?": _board_selected,
    "BOARD:SEL": _board_select,
    "BOARD:ID?": _board_id,
}
_HANDLERS.update(BOARD_COMMANDS)


# -- scan mode (docs/chip-controller-protocol.md, "Scan mode") ----------------------------------
def _scan_load(state: ChipControllerState, arg: str) -> None:
    """``SCAN:LOAD array,side,row0,col0,row1,col1``: the cells to step through (refused while
    armed)."""
    parts = [p.strip() for p in state._one_arg(arg).split(",")]
    if len(parts) != 6:
        raise _CommandError(E_MISSING_PARAMETER, "expected array,side,row0,col0,row1,col1")
    array, side = parts[0], parts[1]
    if array not in N_COLS:
        raise _CommandError(E_ILLEGAL_VALUE, f"array {array!r}")
    if side not in SIDES:
        raise _CommandError(E_ILLEGAL_VALUE, f"side {side!r}")
    row0, col0, row1, col1 = (state._int(p) for p in parts[2:])
    for value, last, what in ((row0, N_ROWS, "row"), (row1, N_ROWS, "row"),
                              (col0, N_COLS[array], "column"), (col1, N_COLS[array], "column")):
        if not 0 <= value < last:
            raise _CommandError(E_OUT_OF_RANGE, f"{what} {value}")
    if row1 < row0 or col1 < col0:
        raise _CommandError(E_OUT_OF_RANGE, "empty sequence (row1 < row0 or col1 < col0)")
    state.scan_sequence = ScanSequence(array, side, row0, col0, row1, col1)
    if state.scan_state == SCAN_DONE:
        state.scan_state = SCAN_IDLE


def _scan_load_query(state: ChipControllerState, arg: str) -> str:
    seq = state.scan_sequence
    return "NONE" if seq is None else seq.text()


def _scan_arm(state: ChipControllerState, arg: str) -> None:
    """``SCAN:ARM``: route the first cell of the sequence, count edges from 0."""
    seq = state.scan_sequence
    if seq is None:
        raise _CommandError(E_NO_SEQUENCE)
    settle = getattr(state.lab, "settle_dc", None)
    if callable(settle):
        settle()
    sel = state.lab.selection
    sel.array, sel.side = seq.array, seq.side
    sel.row, sel.col = seq.cell(0)
    state.scan_state, state.scan_count = SCAN_ARMED, 0


def _scan_abort(state: ChipControllerState, arg: str) -> None:
    """``SCAN:ABORT``: disarm (the selection and the count stay); allowed in every state."""
    state.scan_state = SCAN_IDLE


def _scan_count(state: ChipControllerState, arg: str) -> str:
    return str(state.scan_count)


def _scan_state(state: ChipControllerState, arg: str) -> str:
    return state.scan_state


#: the scan-mode commands (header -> handler(state, argument))
SCAN_COMMANDS: dict[str, Callable[[ChipControllerState, str], str | None]] = {
    "SCAN:LOAD": _scan_load,
    "SCAN:LOAD?": _scan_load_query,
    "SCAN:ARM": _scan_arm,
    "SCAN:ABORT": _scan_abort,
    "SCAN:COUNT?": _scan_count,
    "SCAN:STAT?": _scan_state,
}
_HANDLERS.update(SCAN_COMMANDS)


def make_server(lab: _Lab, host: str = "127.0.0.1", port: int = 0) -> LineServer:
    """A :class:`LineServer` for the chip-controller protocol on ``lab`` (one error queue).

    The controller's trigger input is connected to ``lab.trigger_line`` when the lab has one
    and the firmware has the scan mode (``lab.config.chip_scan``, default True)."""
    scan = bool(getattr(getattr(lab, "config", None), "chip_scan", True))
    state = ChipControllerState(lab, scan=scan)
    line = getattr(lab, "trigger_line", None)
    if line is not None and scan:
        line.connect(state.on_trigger)

    def factory() -> Callable[[str], str | None]:
        return state.handle

    return LineServer("chip", factory, host=host, port=port, terminator="\n")
