"""The learning procedures' figure file: learning curves and accuracies as a PNG beside the results.

:class:`LearningFigure` is a mixin of the learning procedures (listed before
:class:`~procedures.framework.base.BenchProcedure`). A procedure emits its rows with
:meth:`LearningFigure.emit_row`, which also keeps the columns named in ``FIGURE_COLUMNS``
(numbers in ``array('d')``: 8 bytes a value, so a long MCMC chain stays small). At shutdown,
after the outputs are off, the procedure's :meth:`~LearningFigure.draw_figure` draws them with
:func:`procedures.data.figures.curve_figure` (matplotlib Agg, titled, axes with units) as
``<results>-<FIGURE>.png`` beside the results file, also for an aborted run that has rows; the
summary lists it as ``<FIGURE>_png`` (:meth:`~LearningFigure.figure_outputs`). A figure that
cannot be drawn is logged, never fails the run (the rows are on disk).
"""

from __future__ import annotations

import math
from array import array
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from procedures.data.figures import figure_beside


class LearningFigure:
    """The run's learning-curve / accuracy figure (see the module docstring).

    ``FIGURE``: the figure's name (file ``<results stem>-<FIGURE>.png``, summary key
    ``<FIGURE>_png``); ``FIGURE_COLUMNS``: the row columns the figure needs."""

    FIGURE: ClassVar[str] = "learning"
    FIGURE_COLUMNS: ClassVar[tuple[str, ...]] = ()
    figure_path: str = ""

    def emit_row(self, row: dict[str, Any]) -> None:
        """Emit ``row`` as a results row and keep its figure columns."""
        kept: dict[str, Any] = self.__dict__.setdefault("_figure_columns", {})
        for col in self.FIGURE_COLUMNS:
            value = row.get(col, math.nan)
            buf = kept.get(col)
            if buf is None:
                numeric = isinstance(value, int | float | np.number) and not isinstance(value, bool)
                buf = kept[col] = array("d") if numeric else []
            buf.append(value)
        self.emit("results", row)  # type: ignore[attr-defined]  # pymeasure's worker sets it

    def column(self, name: str) -> np.ndarray:
        """A kept column as an array (empty before the first row)."""
        values = self.__dict__.get("_figure_columns", {}).get(name, [])
        return np.asarray(values, dtype=float if isinstance(values, array) else object)

    def rows_kept(self) -> int:
        """How many rows were emitted with :meth:`emit_row`."""
        kept = self.__dict__.get("_figure_columns", {})
        return len(next(iter(kept.values()))) if kept else 0

    def draw_figure(self, path: Path) -> str:
        """Draw the figure of the kept columns at ``path``; the path written."""
        raise NotImplementedError

    def shutdown(self) -> None:
        """Outputs off (the procedure's shutdown), then the figure, when there are rows."""
        super().shutdown()  # type: ignore[misc]  # BenchProcedure's: outputs off first
        if self.rows_kept():
            self.figure_path = figure_beside(getattr(self, "results_file", None), self.FIGURE,
                                             self.draw_figure)

    def figure_outputs(self) -> dict[str, str]:
        """``{"<FIGURE>_png": path}`` once the figure is written, else ``{}``."""
        return {f"{self.FIGURE}_png": self.figure_path} if self.figure_path else {}


def percent(values: np.ndarray) -> np.ndarray:
    """Fractions (0..1) as percent."""
    return np.asarray(values, dtype=float) * 100.0


ACCURACY_AXIS = "accuracy (%)"
"""The y label of every accuracy figure (accuracies are fractions in the rows, % on the axis)."""
ACCURACY_LIMITS = (0.0, 100.0)


__all__ = ["ACCURACY_AXIS", "ACCURACY_LIMITS", "LearningFigure", "percent"]
