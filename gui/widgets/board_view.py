"""Board view of a packaged bench: the chip sockets of the test board instead of the wafer map.

Each socket is drawn as a frame holding its chip's package, labelled with the socket number and
the chip's identity (its origin die ``cCCrRR``); inside the package the two arrays (1T1R and
2T2R) are drawn, the one routed to the instruments filled. The selected socket (the one the
board multiplexer routes, as the bench status reports it) has a thick orange frame; the socket
clicked in the view (the target of the next run) a blue one. Sockets may be coloured by a value
per chip (:meth:`BoardView.set_values`, the wafer map's colour table; NaN grey).

The view never switches the board: clicks only emit :attr:`BoardView.chipClicked` and
:attr:`BoardView.chipDoubleClicked`; the main window selects the chip in its bench worker.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QRectF, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QFont, QMouseEvent, QPainter, QPaintEvent, QPen
from PyQt6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from procedures.wafer.palette import NAN_COLOR, VALUE_COLORMAP, value_levels

ARRAYS = ("1T1R", "2T2R")
SELECTED_COLOR = "#ef6c00"
"""Frame of the socket the board routes to the instruments."""
TARGET_COLOR = "#1565c0"
"""Frame of the socket clicked as the target of the next run."""
PACKAGE_COLOR = "#37474f"
SOCKET_COLOR = "#cfd8dc"
ARRAY_ON_COLOR = "#ffca28"
ARRAY_OFF_COLOR = "#607d8b"
MAX_COLUMNS = 4
"""Sockets per row of the drawing (more for boards of more than 16 sockets)."""


class _Sockets(QWidget):
    """The painted board; geometry in widget pixels."""

    def __init__(self, view: BoardView) -> None:
        super().__init__()
        self.view = view
        self.setMinimumSize(260, 160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(True)

    def grid(self) -> tuple[int, int]:
        n = max(1, self.view.sockets)
        cols = min(n, max(MAX_COLUMNS, math.ceil(math.sqrt(n))))
        return cols, math.ceil(n / cols)

    def socket_rect(self, k: int) -> QRectF:
        """The frame of socket ``k`` in widget pixels."""
        cols, rows = self.grid()
        w, h = self.width() / cols, self.height() / rows
        side = min(w, h) * 0.9
        col, row = k % cols, k // cols
        return QRectF(col * w + (w - side) / 2, row * h + (h - side) / 2, side, side)

    def socket_at(self, x: float, y: float) -> int | None:
        for k in range(self.view.sockets):
            if self.socket_rect(k).contains(x, y):
                return k
        return None

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        v = self.view
        font = QFont(self.font())
        for k in range(v.sockets):
            r = self.socket_rect(k)
            frame = (SELECTED_COLOR if k == v.selected else
                     TARGET_COLOR if k == v.target else "#90a4ae")
            width = 4.0 if k in (v.selected, v.target) else 1.5
            p.setPen(QPen(QColor(frame), width))
            p.setBrush(QColor(v.fill(k)))
            p.drawRoundedRect(r, 6, 6)
            pkg = r.adjusted(r.width() * 0.18, r.height() * 0.22, -r.width() * 0.18,
                             -r.height() * 0.12)
            p.setPen(QPen(QColor("#263238"), 1))
            p.setBrush(QColor(PACKAGE_COLOR))
            p.drawRect(pkg)
            self._arrays(p, k, pkg)
            font.setPointSizeF(max(6.0, r.height() * 0.075))
            font.setBold(True)
            p.setFont(font)
            p.setPen(QColor("#263238"))
            top = QRectF(r.left(), r.top(), r.width(), r.height() * 0.22)
            die = v.dies[k] if k < len(v.dies) else None
            ident = f"c{die[0]:02d}r{die[1]:02d}" if die is not None else "?"
            p.drawText(top, int(Qt.AlignmentFlag.AlignCenter), f"{k}: {ident}")
        p.end()

    def _arrays(self, p: QPainter, k: int, pkg: QRectF) -> None:
        """The two arrays inside the package; the routed one filled on the selected chip."""
        v = self.view
        gap = pkg.width() * 0.08
        w = (pkg.width() - 3 * gap) / 2
        for i, name in enumerate(ARRAYS):
            a = QRectF(pkg.left() + gap + i * (w + gap), pkg.top() + gap, w,
                       pkg.height() - 2 * gap)
            on = k == v.selected and name == v.array
            p.setPen(QPen(QColor("#eceff1"), 1))
            p.setBrush(QColor(ARRAY_ON_COLOR if on else ARRAY_OFF_COLOR))
            p.drawRect(a)
            p.setPen(QColor("#263238" if on else "#eceff1"))
            f = QFont(self.font())
            f.setPointSizeF(max(5.0, a.width() * 0.16))
            p.setFont(f)
            p.drawText(a, int(Qt.AlignmentFlag.AlignCenter), name)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        k = self.socket_at(event.position().x(), event.position().y())
        if k is not None:
            self.view.set_target(k)
            self.view.chipClicked.emit(k)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        k = self.socket_at(event.position().x(), event.position().y())
        if k is not None:
            self.view.chipDoubleClicked.emit(k)


class BoardView(QWidget):
    """The sockets of a packaged bench's test board.

    Signals: ``chipClicked(socket)`` (a click: the target of the next run),
    ``chipDoubleClicked(socket)`` (a double click: select that chip on the board now),
    ``chipRouted(socket)`` (emitted by the owner once the board reports the chip selected).
    """

    chipClicked = pyqtSignal(int)
    chipDoubleClicked = pyqtSignal(int)
    chipRouted = pyqtSignal(int)

    def __init__(self, sockets: int) -> None:
        super().__init__()
        self.sockets = int(sockets)
        #: origin die of the chip in each socket (None: unknown)
        self.dies: list[tuple[int, int] | None] = [None] * self.sockets
        self.selected: int | None = None
        self.target: int | None = None
        self.array = "1T1R"
        self.cell: tuple[int, int] | None = None
        #: the chips' temperature from the board's heater (degC) and its state; None: none
        self.temperature_c: float | None = None
        self.heater_state = ""
        self.values: dict[int, float] = {}
        self._levels: tuple[float, float] | None = None
        self._cmap = pg.colormap.get(VALUE_COLORMAP)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.board = _Sockets(self)
        self.caption = QLabel("")
        self.caption.setObjectName("board-caption")
        self.caption.setWordWrap(True)
        layout.addWidget(self.board, 1)
        layout.addWidget(self.caption)
        self._update_caption()

    # -- state ---------------------------------------------------------------------------------
    def set_dies(self, dies: Sequence[tuple[int, int] | None]) -> None:
        """The identity (origin die) of the chip in each socket."""
        self.dies = list(dies) + [None] * max(0, self.sockets - len(dies))
        self._changed()

    def set_selected(self, socket: int, array: str = "1T1R",
                     cell: tuple[int, int] | None = None) -> None:
        """The socket the board routes now and the array/cell routed on it (from the status)."""
        self.selected, self.array, self.cell = int(socket), str(array), cell
        self._changed()

    def set_temperature(self, celsius: float | None, state: str = "") -> None:
        """The chips' temperature (degC) and the heater's state, from the bench status."""
        self.temperature_c, self.heater_state = celsius, str(state)
        self._changed()

    def set_target(self, socket: int | None) -> None:
        """The socket the next run targets (a click, or the procedure form's ``chip``)."""
        self.target = None if socket is None or socket < 0 else int(socket)
        self._changed()

    def set_values(self, values: Mapping[int, float], label: str = "", units: str = "") -> None:
        """Colour the sockets by ``values`` (socket -> value; missing: untested, NaN: grey)."""
        self.values = {int(k): float(v) for k, v in values.items()}
        finite = np.array([v for v in self.values.values() if math.isfinite(v)])
        self._levels = value_levels(finite) if finite.size else None
        self.value_label = f"{label} ({units})" if units else label
        self._changed()

    def clear_values(self) -> None:
        """Back to plain sockets."""
        self.values, self._levels = {}, None
        self._changed()

    def fill(self, k: int) -> str:
        """Fill colour of socket ``k``: its value on the colour table, else the plain socket."""
        if k not in self.values:
            return SOCKET_COLOR
        v = self.values[k]
        if not math.isfinite(v) or self._levels is None:
            return NAN_COLOR
        lo, hi = self._levels
        x = 0.5 if hi <= lo else min(1.0, max(0.0, (v - lo) / (hi - lo)))
        return self._cmap.map(x, mode="qcolor").name()

    def _changed(self) -> None:
        self._update_caption()
        self.board.update()

    def _update_caption(self) -> None:
        parts = [f"{self.sockets} sockets"]
        if self.selected is not None:
            die = self.dies[self.selected] if self.selected < len(self.dies) else None
            ident = f" (chip c{die[0]:02d}r{die[1]:02d})" if die is not None else ""
            cell = f", cell {self.cell[0]},{self.cell[1]}" if self.cell else ""
            parts.append(f"routed: socket {self.selected}{ident}, {self.array}{cell}")
        if self.temperature_c is not None:
            state = f" ({self.heater_state})" if self.heater_state else ""
            parts.append(f"board {self.temperature_c:.1f} °C{state}")
        if self.target is not None:
            parts.append(f"next run: chip {self.target}")
        self.caption.setText("; ".join(parts))


__all__ = ["BoardView"]
