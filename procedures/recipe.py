"""Wafer recipes: a TOML file describing what to measure on which dies, and how to bin them.

A recipe names the wafer (identity and map geometry), the route over its dies, the subsites of a
die, the steps run on every die/subsite (a procedure with parameters and cells, optionally a
design-of-experiment split of one parameter over groups of cells, optionally a chuck
temperature), the contact check, the fault policy and the bin rules. Example::

    name = "demo"

    [wafer]
    lot = "LOT42"
    wafer_id = "W07"
    diameter_mm = 200.0          # wafer diameter, mm
    die_width_um = 10000.0       # die pitch along x, um
    die_height_um = 10000.0      # die pitch along y, um
    edge_exclusion_mm = 3.0      # mm
    origin = "top-left"          # corner of die (0, 0) in this recipe's die indices

    [route]
    mode = "list"                # all | list | region
    dies = [[9, 9], [10, 9]]     # (col, row) in this recipe's indices
    order = "row"                # row | column (which index runs fastest)
    pattern = "serpentine"       # serpentine | one-way

    [[steps]]
    name = "form"
    procedure = "forming"
    cells = "0,0-11"
    params = { v_stop = 4.0 }
    split = { param = "compliance", values = [50e-6, 100e-6, 200e-6] }

    [[bins]]
    code = 1
    name = "good"
    pass = true
    color = "#2e7d32"
    limits = { "form.v_form" = [2.0, 3.5] }

Everything is checked by :func:`load_recipe` (structure: unknown keys, types, route, bins) and
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
"""

from __future__ import annotations

import hashlib
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from instruments.limits import SafetyLimits
from instruments.wafermap import DieIndex, WaferMap
from procedures.base import set_parameters

RECIPE_DIR = Path(__file__).resolve().parent.parent / "resources" / "recipes"
ORIGINS = ("top-left", "top-right", "bottom-left", "bottom-right")
SPECIAL_BINS = ("no-contact", "short", "fault")
NULL_BIN = 255
"""Bin code reserved for 'no die' in the SEMI G85 export."""

#: procedures known to leave cells unchanged (allowed on the contact reference cells)
_READ_ONLY = {"conductance-map": {"pattern": "none", "form_first": False}}

#: shared target parameters the executor sets itself
_EXECUTOR_PARAMS = ("die", "subsite", "lot", "wafer_id")


class RecipeError(ValueError):
    """A recipe is malformed or unsafe; names the file, line (if found) and key."""

    def __init__(self, message: str, key: str = "", line: int | None = None,
                 source: str = "") -> None:
        self.message = message
        self.key = key
        self.line = line
        self.source = source
        where = source or "recipe"
        if line is not None:
            where += f":{line}"
        super().__init__(f"{where}: {key + ': ' if key else ''}{message}")


# ------------------------------------------------------------------------------------------------
# Parts of a recipe
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WaferSpec:
    """Wafer identity and map geometry.

    Attributes:
        lot, wafer_id, product, operator: identity (data folders, catalog, G85 header).
        diameter_mm: mm. die_width_um, die_height_um: die pitch, um.
        edge_exclusion_mm: mm. flat_angle_deg: notch/flat (0 bottom, 90 left, 180 top, 270 right).
        x_offset_um, y_offset_um: shift of the die grid, um.
        home: home die (map indices) or None (the die closest to the centre).
        origin: corner of the recipe's die (0, 0): top-left (the prober's), top-right,
            bottom-left or bottom-right; indices grow away from it.
        apply_to_prober: preflight writes this geometry to the prober when it differs (else a
            difference is an error).
    """

    lot: str = "LOT0"
    wafer_id: str = "W00"
    product: str = "memprobe-rram-1k"
    operator: str = ""
    diameter_mm: float = 200.0
    die_width_um: float = 10_000.0
    die_height_um: float = 10_000.0
    edge_exclusion_mm: float = 3.0
    flat_angle_deg: float = 0.0
    x_offset_um: float = 0.0
    y_offset_um: float = 0.0
    home: DieIndex | None = None
    origin: str = "top-left"
    apply_to_prober: bool = False

    def wafer_map(self) -> WaferMap:
        """The map geometry (home in map indices)."""
        return WaferMap(
            diameter_mm=self.diameter_mm, die_width_um=self.die_width_um,
            die_height_um=self.die_height_um, edge_exclusion_mm=self.edge_exclusion_mm,
            flat_angle_deg=self.flat_angle_deg, x_offset_um=self.x_offset_um,
            y_offset_um=self.y_offset_um, home=self.home,
        )

    def to_map(self, col: int, row: int, wmap: WaferMap | None = None) -> DieIndex:
        """Recipe die indices -> prober map indices (col right, row down from the top-left)."""
        m = wmap or self.wafer_map()
        c = col if self.origin.endswith("left") else m.n_cols - 1 - col
        r = row if self.origin.startswith("top") else m.n_rows - 1 - row
        return int(c), int(r)


