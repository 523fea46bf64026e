"""An example MemProbe procedure plugin: read the conductance of every cell of one 1T1R row.

Installed (``pip install --no-deps --no-build-isolation docs/examples/memprobe-plugin-example``),
it appears in ``memprobe run --list``, in the GUI's procedure list and in recipes as
``example-read-row``. A plugin procedure is written like a built-in one: a
``procedures.framework.base.BenchProcedure`` subclass with ``NAME``, parameters, ``DATA_COLUMNS``,
``validate`` (checks against the bench limits before anything is applied), ``execute`` and
``summary``; the runner gives it the open bench (``self.bench``) and cell operations
(``self.io``), writes its rows to disk and indexes the run in the catalog.
"""

from __future__ import annotations

from typing import Any

from pymeasure.experiment import FloatParameter, IntegerParameter

from procedures.framework.base import BenchProcedure


class ReadRowProcedure(BenchProcedure):
    """Read every cell of one 1T1R row at a small BL voltage (example plugin)."""

    NAME = "example-read-row"

    row = IntegerParameter("Row", default=0, minimum=0, maximum=31)
    v_read = FloatParameter("Read voltage (BL)", units="V", default=0.1, minimum=0.01,
                            maximum=0.3)
    v_wl = FloatParameter("Word-line voltage", units="V", default=2.5, minimum=0, maximum=3.3)

    DATA_COLUMNS = ["Row", "Col", "Conductance (S)"]

    def validate(self, limits: Any) -> None:
        super().validate(limits)
        limits.check_voltage("BL", self.v_read)
        limits.check_voltage("WL", self.v_wl)

    def startup(self) -> None:
        self.values: list[float] = []

    def execute(self) -> None:
        for col in range(32):
            if self.should_stop():
                return
            self.io.select("1T1R", int(self.row), col)
            g = self.io.read(self.v_read, self.v_wl).conductance
            self.values.append(g)
            self.emit("results", {"Row": int(self.row), "Col": col, "Conductance (S)": g})
            self.progress((col + 1) / 32)

    def summary(self) -> dict[str, Any]:
        vals = getattr(self, "values", [])
        return {"cells_read": len(vals), "g_max": max(vals) if vals else None}
