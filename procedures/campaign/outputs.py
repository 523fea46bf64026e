"""Campaign outputs: ``campaign_summary.csv``, figures vs condition, the Arrhenius fit.

In the campaign folder:

* ``campaign_summary.csv``: one row per step and measurement (device group): step, label,
  measurement, procedure, chip (board socket on a packaged bench, else empty), die (read back from
  the run: the prober's die or the chip's origin die), cells, run id, status, the condition
  columns (:data:`~procedures.campaign.conditions.CONDITION_COLUMNS`: temperature read back C, set
  point C, elapsed s, dose Gy, dose rate Gy/s, fluence 1/cm^2, flux 1/(cm^2 s), beam on) and the
  figures of the run (the wafer run's figures: summary scalars and per-device medians,
  :func:`procedures.wafer.figures.run_figures`; plus ``window``, see :func:`window_of`, and for
  ``retention`` its half-window time ``t_half_s``);
* ``campaign_<figure>.png``: each figure of each measurement vs the condition (temperature for a
  temperature schedule, dose when a dosimeter gave one, else elapsed time), matplotlib, headless;
* ``arrhenius.json`` and ``arrhenius.png`` when retention runs at two or more temperatures gave a
  half-window time: E_a and its standard uncertainty from
  :func:`procedures.experiments.retention.fit_arrhenius` (the one fit of the project).
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from procedures.campaign.conditions import CONDITION_COLUMNS
from procedures.wafer.atomic import atomic_write
from procedures.wafer.cursor import plain

log = logging.getLogger(__name__)

SUMMARY_NAME = "campaign_summary.csv"

#: figures drawn vs condition by default (when a measurement has them), with their units
PLOTTED = {
    "window": "", "ber_2t2r": "", "ber_1t1r": "", "v_set": "V", "v_reset": "V",
    "r_lrs": "Ohm", "r_hrs": "Ohm", "g_median": "S", "on_off": "", "t_half_s": "s",
    "drift_lrs": "", "drift_hrs": "",
}


def window_of(figures: dict[str, Any]) -> float | None:
    """Memory window of a run's figures: G_LRS / G_HRS medians (conductance map with a
    pattern, retention end), else R_HRS / R_LRS (ber-2t2r, iv-cycling), else ``on_off``."""
    def num(key: str) -> float | None:
        v = figures.get(key)
        return float(v) if isinstance(v, int | float) and math.isfinite(v) and v > 0 else None

    for hi, lo in (("g_lrs_median", "g_hrs_median"), ("g_lrs_end", "g_hrs_end"),
                   ("r_hrs", "r_lrs")):
        a, b = num(hi), num(lo)
        if a is not None and b is not None:
            return a / b
    return num("on_off")


def retention_curve(file: str | Path) -> tuple[np.ndarray, np.ndarray] | None:
    """(read times s, window per read) of a single-temperature retention results file."""
    from procedures.wafer.figures import read_rows

    rows = read_rows(file)
    if rows is None or rows.empty or "State" not in rows:
        return None
    t, w = [], []
    for _, g in rows.groupby("Point"):
        lrs = g.loc[g["State"] == 1, "Conductance (S)"]
        hrs = g.loc[g["State"] == 0, "Conductance (S)"]
        if lrs.empty or hrs.empty:
            return None
        t.append(float(g["Time (s)"].median()))
        w.append(float(np.median(lrs)) / float(np.median(hrs)))
    return np.array(t), np.array(w)


def measurement_figures(name: str, procedure: str, summary: dict[str, Any],
                        file: str | Path | None) -> dict[str, Any]:
    """Flat figures of one campaign measurement (JSON-safe)."""
    from procedures.wafer.figures import run_figures

    figures: dict[str, Any] = dict(run_figures(name, procedure, summary, file).medians())
    figures.pop("bench_time_s", None)
    w = window_of(figures)
    if w is not None:
        figures["window"] = w
    if procedure == "retention" and file:
        from procedures.experiments.retention import half_window_time

        curve = retention_curve(file)
        if curve is not None:
            figures["t_half_s"] = half_window_time(*curve)
    return plain(figures)


def summary_frame(campaign: Any, cursor: Any) -> pd.DataFrame:
    """One row per counted (step, measurement), in schedule order; a unit without a counted
    run gets its last attempt (status aborted/failed) so nothing silently disappears."""
    rows = []
    by_unit: dict[tuple[int, int], Any] = {}
    for e in cursor.entries:
        if e.counted or (e.step, e.index) not in by_unit:
            by_unit[(e.step, e.index)] = e
    for (step, index), e in sorted(by_unit.items()):
        spec = campaign.measurements[index]
        die = e.die or ("" if spec.die is None else f"{spec.die[0]},{spec.die[1]}")
        row: dict[str, Any] = {
            "step": step, "label": campaign.schedule.label(step), "measurement": e.measurement,
            "procedure": spec.procedure, "chip": "" if e.chip is None else int(e.chip),
            "die": die, "cells": spec.cells or "", "run_id": e.run_id, "status": e.status,
        }
        row.update({k: e.condition.get(k) for k in CONDITION_COLUMNS})
        row.update(e.figures)
        rows.append(row)
    return pd.DataFrame(rows)


def condition_axis(frame: pd.DataFrame, kind: str) -> tuple[str, str]:
    """(column, axis label) of the condition to plot against."""
    dose = frame.get("dose_gy")
    if dose is not None and pd.to_numeric(dose, errors="coerce").notna().any():
        return "dose_gy", "dose (Gy(Si))"
    if kind == "temperature":
        chips = frame.get("chip")
        packaged = chips is not None and (chips.astype(str) != "").any()
        where = "board" if packaged else "chuck"  # packaged chips: the board's heater
        return "temperature_c", f"{where} temperature (C, read back)"
    return "elapsed_s", "elapsed time (s, bench clock)"


def arrhenius(campaign: Any, frame: pd.DataFrame) -> dict[str, Any] | None:
    """E_a (eV) and its standard uncertainty from the retention half-window times per set
    point (None without retention half-window times at two temperatures)."""
    from procedures.experiments.retention import fit_arrhenius

    if frame.empty or "t_half_s" not in frame:
        return None
    rows = frame[frame["procedure"] == "retention"]
    t_half: dict[float, float] = {}
    for _, r in rows.iterrows():
        t = r.get("set_point_c")
        if t is None or (isinstance(t, float) and math.isnan(t)):
            t = r.get("temperature_c")
        v = r.get("t_half_s")
        if t is not None and v is not None and math.isfinite(float(v)):
            t_half[float(t)] = float(v)
    if len(t_half) < 2:
        return None
    ea, err = fit_arrhenius(t_half)
    return {"ea_ev": ea, "ea_err_ev": err, "t_half_s": {f"{k:g}": v for k, v in t_half.items()},
            "n_temperatures": len(t_half)}


def write_outputs(out_dir: Path, campaign: Any, cursor: Any, draw: bool = True) -> dict[str, Any]:
    """Write the summary, the figures and the Arrhenius fit; returns what was written."""
    out_dir = Path(out_dir)
    frame = summary_frame(campaign, cursor)
    atomic_write(out_dir / SUMMARY_NAME, frame.to_csv(index=False))
    written: dict[str, Any] = {"summary": str(out_dir / SUMMARY_NAME), "figures": []}
    fit = arrhenius(campaign, frame)
    if fit is not None:
        atomic_write(out_dir / "arrhenius.json", json.dumps(plain(fit), indent=1))
        written["arrhenius"] = plain(fit)
    if not draw or frame.empty:
        return written
    try:
        from procedures.campaign.plots import arrhenius_figure, figures_vs_condition

        column, label = condition_axis(frame, campaign.schedule.kind)
        written["figures"] = figures_vs_condition(frame, column, label, out_dir, campaign.name)
        if fit is not None:
            written["arrhenius_png"] = arrhenius_figure(campaign, cursor, fit, out_dir)
    except Exception:  # the data are on disk; a drawing problem is logged
        log.exception("campaign figures not drawn")
    return written


__all__ = ["PLOTTED", "SUMMARY_NAME", "arrhenius", "condition_axis", "measurement_figures",
           "retention_curve", "summary_frame", "window_of", "write_outputs"]
