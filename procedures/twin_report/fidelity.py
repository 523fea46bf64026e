"""Fidelity report of the physics twin: every reference of physics.md measured through the bench.

:func:`build_report` opens a fresh simulated bench (fixed seed), runs the measurements of
:mod:`procedures.twin_report.measurements` through the instruments (B1500, WGFMU, prober heater,
chip
controller; the procedures of this package where one exists) and returns :class:`Row` objects:
quantity | reference | twin (measured) | verdict. Every verdict is computed from the measured
numbers by the row's check, never written by hand. :func:`render_markdown` writes the table of
``docs/twin-fidelity.md``; ``memprobe twin-report`` (``gui/cli_twin.py``) is the command.

Verdicts: ``agrees`` (inside the reference range), ``close`` (within the stated slack of it),
``differs``, ``not modelled`` (the twin has no model of it; said so rather than faked), ``not
measured`` (modelled, but not measured through the instruments by this report), ``not
applicable`` (on a packaged bench: the quantity needs the prober, e.g. its hot chuck).

The report runs on the wafer bench (``simulated``, die 9,9) or on a packaged bench
(``simulated-packaged``, the chip in socket 0, selected by the board multiplexer): the same
measurements through the same procedures; a measurement marked :func:`needs_prober` is one
``not applicable`` row there, and the rows of a measurement that needs the prober only in part
say so themselves (:meth:`Context.not_applicable`).
"""

from __future__ import annotations

import logging
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from instruments.bench_types import BenchInterface

log = logging.getLogger(__name__)

AGREES = "agrees"
CLOSE = "close"
DIFFERS = "differs"
NOT_MODELLED = "not modelled"
NOT_MEASURED = "not measured"
NOT_APPLICABLE = "not applicable"
PACKAGED = "not applicable on a packaged bench"


@dataclass
class Row:
    """One line of the report.

    Attributes:
        quantity: what is compared.
        reference: the published or estimated reference (physics.md wording).
        twin: the twin's measured value(s), as text.
        verdict: ``agrees``, ``close``, ``differs`` or ``not modelled``.
        how: how it was measured (procedure / instrument path, cells).
        values: the measured numbers the verdict was computed from.
    """

    quantity: str
    reference: str
    twin: str
    verdict: str
    how: str = ""
    values: dict[str, float] = field(default_factory=dict)


def judge(ok: bool, close: bool = False) -> str:
    """Verdict from the two checks of a row."""
    if ok:
        return AGREES
    return CLOSE if close else DIFFERS


def in_range(x: float, lo: float, hi: float, slack: float = 0.0) -> str:
    """``agrees`` if lo <= x <= hi, ``close`` within ``slack`` (relative) outside, else differs."""
    if not math.isfinite(x):
        return DIFFERS
    ok = lo <= x <= hi
    near = lo * (1 - slack) <= x <= hi * (1 + slack) if slack else False
    return judge(ok, near)


@dataclass
class Context:
    """What a measurement needs: the open bench, data root, catalog, size, figure folder (and
    the wafer seed and model parameters, for a measurement that opens a bench of its own)."""

    bench: BenchInterface
    root: Path
    catalog: Any
    quick: bool
    figures: Path | None
    die: str = "9,9"
    results: dict[str, Any] = field(default_factory=dict)
    seed: int = 1
    params: Any = None
    chip: int = 0
    """Packaged bench: the socket of the measured chip."""

    def n(self, full: int, quick: int) -> int:
        """Cell or repeat count for the report size."""
        return quick if self.quick else full

    @property
    def packaged(self) -> bool:
        """The bench has no prober (packaged chips on a board)."""
        return self.bench.prober is None

    def target(self, proc: Any) -> None:
        """Point a procedure at the report's device: the die on a wafer bench, the chip's
        socket on a packaged one."""
        if self.packaged:
            proc.chip = self.chip
        else:
            proc.die = self.die

    def separate(self) -> None:
        """Separate the chuck (a packaged bench has nothing to separate)."""
        if self.bench.prober is not None:
            self.bench.prober.separate()

    def not_applicable(self, quantity: str, reference: str, why: str) -> Row:
        """The row of a quantity a packaged bench cannot measure, saying why."""
        return Row(quantity, reference, f"{PACKAGED} ({why})", NOT_APPLICABLE)

    def where(self) -> str:
        """The measured device, in words."""
        if not self.packaged:
            return f"die {self.die}"
        die = self.bench.chip_die(self.chip)
        return f"chip {self.chip}" + (f" (die {die[0]},{die[1]})" if die else "")


Measurement = Callable[[Context], list[Row]]


def needs_prober(why: str) -> Callable[[Measurement], Measurement]:
    """Mark a measurement that a packaged bench cannot run at all (``why``: what it needs);
    :func:`build_report` writes its ``not applicable`` row there."""
    def mark(measure: Measurement) -> Measurement:
        setattr(measure, "needs_prober", why)  # noqa: B010 (an attribute of the function)
        return measure
    return mark