@dataclass(frozen=True)
class RouteSpec:
    """Which dies, in which order.

    Attributes:
        mode: ``all`` (every die of the map), ``list`` (``dies`` in the given order) or
            ``region`` (the dies within ``cols``/``rows`` and ``max_radius`` of the centre).
        dies: (col, row) in recipe indices, for ``list``.
        cols, rows: inclusive index ranges (recipe indices) for ``region``; None = no limit.
        max_radius: largest die-centre distance from the wafer centre, as a fraction of the
            wafer radius (``region``).
        order: ``row`` (walk along a row, then the next row) or ``column``.
        pattern: ``serpentine`` (alternate direction) or ``one-way``.
        exclude: dies left out (recipe indices).
    """

    mode: str = "all"
    dies: tuple[DieIndex, ...] = ()
    cols: tuple[int, int] | None = None
    rows: tuple[int, int] | None = None
    max_radius: float | None = None
    order: str = "row"
    pattern: str = "serpentine"
    exclude: tuple[DieIndex, ...] = ()


@dataclass(frozen=True)
class SubsiteSpec:
    """A touchdown position inside a die: ``dx_um``, ``dy_um`` from the die centre (um)."""

    label: str
    dx_um: float
    dy_um: float


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
        cells: cell selection text (``procedures.targets``); None = the procedure's default.
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
        from procedures.targets import format_cells, parse_cells

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
        g_short_s: every reference cell above this conductance (S) = shorted die.
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
    g_short_s: float = 5e-5
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


@dataclass(frozen=True)
class BinRule:
    """A bin: code (0..254), name, pass/fail, colour and the limits that select it."""

    code: int
    name: str
    passed: bool = False
    color: str = "#c62828"
    limits: dict[str, tuple[float, float]] = field(default_factory=dict)
    special: str = ""

    def matches(self, figures: dict[str, Any]) -> bool:
        """True if every limit holds on ``figures`` (missing/NaN fails)."""
        for key, (lo, hi) in self.limits.items():
            v = figures.get(key)
            try:
                x = float(v)
            except (TypeError, ValueError):
                return False
            if not (math.isfinite(x) and lo <= x <= hi):
                return False
        return True

    def failed_limits(self, figures: dict[str, Any]) -> list[str]:
        """The limit keys that do not hold (for reports)."""
        return [k for k in self.limits if not BinRule(0, "", limits={k: self.limits[k]})
                .matches(figures)]


