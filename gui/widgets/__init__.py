"""Reusable pyqtgraph widgets for the main window: wafer map and array (conductance) map."""

from gui.widgets.array_map import ArrayMapWidget
from gui.widgets.wafer_map import BinInfo, WaferMapWidget

__all__ = ["ArrayMapWidget", "BinInfo", "WaferMapWidget"]
