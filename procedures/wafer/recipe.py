"""Wafer recipes: a TOML file describing what to measure on which dies, and how to bin them.

(The recipe model and its limit checks; the file schema is :mod:`procedures.wafer.recipe_schema`
and :mod:`procedures.wafer.recipe_build`, route planning :mod:`procedures.wafer.route`, bin
rules :mod:`procedures.wafer.binning`.)

A recipe names the wafer (identity and map geometry), the route over its dies, the subsites of a
die, the steps run on every die/subsite (a procedure with parameters and cells, optionally a
design-of-experiment split of one parameter over groups of cells, optionally a chuck
temperature), the contact check, the fault policy and the bin rules. A complete, commented
example is ``resources/recipes/demo-wafer.toml`` (see the README's "Wafer runs" section).

Everything is checked by :func:`load_recipe` (the pydantic schema of
:mod:`procedures.wafer.recipe_schema`: unknown keys, types, bounds, route, bins) and
:meth:`Recipe.validate` (every procedure run the recipe will make is built and validated against
the bench's safety limits). Errors are :class:`RecipeError` naming the file, the line (when it can
be found) and the key, e.g. ``demo.toml:31: steps[0].params.v_stop: 9 V on BL exceeds ...``.

Die indices: internally (prober, outputs) dies are the prober map's (col, row) with (0, 0) at the
top-left of the bounding grid, col to the right, row downwards (:mod:`instruments.wafermap`).
A recipe may count from another corner (``origin``); its route is converted when loaded.

Bin rules are tried in order; the first rule whose limits all hold gives the die's bin (a rule
without limits always matches). A limit names a column of the wafer summary,
``"<step>.<figure>"`` (median over the die's devices), ``"<step>.<figure>_p5"`` / ``_p95``, or
``"<step>[<param>=<value>].<figure>"`` for one split group; a missing or NaN figure fails the
limit. Special bins (``special = "no-contact" | "short" | "fault"``) are given by the executor;
defaults are added when a recipe does not define them (80 no contact, 81 short, 90 fault, and
99 fail as the catch-all).

The wafer, route and subsite parts are :mod:`procedures.wafer.wafer_spec`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from instruments.limits import SafetyLimits
from instruments.tomlschema import TomlError, find_line, key_path, named_toml, parse_toml
from instruments.wafermap import DieIndex, WaferMap
from procedures.framework.base import set_parameters
from procedures.wafer.binning import (
    NULL_BIN,
    BinRule,
    evaluate_bins,
    special_bin,
)
from procedures.wafer.route import RouteError, plan_route
from procedures.wafer.wafer_spec import RouteSpec, SubsiteSpec, WaferSpec

RECIPE_DIR = Path(__file__).resolve().parents[2] / "resources" / "recipes"
ORIGINS = ("top-left", "top-right", "bottom-left", "bottom-right")

#: procedures known to leave cells unchanged (allowed on the contact reference cells)
_READ_ONLY = {"conductance-map": {"pattern": "none", "form_first": False}}

#: shared target parameters the executor sets itself
_EXECUTOR_PARAMS = ("die", "subsite", "lot", "wafer_id")


class RecipeError(TomlError):
    """A recipe is malformed or unsafe; names the file, line (if found) and key."""

    def __init__(self, message: str, key: str = "", line: int | None = None,
                 source: str = "") -> None:
        super().__init__(message, key, line, source or "recipe")


# ------------------------------------------------------------------------------------------------
# Parts of a recipe
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SplitSpec:
    """A design-of-experiment split: ``param`` takes ``values[k]`` on cell group k.

    Attributes:
        param: procedure parameter that varies.
        values: one value per group.
        cells: explicit cell text per group; None = the step's cells cut into equal groups
            (in selection order).
    """

    param: str
    values: tuple[Any, ...]
    cells: tuple[str, ...] | None = None


@dataclass(frozen=True)
class StepRun:
    """One procedure run of a step on one die/subsite (one split group, or the whole step)."""

    step_index: int
    split_index: int
    cells: str
    params: dict[str, Any]
    split_param: str = ""
    split_value: Any = None

    @property
    def split_label(self) -> str:
        """``param=value`` or empty."""
        if not self.split_param:
            return ""
        v = self.split_value
        return f"{self.split_param}={v:g}" if isinstance(v, float) else f"{self.split_param}={v}"


@dataclass(frozen=True)
class StepSpec:
    """One step run on every die/subsite.

    Attributes:
        name: label (summary columns are ``<name>.<figure>``); default the procedure name.
        procedure: procedure command-line name (``forming``, ``iv-cycling``, ...).
        params: procedure parameters.
        cells: cell selection text (``procedures.framework.targets``); None = the procedure's
        default.
        array: ``1T1R``/``2T2R``; None = the procedure's default.
        split: optional design-of-experiment split.
        temperature_c: chuck set point for this step (C), None = leave as is.
        cycle_limits: per-cycle limits ``figure -> (lo, hi)`` for cycling steps (r_lrs, r_hrs,
            on_off): the summary reports the cycle at which each device first fell outside.
    """

    name: str
    procedure: str
    params: dict[str, Any] = field(default_factory=dict)
    cells: str | None = None
    array: str | None = None
    split: SplitSpec | None = None
    temperature_c: float | None = None
    cycle_limits: dict[str, tuple[float, float]] = field(default_factory=dict)

    def runs(self, index: int) -> list[StepRun]:
        """The procedure runs of this step (one per split group); ``index`` is the step's."""
        from procedures.framework.targets import format_cells, parse_cells

        base = dict(self.params)
        if self.array is not None:
            base["array"] = self.array
        if self.split is None:
            if self.cells is not None:
                base["cells"] = self.cells
            return [StepRun(index, 0, str(base.get("cells", "")), base)]
        sp = self.split
        if sp.cells is not None:
            groups = list(sp.cells)
        else:
            cells = parse_cells(self.cells or "0,0", self.array or "1T1R")
            n = len(sp.values)
            size, extra = divmod(len(cells), n)
            groups, start = [], 0
            for k in range(n):
                stop = start + size + (1 if k < extra else 0)
                groups.append(format_cells(cells[start:stop]))
                start = stop
        out = []
        for k, (value, cells_text) in enumerate(zip(sp.values, groups, strict=True)):
            params = {**base, "cells": cells_text, sp.param: value}
            out.append(StepRun(index, k, cells_text, params, sp.param, value))
        return out


