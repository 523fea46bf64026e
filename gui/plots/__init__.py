"""Live measurement plots of the main window (pyqtgraph), fed from in-memory buffers.

Every plot keeps its data in :class:`gui.buffers.ColumnBuffer` objects, redraws through a
:class:`~gui.plots.throttle.RedrawThrottle` at most ~30 times a second by calling ``setData`` on
existing items with views of the buffers (never re-reading result files), and offers ``clear()``
and ``flush()`` (draw pending changes now).
"""

from gui.plots.cdf_plot import CDFPlot, CDFPlotConfig, empirical_cdf
from gui.plots.conductance_plot import ConductancePlot, ConductancePlotConfig
from gui.plots.iv_plot import IVPlot, IVPlotConfig
from gui.plots.learning_plot import LearningPlot, LearningPlotConfig
from gui.plots.pulse_plot import PulsePlot, PulsePlotConfig
from gui.plots.throttle import MAX_REDRAW_HZ, LivePlotWidget, RedrawThrottle

__all__ = [
    "MAX_REDRAW_HZ",
    "CDFPlot",
    "CDFPlotConfig",
    "ConductancePlot",
    "ConductancePlotConfig",
    "IVPlot",
    "IVPlotConfig",
    "LearningPlot",
    "LearningPlotConfig",
    "LivePlotWidget",
    "PulsePlot",
    "PulsePlotConfig",
    "RedrawThrottle",
    "empirical_cdf",
]
