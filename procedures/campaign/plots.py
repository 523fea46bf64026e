"""Campaign figures (matplotlib, headless): each figure vs the condition, the Arrhenius plot."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from procedures.campaign.outputs import PLOTTED, retention_curve  # noqa: E402

_LOG_SCALE = {"ber_2t2r", "ber_1t1r", "r_lrs", "r_hrs", "g_median", "t_half_s", "window",
              "on_off"}


def _series(frame: pd.DataFrame) -> dict[str, list[Any]]:
    """Row indices of each curve: per measurement, and per chip on a packaged bench."""
    chip = frame["chip"] if "chip" in frame else pd.Series("", index=frame.index)
    out: dict[str, list[Any]] = {}
    for idx, m, c in zip(frame.index, frame["measurement"], chip, strict=True):
        name = str(m) if c == "" or pd.isna(c) else f"{m} chip {int(c)}"
        out.setdefault(name, []).append(idx)
    return out


def figures_vs_condition(frame: pd.DataFrame, column: str, label: str, out_dir: Path,
                         title: str) -> list[str]:
    """``campaign_<figure>.png`` per plotted figure: one curve per measurement (and chip) vs
    ``column``."""
    out = []
    x_all = pd.to_numeric(frame[column], errors="coerce")
    for figure, units in PLOTTED.items():
        if figure not in frame:
            continue
        y_all = pd.to_numeric(frame[figure], errors="coerce")
        if not y_all.notna().any():
            continue
        fig, ax = plt.subplots(figsize=(5.6, 3.6), dpi=110)
        for name, idx in _series(frame).items():
            x, y = x_all[idx].to_numpy(float), y_all[idx].to_numpy(float)
            ok = np.isfinite(x) & np.isfinite(y)
            if ok.any():
                ax.plot(x[ok], y[ok], "o-", ms=4, label=str(name))
        positive = y_all[y_all > 0]
        if figure in _LOG_SCALE and len(positive) and (y_all.dropna() > 0).all():
            ax.set_yscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel(f"{figure} ({units})" if units else figure)
        ax.set_title(f"{title}: {figure} vs {label.split(' (')[0]}")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = Path(out_dir) / f"campaign_{figure}.png"
        fig.savefig(path)
        plt.close(fig)
        out.append(str(path))
    return out


def arrhenius_figure(campaign: Any, cursor: Any, fit: dict[str, Any], out_dir: Path) -> str:
    """``arrhenius.png``: window vs bake time per set point and the Arrhenius plot with E_a
    (:func:`procedures.data.figures.retention_arrhenius`)."""
    from procedures.data.figures import retention_arrhenius

    curves: dict[float, tuple[np.ndarray, np.ndarray]] = {}
    for e in cursor.entries:
        spec = campaign.measurements[e.index]
        t = e.condition.get("set_point_c")
        if not e.counted or spec.procedure != "retention" or t is None or not e.file:
            continue
        curve = retention_curve(e.file)
        if curve is not None:
            curves[float(t)] = curve
    t_half = {float(k): float(v) for k, v in fit["t_half_s"].items()}
    ea = fit["ea_ev"] if fit["ea_ev"] is not None else math.nan
    return retention_arrhenius(curves, t_half, ea, Path(out_dir) / "arrhenius.png")


__all__ = ["arrhenius_figure", "figures_vs_condition"]