@dataclass(frozen=True)
class ContactSpec:
    """Contact verification before measuring a die/subsite.

    A quick read of reference cells (which no step may program): with contact the BL-SL path
    through an unformed 1T1R cell leaks ~1-10 nA at 0.2 V; separated or on an open die only the
    noise floor (~pA) is read; a shorted die reads the short (G far above any unformed cell).

    Attributes:
        enabled: check at all (False: contact is assumed).
        array, cells: the reference cells.
        v_read: V on BL (SL 0 V). v_wl: V on WL. compliance: A.
        i_min_a: median |I| above which the die counts as contacted, A.
        g_short_siemens: every reference cell above this conductance (S) = shorted die.
        z_step_um: progressive contact: Z step above contact height after a failed check, um.
        max_tries: Z steps tried after the first touchdown (0 = none).
    """

    enabled: bool = True
    array: str = "1T1R"
    cells: str = "31,28-31"
    v_read: float = 0.2
    v_wl: float = 2.5
    compliance: float = 1e-4
    i_min_a: float = 1e-10
    g_short_siemens: float = 5e-5
    z_step_um: float = 5.0
    max_tries: int = 2


@dataclass(frozen=True)
class ChuckSpec:
    """Chuck temperature of the run.

    Attributes:
        temperature_c: set point before the first die (C); None = leave as is.
        soak_s: extra wait after the station reports the set point reached and soaked, s.
        heater_timeout_s: longest wait for a set point, s.
    """

    temperature_c: float | None = None
    soak_s: float = 0.0
    heater_timeout_s: float = 7200.0


