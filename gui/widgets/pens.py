"""Pens shared by the map widgets."""

from __future__ import annotations

import pyqtgraph as pg
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QPen


def cosmetic_pen(color: str, width: float, style: Qt.PenStyle = Qt.PenStyle.SolidLine) -> QPen:
    """A pen ``width`` pixels wide whatever the zoom (cosmetic), of ``color`` and ``style``."""
    pen = QPen(pg.mkColor(color))
    pen.setCosmetic(True)
    pen.setWidthF(width)
    pen.setStyle(style)
    return pen


__all__ = ["cosmetic_pen"]