def build_report(quick: bool = False, seed: int = 1, figures: Path | None = None,
                 data_root: Path | None = None, only: list[str] | None = None,
                 params: Any = None, bench: str | Path = "simulated", chip: int = 0,
                 ) -> tuple[list[Row], dict[str, Any]]:
    """Run every measurement on a fresh simulated bench; returns (rows, run information).

    Args:
        quick: fewer cells and shorter runs (a test runs this).
        seed: wafer seed.
        figures: folder for the PNG figures (None: no figures).
        data_root: data root (None: a temporary folder, removed afterwards).
        only: names of the measurements to run (default all, in order).
        params: device-model parameters (:class:`~instruments.sim.rram_params.RRAMParams`) to
            measure instead of the defaults (a refit).
        bench: the simulated bench to measure (name or file): ``simulated`` (wafer, prober)
            or ``simulated-packaged`` (chips on a board; rows needing the prober are ``not
            applicable``).
        chip: packaged bench: the socket of the chip to measure.
    """
    from instruments.bench import Bench
    from procedures.framework.catalog import Catalog
    from procedures.twin_report import measurements as twin_measurements
    from procedures.twin_report import radiation as twin_radiation
    from procedures.twin_report import reliability as twin_reliability
    from procedures.twin_report import statistics as twin_statistics

    measurements = (twin_measurements.MEASUREMENTS + twin_reliability.MEASUREMENTS
                    + twin_statistics.MEASUREMENTS + twin_radiation.MEASUREMENTS)

    tmp = None
    if data_root is None:
        tmp = tempfile.TemporaryDirectory(prefix="memprobe-twin-")
        data_root = Path(tmp.name)
    t0 = time.perf_counter()
    rows: list[Row] = []
    timings: dict[str, float] = {}
    figs: dict[str, str] = {}
    where = ""
    try:
        overrides = {"params": params} if params is not None else None
        with Bench.open(bench, data_dir=data_root, fresh=True, seed=seed,
                        lab_overrides=overrides) as opened:
            ctx = Context(opened, data_root, Catalog(data_root), quick, figures, seed=seed,
                          params=params, chip=chip)
            where = ctx.where()
            for name, measure in measurements:
                if only and name not in only:
                    continue
                why = getattr(measure, "needs_prober", None)
                if ctx.packaged and why:
                    rows.append(ctx.not_applicable(name, "", why))
                    continue
                t1 = time.perf_counter()
                try:
                    rows += measure(ctx)
                except Exception as exc:  # a broken measurement is reported, not hidden
                    log.exception("measurement %s failed", name)
                    rows.append(Row(name, "", f"measurement failed: {exc}", DIFFERS))
                timings[name] = time.perf_counter() - t1
            figs = dict(ctx.results.get("figures", {}))
    finally:
        if tmp is not None:
            tmp.cleanup()
    info = {"seed": seed, "quick": quick, "seconds": time.perf_counter() - t0,
            "timings": timings, "figures": figs, "bench": str(bench), "where": where}
    return rows, info


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(rows: list[Row], info: dict[str, Any],
                    figures: dict[str, str] | None = None) -> str:
    """The report as Markdown (``docs/twin-fidelity.md``)."""
    kinds = (AGREES, CLOSE, DIFFERS, NOT_MODELLED, NOT_MEASURED, NOT_APPLICABLE)
    counts = {v: sum(r.verdict == v for r in rows) for v in kinds}
    bench = info.get("bench", "simulated")
    where = info.get("where") or "die 9,9"
    lines = [
        "# Twin fidelity report",
        "",
        "Generated by `memprobe twin-report` (`procedures/twin_report/fidelity.py`,",
        "`procedures/twin_report/measurements.py`): a fresh simulated bench "
        + (f"`{bench}` " if bench != "simulated" else "")
        + f"(wafer seed {info['seed']}, {where}), every quantity measured through the "
        "instruments (B1500, WGFMU,",
        "prober heater, chip controller) with the procedures of MemProbe, against the references",
        "of `physics.md` ([F] published, [E] estimate). Verdicts are computed from the measured",
        "numbers. Do not edit by hand; rerun the command after changing the model",
        "(`instruments/sim/rram_params.py`).",
        "",
        f"Summary: {counts[AGREES]} agree, {counts[CLOSE]} close, {counts[DIFFERS]} differ, "
        f"{counts[NOT_MODELLED]} not modelled, {counts[NOT_MEASURED]} not measured"
        + (f", {counts[NOT_APPLICABLE]} not applicable" if counts[NOT_APPLICABLE] else "")
        + f"{' (quick run)' if info.get('quick') else ''}; run time {info['seconds']:.0f} s.",
        "",
        "| quantity | reference | twin (measured) | verdict | how |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {_cell(r.quantity)} | {_cell(r.reference)} | {_cell(r.twin)} | "
                     f"**{r.verdict}** | {_cell(r.how)} |")
    if figures:
        lines += ["", "## Figures", ""]
        for title, path in figures.items():
            lines += [f"![{title}]({path})", ""]
    return "\n".join(lines) + "\n"


__all__ = [
    "AGREES", "CLOSE", "DIFFERS", "NOT_APPLICABLE", "NOT_MEASURED", "NOT_MODELLED", "PACKAGED",
    "Context", "Row", "build_report", "in_range", "judge", "needs_prober", "render_markdown",
]
