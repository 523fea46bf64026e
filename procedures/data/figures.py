"""Headless figures (matplotlib, Agg) of results: PNG files for docs and beside a run's results.

No Qt and no pyplot state: each figure is a :class:`matplotlib.figure.Figure` of its own (safe
in a procedure's worker thread; matplotlib is imported with the first figure), rendered by Agg
to a file. Functions return the path they wrote. :func:`curve_figure` draws titled line plots
with units on both axes (the learning procedures' curves); :func:`figure_beside` writes a run's
figure next to its results file. A PNG's text entries carry ``Title``, ``xlabel``, ``ylabel``
and ``curves`` (the legend labels, ``;``-joined) so a reader (or a test) can tell what a figure
shows without looking at its pixels.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from procedures.data.extract import inverse_kt

log = logging.getLogger(__name__)


def _subplots(path: Path, **kw: Any) -> tuple[Path, Any, Any]:
    """(path, figure, axes) of a new figure to be written at ``path`` (its folder made).
    matplotlib is imported here, not with the module: importing a procedure stays cheap."""
    from matplotlib.figure import Figure

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = Figure(dpi=110, figsize=kw.pop("figsize", None))
    axes = fig.subplots(**kw)
    return path, fig, axes


def _written(fig: Any, path: Path, metadata: dict[str, str] | None = None) -> str:
    """Lay out and write ``fig`` (PNG text entries ``metadata``); the path written."""
    fig.tight_layout()
    fig.savefig(path, metadata=metadata)
    return str(path)


@dataclass(frozen=True)
class Curve:
    """One line of a :func:`curve_figure`: ``x`` and ``y`` values (in the axes' units), the
    legend ``label`` and a matplotlib format ``style`` (e.g. ``"o-"``)."""

    label: str
    x: Sequence[float]
    y: Sequence[float]
    style: str = "o-"


def curve_figure(curves: Sequence[Curve], path: Path, *, title: str, xlabel: str, ylabel: str,
                 hlines: dict[str, float] | None = None, vlines: dict[str, float] | None = None,
                 xscale: str = "linear", ylim: tuple[float, float] | None = None,
                 xticks: dict[float, str] | None = None, integer_x: bool = False) -> str:
    """Line plot of ``curves`` with a ``title``, axis labels (units in them, e.g.
    ``"test accuracy (%)"``), dashed horizontal reference lines ``hlines`` (label -> y) and
    dotted vertical markers ``vlines`` (label -> x); ``xscale`` as matplotlib's
    (``"symlog"`` for counts from 0: the axis starts at 0, linear up to 1); ``xticks``
    (x -> label) names categories on the x axis; ``integer_x`` puts ticks on whole numbers only
    (epochs, iterations). Returns the path written."""
    path, fig, ax = _subplots(path, figsize=(6.4, 3.8))
    for c in curves:
        x, y = np.asarray(c.x, dtype=float), np.asarray(c.y, dtype=float)
        ok = np.isfinite(x) & np.isfinite(y)
        ax.plot(x[ok], y[ok], c.style, ms=3, label=c.label)
    for k, (label, y) in enumerate((hlines or {}).items()):
        if y is not None and math.isfinite(y):
            ax.axhline(y, ls="--", lw=1, color=f"C{(len(curves) + k) % 10}", label=label)
    for label, x in (vlines or {}).items():
        ax.axvline(x, ls=":", lw=1, color="0.45", label=label)
    if xscale == "symlog":
        ax.set_xscale("symlog", linthresh=1.0)
        top = max((float(np.nanmax(np.asarray(c.x, dtype=float))) for c in curves if len(c.x)),
                  default=1.0)
        ax.set_xlim(0.0, max(top, 1.0) * 2.0)
    else:
        ax.set_xscale(xscale)
    if integer_x:
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if xticks:
        ax.set_xticks(list(xticks), list(xticks.values()))
        ax.set_xlim(min(xticks) - 0.5, max(xticks) + 0.5)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    labels = [c.label for c in curves] + list(hlines or {}) + list(vlines or {})
    return _written(fig, path, {"Title": title, "xlabel": xlabel, "ylabel": ylabel,
                                "curves": ";".join(labels)})


def figure_beside(results_file: Any, name: str, draw: Callable[[Path], str]) -> str:
    """Draw a run's figure as ``<results stem>-<name>.png`` beside its results file with
    ``draw(path)``; the path written, or "" when the run has no results file or drawing failed
    (logged as an error: the data are on disk, the figure can be drawn again from them)."""
    if not results_file:
        return ""
    path = Path(results_file)
    try:
        return draw(path.with_name(f"{path.stem}-{name}.png"))
    except Exception as exc:
        log.error("%s figure of %s not written: %s", name, path.name, exc)
        return ""


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


__all__ = ["Curve", "curve_figure", "endurance_strengths", "figure_beside",
           "potentiation_depression", "retention_arrhenius"]