_DEFAULT_SPECIAL = {
    "no-contact": BinRule(80, "no contact", False, "#424242", special="no-contact"),
    "short": BinRule(81, "short", False, "#000000", special="short"),
    "fault": BinRule(90, "fault", False, "#ff6f00", special="fault"),
}
_DEFAULT_FAIL = BinRule(99, "fail", False, "#c62828")


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
        return RecipeError(message, key, find_line(self.text, path or _key_path(key)),
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
        wmap = self.wafer_map()
        w, r = self.wafer, self.route
        if r.mode == "list":
            picked = [w.to_map(c, rr, wmap) for c, rr in r.dies]
        else:
            picked = []
            for die in wmap.dies:
                rc = _from_map(w, wmap, die)
                if r.mode == "region":
                    if r.cols is not None and not r.cols[0] <= rc[0] <= r.cols[1]:
                        continue
                    if r.rows is not None and not r.rows[0] <= rc[1] <= r.rows[1]:
                        continue
                    if r.max_radius is not None and wmap.radius_fraction(*die) > r.max_radius:
                        continue
                picked.append(die)
            picked = _order(picked, r.order, r.pattern)
        excluded = {w.to_map(c, rr, wmap) for c, rr in r.exclude}
        route = [d for d in picked if d not in excluded]
        if dies is not None:
            wanted = []
            for c, rr in dies:
                d = w.to_map(c, rr, wmap)
                if d not in wmap.die_set:
                    raise RecipeError(f"die ({c}, {rr}) is not on the wafer map", "--dies")
                wanted.append(d)
            in_route = [d for d in route if d in set(wanted)]
            extra = [d for d in wanted if d not in set(route)]
            route = in_route + extra
        return route

    # -- runs and validation ----------------------------------------------------------------------
    def step_runs(self) -> list[StepRun]:
        """Every procedure run of one die/subsite, in order."""
        return [run for k, step in enumerate(self.steps) for run in step.runs(k)]

    def build(self, run: StepRun, die: DieIndex | None = None, subsite: int = 0) -> Any:
        """A procedure instance for ``run`` (target parameters set; not yet validated)."""
        from procedures.registry import procedure_class

        step = self.steps[run.step_index]
        proc = procedure_class(step.procedure)()
        settings = dict(run.params)
        settings["lot"] = self.wafer.lot
        settings["wafer_id"] = self.wafer.wafer_id
        if self.wafer.operator:
            settings["operator"] = self.wafer.operator
        settings["subsite"] = int(subsite)
        if die is not None:
            settings["die"] = f"{die[0]},{die[1]}"
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
        for b in self.bins:
            if b.special == kind:
                return b
        return _DEFAULT_SPECIAL[kind]

    def evaluate_bins(self, figures: dict[str, Any]) -> BinRule:
        """The first (non-special) rule whose limits hold on ``figures``."""
        for b in self.bins:
            if not b.special and b.matches(figures):
                return b
        return _DEFAULT_FAIL


# ------------------------------------------------------------------------------------------------
# Loading
# ------------------------------------------------------------------------------------------------
def recipe_path(name_or_path: str | Path) -> Path:
    """A recipe file: a path, or a name in ``resources/recipes`` (``demo-wafer``)."""
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists():
        if not p.is_file():
            raise RecipeError("file does not exist", source=str(p))
        return p
    candidate = RECIPE_DIR / f"{name_or_path}.toml"
    if not candidate.is_file():
        known = ", ".join(sorted(f.stem for f in RECIPE_DIR.glob("*.toml")))
        raise RecipeError(f"no recipe named {name_or_path!r}; known: {known}")
    return candidate


def load_recipe(name_or_path: str | Path) -> Recipe:
    """Read and check a recipe file (structure only; see :meth:`Recipe.validate`)."""
    path = recipe_path(name_or_path)
    return parse_recipe(path.read_text(), str(path))


def parse_recipe(text: str, source: str = "recipe") -> Recipe:
    """Parse recipe TOML text; RecipeError naming the line/key of the first problem."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise RecipeError(f"not valid TOML: {exc}", line=int(m.group(1)) if m else None,
                          source=source) from None
    return _Parser(text, source).recipe(doc)


class _Parser:
    """Turns the TOML document into a Recipe, with line-numbered errors."""

    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source

    def fail(self, path: tuple[Any, ...], message: str) -> RecipeError:
        return RecipeError(message, _key_text(path), find_line(self.text, path), self.source)

    # -- typed getters ----------------------------------------------------------------------------
    def table(self, doc: dict, key: str, path: tuple[Any, ...], allowed: set[str]) -> dict:
        value = doc.get(key, {})
        if not isinstance(value, dict):
            raise self.fail(path, "must be a table")
        self.known(value, path, allowed)
        return value

    def known(self, table: dict, path: tuple[Any, ...], allowed: set[str]) -> None:
        for k in table:
            if k not in allowed:
                raise self.fail((*path, k), f"unknown key; allowed: {', '.join(sorted(allowed))}")

    def opt_num(self, t: dict, key: str, path: tuple[Any, ...], lo: float = -math.inf,
                hi: float = math.inf, positive: bool = False) -> float | None:
        if key not in t:
            return None
        v = t[key]
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise self.fail((*path, key), f"must be a number, not {v!r}")
        v = float(v)
        if math.isnan(v) or not lo <= v <= hi or (positive and v <= 0):
            raise self.fail((*path, key), f"{v:g} is outside the allowed range")
        return v

    def num(self, t: dict, key: str, path: tuple[Any, ...], default: float,
            lo: float = -math.inf, hi: float = math.inf, positive: bool = False) -> float:
        v = self.opt_num(t, key, path, lo, hi, positive)
        return default if v is None else v

    def integer(self, t: dict, key: str, path: tuple[Any, ...], default: int,
                lo: int = 0, hi: int = 1 << 30) -> int:
        if key not in t:
            return default
        v = t[key]
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise self.fail((*path, key), f"must be an integer in {lo}..{hi}, not {v!r}")
        return v

    def text_(self, t: dict, key: str, path: tuple[Any, ...], default: str,
              choices: tuple[str, ...] | None = None) -> str:
        if key not in t:
            return default
        v = t[key]
        if not isinstance(v, str):
            raise self.fail((*path, key), f"must be a string, not {v!r}")
        if choices is not None and v not in choices:
            raise self.fail((*path, key), f"{v!r} is not one of {', '.join(choices)}")
        return v

    def boolean(self, t: dict, key: str, path: tuple[Any, ...], default: bool) -> bool:
        if key not in t:
            return default
        v = t[key]
        if not isinstance(v, bool):
            raise self.fail((*path, key), f"must be true or false, not {v!r}")
        return v

    def die(self, v: Any, path: tuple[Any, ...]) -> DieIndex:
        ok = (isinstance(v, list) and len(v) == 2
              and all(isinstance(x, int) and not isinstance(x, bool) for x in v))
        if not ok:
            raise self.fail(path, f"a die is [col, row] (two integers), not {v!r}")
        return int(v[0]), int(v[1])

    def span(self, t: dict, key: str, path: tuple[Any, ...]) -> tuple[int, int] | None:
        if key not in t:
            return None
        v = t[key]
        ok = (isinstance(v, list) and len(v) == 2
              and all(isinstance(x, int) and not isinstance(x, bool) for x in v) and v[0] <= v[1])
        if not ok:
            raise self.fail((*path, key), f"must be [first, last] with first <= last, not {v!r}")
        return int(v[0]), int(v[1])

    def limit(self, v: Any, path: tuple[Any, ...]) -> tuple[float, float]:
        if isinstance(v, dict):
            self.known(v, path, {"min", "max"})
            lo = self.num(v, "min", path, -math.inf)
            hi = self.num(v, "max", path, math.inf)
        elif isinstance(v, list) and len(v) == 2 and all(
                isinstance(x, int | float) and not isinstance(x, bool) for x in v):
            lo, hi = float(v[0]), float(v[1])
        else:
            raise self.fail(path, f"a limit is [min, max] (use inf/-inf for open ends) or "
                                  f"{{min = .., max = ..}}, not {v!r}")
        if math.isnan(lo) or math.isnan(hi) or lo > hi:
            raise self.fail(path, f"limit [{lo:g}, {hi:g}] is empty")
        return lo, hi

    # -- sections ---------------------------------------------------------------------------------
    def recipe(self, doc: dict) -> Recipe:
        top = {"name", "description", "wafer", "route", "subsites", "steps", "contact", "chuck",
               "faults", "bins", "outputs"}
        self.known(doc, (), top)
        name = self.text_(doc, "name", (), Path(self.source).stem or "recipe")
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise self.fail(("name",), "use letters, digits, '-', '_' and '.' only")
        wafer = self.wafer(doc)
        route = self.route(doc, wafer)
        subsites = self.subsites(doc)
        steps = self.steps(doc)
        contact = self.contact(doc, steps)
        chuck = self.chuck(doc)
        faults = self.faults(doc)
        bins = self.bins(doc, steps)
        outputs = self.table(doc, "outputs", ("outputs",), {"maps"})
        maps = outputs.get("maps", [])
        if not isinstance(maps, list) or not all(isinstance(m, str) for m in maps):
            raise self.fail(("outputs", "maps"), "must be a list of summary column names")
        names = {s.name for s in steps}
        for m in maps:
            if re.split(r"[.\[]", m, maxsplit=1)[0] not in names or "." not in m:
                raise self.fail(("outputs", "maps"), f"{m!r} is not a summary column "
                                f"'<step>.<figure>' of this recipe's steps")
        return Recipe(
            name=name, description=self.text_(doc, "description", (), ""), wafer=wafer,
            route=route, subsites=subsites, steps=steps, contact=contact, chuck=chuck,
            faults=faults, bins=bins, maps=list(maps), text=self.text, source=self.source,
        )

    def wafer(self, doc: dict) -> WaferSpec:
        p = ("wafer",)
        t = self.table(doc, "wafer", p, {
            "lot", "wafer_id", "product", "operator", "diameter_mm", "die_width_um",
            "die_height_um", "edge_exclusion_mm", "flat_angle_deg", "x_offset_um", "y_offset_um",
            "home", "origin", "apply_to_prober"})
        d = WaferSpec()
        ident = {}
        for key in ("lot", "wafer_id", "product", "operator"):
            ident[key] = self.text_(t, key, p, getattr(d, key))
            if key in ("lot", "wafer_id") and not ident[key].strip():
                raise self.fail((*p, key), "must not be empty")
        flat = self.num(t, "flat_angle_deg", p, 0.0)
        if flat not in (0.0, 90.0, 180.0, 270.0):
            raise self.fail((*p, "flat_angle_deg"), "must be 0, 90, 180 or 270")
        spec = WaferSpec(
            **ident,
            diameter_mm=self.num(t, "diameter_mm", p, d.diameter_mm, positive=True),
            die_width_um=self.num(t, "die_width_um", p, d.die_width_um, positive=True),
            die_height_um=self.num(t, "die_height_um", p, d.die_height_um, positive=True),
            edge_exclusion_mm=self.num(t, "edge_exclusion_mm", p, d.edge_exclusion_mm, lo=0),
            flat_angle_deg=flat,
            x_offset_um=self.num(t, "x_offset_um", p, 0.0),
            y_offset_um=self.num(t, "y_offset_um", p, 0.0),
            home=None,
            origin=self.text_(t, "origin", p, "top-left", ORIGINS),
            apply_to_prober=self.boolean(t, "apply_to_prober", p, False),
        )
        try:
            wmap = spec.wafer_map()
            if not wmap.dies:
                raise ValueError("no die fits on this wafer")
        except ValueError as exc:
            raise self.fail(p, f"bad wafer geometry: {exc}") from None
        if "home" in t:
            home = spec.to_map(*self.die(t["home"], (*p, "home")), wmap)
            if home not in wmap.die_set:
                raise self.fail((*p, "home"), f"home die {t['home']} is not on the wafer map")
            spec = WaferSpec(**{**spec.__dict__, "home": home})
        return spec

    def route(self, doc: dict, wafer: WaferSpec) -> RouteSpec:
        p = ("route",)
        t = self.table(doc, "route", p, {"mode", "dies", "cols", "rows", "max_radius", "order",
                                         "pattern", "exclude"})
        mode = self.text_(t, "mode", p, "list" if "dies" in t else "all",
                          ("all", "list", "region"))
        wmap = wafer.wafer_map()
        dies: list[DieIndex] = []
        if mode == "list":
            raw = t.get("dies")
            if not isinstance(raw, list) or not raw:
                raise self.fail((*p, "dies"), "a list route needs dies = [[col, row], ...]")
            for i, v in enumerate(raw):
                die = self.die(v, (*p, "dies", i))
                if wafer.to_map(*die, wmap) not in wmap.die_set:
                    raise self.fail((*p, "dies", i), f"die {list(die)} is not on the wafer map "
                                    f"({len(wmap.dies)} dies, {wmap.n_cols} x {wmap.n_rows} grid)")
                if die in dies:
                    raise self.fail((*p, "dies", i), f"die {list(die)} is listed twice")
                dies.append(die)
        elif "dies" in t:
            raise self.fail((*p, "dies"), f"dies is only used with mode = 'list', not {mode!r}")
        if mode != "region":
            for key in ("cols", "rows", "max_radius"):
                if key in t:
                    raise self.fail((*p, key), "only used with mode = 'region'")
        exclude = []
        raw_ex = t.get("exclude", [])
        if not isinstance(raw_ex, list):
            raise self.fail((*p, "exclude"), "must be a list of [col, row]")
        for i, v in enumerate(raw_ex):
            exclude.append(self.die(v, (*p, "exclude", i)))
        spec = RouteSpec(
            mode=mode, dies=tuple(dies), cols=self.span(t, "cols", p),
            rows=self.span(t, "rows", p),
            max_radius=self.opt_num(t, "max_radius", p, lo=0.0, positive=True),
            order=self.text_(t, "order", p, "row", ("row", "column")),
            pattern=self.text_(t, "pattern", p, "serpentine", ("serpentine", "one-way")),
            exclude=tuple(exclude),
        )
        probe = Recipe("x", "", wafer, spec, [], [], ContactSpec(), ChuckSpec(), FaultSpec(), [])
        if not probe.plan_route():
            raise self.fail(p, "the route selects no die")
        return spec

    def subsites(self, doc: dict) -> list[SubsiteSpec]:
        raw = doc.get("subsites", [])
        if not isinstance(raw, list):
            raise self.fail(("subsites",), "use [[subsites]] tables (label, dx_um, dy_um)")
        out = []
        for i, t in enumerate(raw):
            p = ("subsites", i)
            if not isinstance(t, dict):
                raise self.fail(p, "must be a table")
            self.known(t, p, {"label", "dx_um", "dy_um"})
            label = self.text_(t, "label", p, chr(ord("A") + i) if i < 26 else str(i))
            out.append(SubsiteSpec(label, self.num(t, "dx_um", p, 0.0),
                                   self.num(t, "dy_um", p, 0.0)))
        labels = [s.label for s in out]
        if len(set(labels)) != len(labels):
            raise self.fail(("subsites",), "subsite labels must be unique")
        return out

    def steps(self, doc: dict) -> list[StepSpec]:
        from procedures.registry import PROCEDURES

        raw = doc.get("steps")
        if not isinstance(raw, list) or not raw:
            raise self.fail(("steps",), "a recipe needs at least one [[steps]] table")
        out: list[StepSpec] = []
        for i, t in enumerate(raw):
            p = ("steps", i)
            if not isinstance(t, dict):
                raise self.fail(p, "must be a table")
            self.known(t, p, {"name", "procedure", "params", "cells", "array", "split",
                              "temperature_c", "cycle_limits"})
            if "procedure" not in t:
                raise self.fail(p, "procedure is missing")
            proc_name = self.text_(t, "procedure", p, "")
            if proc_name not in PROCEDURES:
                raise self.fail((*p, "procedure"), f"unknown procedure {proc_name!r}; known: "
                                f"{', '.join(sorted(PROCEDURES))}")
            name = self.text_(t, "name", p, proc_name)
            if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
                raise self.fail((*p, "name"), "use letters, digits, '-' and '_' only")
            if name in {s.name for s in out}:
                raise self.fail((*p, "name"), f"step name {name!r} is used twice (name steps "
                                "that run the same procedure)")
            params = t.get("params", {})
            if not isinstance(params, dict):
                raise self.fail((*p, "params"), "must be a table of procedure parameters")
            known = PROCEDURES[proc_name]().parameter_objects()
            for key in params:
                if key in _EXECUTOR_PARAMS:
                    raise self.fail((*p, "params", key), "is set by the wafer run; remove it")
                if key in ("cells", "array"):
                    raise self.fail((*p, "params", key), f"give {key} at step level")
                if key not in known:
                    raise self.fail((*p, "params", key), f"unknown parameter of {proc_name}; "
                                    f"known: {', '.join(sorted(known))}")
            cells = self.text_(t, "cells", p, "") or None
            array = self.text_(t, "array", p, "") or None
            split = self.split(t, p, known, cells)
            cycle_limits = {}
            raw_cl = t.get("cycle_limits", {})
            if not isinstance(raw_cl, dict):
                raise self.fail((*p, "cycle_limits"), "must be a table figure = [min, max]")
            for key, v in raw_cl.items():
                if key not in ("r_lrs", "r_hrs", "on_off"):
                    raise self.fail((*p, "cycle_limits", key), "cycle limits apply to r_lrs, "
                                    "r_hrs and on_off")
                cycle_limits[key] = self.limit(v, (*p, "cycle_limits", key))
            step = StepSpec(
                name=name, procedure=proc_name, params=dict(params), cells=cells, array=array,
                split=split, temperature_c=self.opt_num(t, "temperature_c", p),
                cycle_limits=cycle_limits,
            )
            try:
                step.runs(i)
            except ValueError as exc:
                raise self.fail((*p, "cells"), str(exc)) from None
            out.append(step)
        return out

    def split(self, t: dict, p: tuple[Any, ...], known: dict,
              cells: str | None) -> SplitSpec | None:
        if "split" not in t:
            return None
        sp = t["split"]
        q = (*p, "split")
        if not isinstance(sp, dict):
            raise self.fail(q, "must be a table {param = .., values = [..]}")
        self.known(sp, q, {"param", "values", "cells"})
        param = self.text_(sp, "param", q, "")
        if param not in known or param in ("cells", "array", *_EXECUTOR_PARAMS):
            raise self.fail((*q, "param"), f"{param!r} is not a parameter that can be split")
        if param in t.get("params", {}):
            raise self.fail((*q, "param"), f"{param} is both split and set in params")
        values = sp.get("values")
        if not isinstance(values, list) or len(values) < 2:
            raise self.fail((*q, "values"), "give at least two values")
        groups = sp.get("cells")
        if groups is not None:
            if (not isinstance(groups, list) or len(groups) != len(values)
                    or not all(isinstance(g, str) for g in groups)):
                raise self.fail((*q, "cells"), "one cell selection text per value")
            groups = tuple(groups)
        else:
            from procedures.targets import parse_cells

            try:
                n = len(parse_cells(cells or "0,0", t.get("array") or "1T1R"))
            except ValueError as exc:
                raise self.fail((*p, "cells"), str(exc)) from None
            if n < len(values):
                raise self.fail((*q, "values"), f"{len(values)} split values but only {n} "
                                "cell(s) to share out")
        return SplitSpec(param, tuple(values), groups)

    def contact(self, doc: dict, steps: list[StepSpec]) -> ContactSpec:
        p = ("contact",)
        t = self.table(doc, "contact", p, {"enabled", "array", "cells", "v_read", "v_wl",
                                           "compliance", "i_min_a", "g_short_s", "z_step_um",
                                           "max_tries"})
        d = ContactSpec()
        spec = ContactSpec(
            enabled=self.boolean(t, "enabled", p, d.enabled),
            array=self.text_(t, "array", p, d.array, ("1T1R", "2T2R")),
            cells=self.text_(t, "cells", p, d.cells),
            v_read=self.num(t, "v_read", p, d.v_read, positive=True, hi=1.0),
            v_wl=self.num(t, "v_wl", p, d.v_wl, lo=0.0),
            compliance=self.num(t, "compliance", p, d.compliance, positive=True),
            i_min_a=self.num(t, "i_min_a", p, d.i_min_a, positive=True),
            g_short_s=self.num(t, "g_short_s", p, d.g_short_s, positive=True),
            z_step_um=self.num(t, "z_step_um", p, d.z_step_um, positive=True, hi=50.0),
            max_tries=self.integer(t, "max_tries", p, d.max_tries, 0, 20),
        )
        from procedures.targets import parse_cells

        try:
            refs = set(parse_cells(spec.cells, spec.array))
        except ValueError as exc:
            raise self.fail((*p, "cells"), str(exc)) from None
        if not spec.enabled:
            return spec
        for k, step in enumerate(steps):
            if (step.array or "1T1R") != spec.array or _read_only(step):
                continue
            for run in step.runs(k):
                try:
                    cells = set(parse_cells(run.cells or "0,0", spec.array))
                except ValueError:
                    continue
                both = sorted(cells & refs)
                if both:
                    raise self.fail((*("steps", k), "cells"),
                                    f"cell {both[0]} is a contact reference cell "
                                    f"(contact.cells = {spec.cells!r}); steps that program cells "
                                    "must leave them alone")
        return spec

    def chuck(self, doc: dict) -> ChuckSpec:
        p = ("chuck",)
        t = self.table(doc, "chuck", p, {"temperature_c", "soak_s", "heater_timeout_s"})
        return ChuckSpec(
            temperature_c=self.opt_num(t, "temperature_c", p),
            soak_s=self.num(t, "soak_s", p, 0.0, lo=0.0),
            heater_timeout_s=self.num(t, "heater_timeout_s", p, 7200.0, positive=True),
        )

    def faults(self, doc: dict) -> FaultSpec:
        p = ("faults",)
        t = self.table(doc, "faults", p, {"on_fault", "max_consecutive"})
        return FaultSpec(
            on_fault=self.text_(t, "on_fault", p, "retry", ("retry", "next-die")),
            max_consecutive=self.integer(t, "max_consecutive", p, 3, 1, 1000),
        )

    def bins(self, doc: dict, steps: list[StepSpec]) -> list[BinRule]:
        raw = doc.get("bins", [])
        if not isinstance(raw, list):
            raise self.fail(("bins",), "use [[bins]] tables")
        names = {s.name for s in steps}
        out: list[BinRule] = []
        for i, t in enumerate(raw):
            p = ("bins", i)
            if not isinstance(t, dict):
                raise self.fail(p, "must be a table")
            self.known(t, p, {"code", "name", "pass", "color", "limits", "special"})
            if "code" not in t:
                raise self.fail(p, "code is missing")
            code = self.integer(t, "code", p, 0, 0, NULL_BIN - 1)
            if code in {b.code for b in out}:
                raise self.fail((*p, "code"), f"bin code {code} is used twice")
            color = self.text_(t, "color", p, "#c62828")
            if not re.fullmatch(r"#[0-9a-fA-F]{6}", color):
                raise self.fail((*p, "color"), f"colour must be '#rrggbb', not {color!r}")
            special = self.text_(t, "special", p, "", ("", *SPECIAL_BINS))
            limits = {}
            raw_l = t.get("limits", {})
            if not isinstance(raw_l, dict):
                raise self.fail((*p, "limits"), "must be a table \"<step>.<figure>\" = [min, max]")
            if special and raw_l:
                raise self.fail((*p, "limits"), "a special bin has no limits")
            for key, v in raw_l.items():
                step = re.split(r"[.\[]", key, maxsplit=1)[0]
                if "." not in key or step not in names:
                    raise self.fail((*p, "limits", key), f"name a summary column "
                                    f"'<step>.<figure>' with a step of this recipe "
                                    f"({', '.join(sorted(names))})")
                limits[key] = self.limit(v, (*p, "limits", key))
            out.append(BinRule(code, self.text_(t, "name", p, f"bin {code}"),
                               self.boolean(t, "pass", p, False), color, limits, special))
        specials = {b.special for b in out if b.special}
        for kind, rule in _DEFAULT_SPECIAL.items():
            if kind not in specials:
                if rule.code in {b.code for b in out}:
                    raise self.fail(("bins",), f"code {rule.code} is taken; define the "
                                    f"{kind!r} bin yourself (special = {kind!r})")
                out.append(rule)
        if not any(not b.special and not b.limits for b in out):
            if _DEFAULT_FAIL.code in {b.code for b in out}:
                raise self.fail(("bins",), "add a catch-all bin (one without limits)")
            out.append(_DEFAULT_FAIL)
        return out


def _read_only(step: StepSpec) -> bool:
    need = _READ_ONLY.get(step.procedure)
    if need is None:
        return False
    return all(step.params.get(k, v) == v for k, v in need.items())


def _from_map(w: WaferSpec, wmap: WaferMap, die: DieIndex) -> DieIndex:
    """Map indices -> recipe indices (the conversion is its own inverse)."""
    return w.to_map(die[0], die[1], wmap)


def _order(dies: list[DieIndex], order: str, pattern: str) -> list[DieIndex]:
    """Sort dies into lines (rows or columns) and walk them one-way or serpentine."""
    major = 1 if order == "row" else 0
    lines: dict[int, list[DieIndex]] = {}
    for d in dies:
        lines.setdefault(d[major], []).append(d)
    out: list[DieIndex] = []
    for i, key in enumerate(sorted(lines)):
        line = sorted(lines[key], key=lambda d: d[1 - major])
        out.extend(reversed(line) if pattern == "serpentine" and i % 2 else line)
    return out


# ------------------------------------------------------------------------------------------------
# Key paths and line numbers
# ------------------------------------------------------------------------------------------------
def _key_text(path: tuple[Any, ...]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _key_path(key: str) -> tuple[Any, ...]:
    parts: list[Any] = []
    for token in re.findall(r"[^.\[\]]+|\[\d+\]", key):
        parts.append(int(token[1:-1]) if token.startswith("[") else token)
    return tuple(parts)


_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")


def find_line(text: str, path: tuple[Any, ...]) -> int | None:
    """Best-effort 1-based line of key ``path`` (e.g. ``("steps", 1, "params", "v_stop")``)
    in TOML ``text``: the line setting the deepest key of the path that can be found in the
    table it belongs to, else that table's header line; None if nothing matches."""
    if not text or not path:
        return None
    lines = text.splitlines()
    counts: dict[str, int] = {}
    headers: list[tuple[int, tuple[Any, ...]]] = []
    for n, line in enumerate(lines):
        m = _HEADER.match(line)
        if not m:
            continue
        name = m.group(2).replace(" ", "").replace('"', "")
        if m.group(1) == "[[":
            counts[name] = counts.get(name, 0) + 1
        parts = name.split(".")
        resolved: list[Any] = []
        for j in range(len(parts)):
            resolved.append(parts[j])
            prefix = ".".join(parts[: j + 1])
            if prefix in counts:
                resolved.append(counts[prefix] - 1)
        headers.append((n, tuple(resolved)))
    start, end, header_line, depth = 0, len(lines), None, 0
    if headers:
        end = headers[0][0]
    for i, (n, resolved) in enumerate(headers):
        if len(resolved) > depth and tuple(path[: len(resolved)]) == resolved:
            depth, header_line, start = len(resolved), n + 1, n + 1
            end = headers[i + 1][0] if i + 1 < len(headers) else len(lines)
    keys = [p for p in path[depth:] if isinstance(p, str)]
    for key in reversed(keys):
        pattern = re.compile(rf'(^|[{{,\s])"?{re.escape(key)}"?\s*=')
        for n in range(start, end):
            if pattern.search(lines[n]):
                return n + 1
    return header_line


__all__ = [
    "BinRule", "ChuckSpec", "ContactSpec", "FaultSpec", "NULL_BIN", "RECIPE_DIR", "Recipe",
    "RecipeError", "RouteSpec", "SplitSpec", "StepRun", "StepSpec", "SubsiteSpec", "WaferSpec",
    "find_line", "load_recipe", "parse_recipe", "recipe_path", "set_parameters",
]