@dataclass(frozen=True)
class FaultSpec:
    """What a fault (instrument error, timeout, failed step) does.

    Attributes:
        on_fault: ``retry`` (make safe, re-contact and redo the failed step once, then give the
            die the fault bin) or ``next-die`` (fault bin at once).
        max_consecutive: stop the run after this many dies in a row ended with a fault.
    """

    on_fault: str = "retry"
    max_consecutive: int = 3


# ------------------------------------------------------------------------------------------------
# The recipe
# ------------------------------------------------------------------------------------------------
@dataclass
class Recipe:
    """A parsed recipe. Build with :func:`load_recipe` / :func:`parse_recipe`."""

    name: str
    description: str
    wafer: WaferSpec
    route: RouteSpec
    subsites: list[SubsiteSpec]
    steps: list[StepSpec]
    contact: ContactSpec
    chuck: ChuckSpec
    faults: FaultSpec
    bins: list[BinRule]
    maps: list[str] = field(default_factory=list)
    text: str = ""
    source: str = ""

    # -- identity -------------------------------------------------------------------------------
    @property
    def sha256(self) -> str:
        """Hash of the recipe text (a resumed run checks the recipe did not change)."""
        return hashlib.sha256(self.text.encode()).hexdigest()

    def error(self, key: str, message: str, path: tuple[Any, ...] | None = None) -> RecipeError:
        """A RecipeError for ``key`` with the line found in the recipe text."""
        return RecipeError(message, key, find_line(self.text, path or key_path(key)),
                           self.source)

    # -- route ----------------------------------------------------------------------------------
    def wafer_map(self) -> WaferMap:
        """The wafer map geometry."""
        return self.wafer.wafer_map()

    def plan_route(self, dies: list[DieIndex] | None = None) -> list[DieIndex]:
        """The dies to visit in order (map indices).

        Args:
            dies: restrict to these dies (recipe indices, kept in route order); a die that is
                not on the map raises RecipeError.
        """
        try:
            return plan_route(self.wafer, self.route, dies)
        except RouteError as exc:
            raise RecipeError(str(exc), exc.key) from None

    # -- runs and validation ----------------------------------------------------------------------
    def step_runs(self) -> list[StepRun]:
        """Every procedure run of one die/subsite, in order."""
        return [run for k, step in enumerate(self.steps) for run in step.runs(k)]

    def build(self, run: StepRun, die: DieIndex | None = None, subsite: int = 0) -> Any:
        """A procedure instance for ``run`` (target parameters set; not yet validated)."""
        from procedures.framework.registry import procedure_class
        from procedures.framework.targets import target_settings

        step = self.steps[run.step_index]
        proc = procedure_class(step.procedure)()
        w = self.wafer
        settings = {**run.params, **target_settings(w.lot, w.wafer_id, w.operator, subsite, die)}
        set_parameters(proc, settings)
        return proc

    def validate(self, limits: SafetyLimits) -> None:
        """Build every procedure run and validate it against ``limits``; check temperatures and
        the contact check. Raises RecipeError naming the step key; nothing is applied."""
        c = self.contact
        try:
            limits.check_voltage("BL", c.v_read)
            limits.check_voltage("WL", c.v_wl)
            limits.check_compliance(c.compliance, c.v_read)
        except ValueError as exc:
            raise self.error("contact", str(exc)) from None
        for key, temp in [("chuck.temperature_c", self.chuck.temperature_c)] + [
            (f"steps[{k}].temperature_c", s.temperature_c) for k, s in enumerate(self.steps)
        ]:
            if temp is not None:
                try:
                    limits.check_temperature(temp)
                except ValueError as exc:
                    raise self.error(key, str(exc)) from None
        for k, step in enumerate(self.steps):
            try:
                runs = step.runs(k)
            except ValueError as exc:
                raise self.error(f"steps[{k}].cells", str(exc)) from None
            for run in runs:
                try:
                    self.build(run).validate(limits)
                except (KeyError, ValueError) as exc:
                    raise self._run_error(run, exc, limits) from None

    def _run_error(self, run: StepRun, exc: Exception, limits: SafetyLimits) -> RecipeError:
        """A RecipeError for a run that does not validate, naming the parameter at fault.

        Limit messages name a terminal, not a parameter: the culprit is the recipe parameter
        whose removal (back to the procedure default) makes the run validate.
        """
        k = run.step_index
        step = self.steps[k]
        text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
        candidates = ([step.split.param] if step.split else []) + list(step.params)
        culprit = None
        for name in candidates:
            trial = StepRun(k, run.split_index, run.cells,
                            {n: v for n, v in run.params.items() if n != name})
            try:
                self.build(trial).validate(limits)
            except (KeyError, ValueError):
                continue
            culprit = name
            break
        if culprit is None:
            culprit = next((n for n in [*candidates, "cells", "array"]
                            if re.search(rf"\b{re.escape(n)}\b", text)), None)
        if step.split is not None and culprit == step.split.param:
            key, path = f"steps[{k}].split.values", ("steps", k, "split", "values")
            text = f"{run.split_label}: {text}"
        elif culprit in step.params:
            key, path = f"steps[{k}].params.{culprit}", ("steps", k, "params", culprit)
        elif culprit in ("cells", "array"):
            key, path = f"steps[{k}].{culprit}", ("steps", k, culprit)
        else:
            key, path = f"steps[{k}]", ("steps", k, "procedure")
        return RecipeError(f"({step.name}: {step.procedure}) {text}", key,
                           find_line(self.text, path), self.source)

    # -- bins -----------------------------------------------------------------------------------
    def bin_table(self) -> dict[int, BinRule]:
        """Every bin by code (rules and special bins)."""
        return {b.code: b for b in self.bins}

    def special_bin(self, kind: str) -> BinRule:
        """The bin for ``no-contact``, ``short`` or ``fault``."""
        return special_bin(self.bins, kind)

    def evaluate_bins(self, figures: dict[str, Any]) -> BinRule:
        """The first (non-special) rule whose limits hold on ``figures``."""
        return evaluate_bins(self.bins, figures)


