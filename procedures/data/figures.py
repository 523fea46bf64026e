"""Headless figures (matplotlib, Agg backend) of simulated-bench results: PNG files for docs.

No Qt: the Agg backend renders to files only. Functions return the path they wrote.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from procedures.data.extract import inverse_kt  # noqa: E402


def _subplots(path: Path, **kw: Any) -> tuple[Path, Any, Any]:
    """(path, figure, axes) of a new figure to be written at ``path`` (its folder made)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(dpi=110, **kw)
    return path, fig, axes


def _written(fig: Any, path: Path) -> str:
    """Lay out, write and close ``fig``; the path written."""
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return str(path)


def potentiation_depression(pot: Any, dep: Any, path: Path) -> str:
    """G (uS) vs pulse number: ``dep`` (RESET train) then ``pot`` (SET train).

    ``pot``/``dep`` are tables (pandas) indexed by pulse number, one column per cell (S).
    """
    path, fig, ax = _subplots(path, figsize=(6.4, 3.6))
    n_dep = int(dep.index.max())
    for col in dep.columns:
        x = np.concatenate([dep.index.to_numpy(), n_dep + pot.index.to_numpy()])
        y = np.concatenate([dep[col].to_numpy(), pot[col].to_numpy()]) * 1e6
        ax.plot(x, y, color="0.75", lw=0.8)
    ax.plot(dep.index, dep.median(axis=1) * 1e6, "o-", ms=3, color="tab:red",
            label="depression: RESET SL 1.3 V, WL 2.5 V, 1 us")
    ax.plot(n_dep + pot.index.to_numpy(), pot.median(axis=1) * 1e6, "o-", ms=3,
            color="tab:blue", label="potentiation: SET BL 1.5 V, 1 us, WL 0.8 V + 20 mV/pulse")
    ax.set_xlabel("pulse number")
    ax.set_ylabel("read conductance (uS)")
    ax.set_title("Identical pulses on the simulated bench (median and cells)")
    ax.legend(fontsize=8)
    return _written(fig, path)


def retention_arrhenius(curves: dict[float, tuple[np.ndarray, np.ndarray]],
                        t_half: dict[float, float], ea: float, path: Path) -> str:
    """Window vs bake time per temperature (left) and the Arrhenius plot of t_half (right)."""
    path, fig, (a, b) = _subplots(path, ncols=2, figsize=(8.0, 3.4))
    for temp, (t, w) in sorted(curves.items()):
        a.semilogx(np.maximum(t, 1.0), w, "o-", ms=3, label=f"{temp:.0f} C")
    a.set_xlabel("bake time (s)")
    a.set_ylabel("G_LRS / G_HRS (median)")
    a.set_title("Retention bakes")
    a.legend(fontsize=8)
    ok = {k: v for k, v in t_half.items() if math.isfinite(v)}
    if ok:
        x = np.array([inverse_kt(k) for k in ok])
        y = np.array(list(ok.values()))
        b.semilogy(x, y, "s", color="tab:red", label="half-window time")
        if len(ok) >= 2 and math.isfinite(ea):
            fit = np.polyfit(x, np.log(y), 1)
            xx = np.linspace(x.min() - 1, x.max() + 1, 20)
            b.semilogy(xx, np.exp(np.polyval(fit, xx)), "--", color="0.4",
                       label=f"E_a = {ea:.2f} eV")
    b.set_xlabel("1 / kT (1/eV)")
    b.set_ylabel("t_half (s)")
    b.set_title("Arrhenius plot")
    b.legend(fontsize=8)
    return _written(fig, path)


def endurance_strengths(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path) -> str:
    """Window (R_HRS / R_LRS) vs cycles for several programming strengths."""
    path, fig, ax = _subplots(path, figsize=(6.0, 3.4))
    for name, (c, r) in curves.items():
        ax.loglog(c, r, "o-", ms=3, label=name)
    ax.set_xlabel("cycles")
    ax.set_ylabel("R_HRS / R_LRS")
    ax.legend(fontsize=7)
    return _written(fig, path)


__all__ = ["endurance_strengths", "potentiation_depression", "retention_arrhenius"]