# ------------------------------------------------------------------------------------------------
# Loading
# ------------------------------------------------------------------------------------------------
def recipe_path(name_or_path: str | Path) -> Path:
    """A recipe file: a path, or a name in ``resources/recipes`` (``demo-wafer``)."""
    return named_toml(name_or_path, RECIPE_DIR, "recipe", RecipeError)


def load_recipe(name_or_path: str | Path) -> Recipe:
    """Read and check a recipe file (structure only; see :meth:`Recipe.validate`)."""
    from instruments.tomlschema import read_toml_text

    path = recipe_path(name_or_path)
    return parse_recipe(read_toml_text(path, RecipeError), str(path))


def parse_recipe(text: str, source: str = "recipe") -> Recipe:
    """Parse recipe TOML text against :mod:`procedures.wafer.recipe_schema`; RecipeError naming the
    line/key of the first problem."""
    from procedures.wafer.recipe_build import build_recipe

    doc = parse_toml(text, source, RecipeError)
    return build_recipe(doc, text, source)


def _read_only(step: StepSpec) -> bool:
    need = _READ_ONLY.get(step.procedure)
    if need is None:
        return False
    return all(step.params.get(k, v) == v for k, v in need.items())


__all__ = [
    "BinRule", "ChuckSpec", "ContactSpec", "FaultSpec", "NULL_BIN", "RECIPE_DIR", "Recipe",
    "RecipeError", "RouteSpec", "SplitSpec", "StepRun", "StepSpec", "SubsiteSpec", "WaferSpec",
    "find_line", "load_recipe", "parse_recipe", "recipe_path", "set_parameters",
]
