"""Second pass of a recipe file: a validated :class:`RecipeSchema` -> :class:`Recipe`.

What needs more than one key is checked here, with errors that name the file, the line and the
key like the schema's: procedures and their parameters (values converted strictly, as on the
command line), the route against the wafer map, step and bin cross-references, contact reference
cells that no step may program, names used in folders
(:func:`~procedures.framework.validation.path_name`), bin names XML can hold.
"""

from __future__ import annotations

import math
import re
from typing import Any

from instruments.tomlschema import TomlError
from instruments.wafermap import MAX_GRID_POSITIONS, DieIndex
from procedures.framework.toml_build import TomlBuilder
from procedures.wafer.recipe_schema import (
    BinSchema,
    ContactSchema,
    RecipeSchema,
    RouteSchema,
    StepSchema,
    SubsiteSchema,
    WaferSchema,
)


# ------------------------------------------------------------------------------------------------
# Second pass: cross-references -> Recipe
# ------------------------------------------------------------------------------------------------
class _Builder(TomlBuilder):
    """Turns a validated :class:`RecipeSchema` into a Recipe, with line-numbered errors."""

    def error_type(self) -> type[TomlError]:
        from procedures.wafer.recipe import RecipeError

        return RecipeError

    def recipe(self, s: RecipeSchema) -> Any:
        from procedures.wafer.recipe import Recipe

        name = self.checked_name(s.name, "recipe")
        wafer = self.wafer(s.wafer)
        route = self.route(s.route, wafer)
        subsites = self.subsites(s.subsites)
        steps = self.steps(s.steps)
        contact = self.contact(s.contact, steps)
        from procedures.wafer.recipe import ChuckSpec, FaultSpec

        chuck = ChuckSpec(s.chuck.temperature_c, s.chuck.soak_s, s.chuck.heater_timeout_s)
        faults = FaultSpec(s.faults.on_fault, s.faults.max_consecutive)
        bins = self.bins(s.bins, steps)
        names = {st.name for st in steps}
        for m in s.outputs.maps:
            if re.split(r"[.\[]", m, maxsplit=1)[0] not in names or "." not in m:
                raise self.fail(("outputs", "maps"), f"{m!r} is not a summary column "
                                "'<step>.<figure>' of this recipe's steps")
        return Recipe(
            name=name, description=s.description, wafer=wafer, route=route, subsites=subsites,
            steps=steps, contact=contact, chuck=chuck, faults=faults, bins=bins,
            maps=list(s.outputs.maps), text=self.text, source=self.source,
        )

    def wafer(self, w: WaferSchema) -> Any:
        from procedures.wafer.recipe import WaferSpec

        p = ("wafer",)
        for key in ("lot", "wafer_id"):
            self.check_path_name((*p, key), getattr(w, key))
        n_cols = math.ceil(w.diameter_mm * 1000 / w.die_width_um)
        n_rows = math.ceil(w.diameter_mm * 1000 / w.die_height_um)
        if n_cols * n_rows > MAX_GRID_POSITIONS:
            key = "die_width_um" if w.die_width_um <= w.die_height_um else "die_height_um"
            raise self.fail((*p, key), f"a {w.diameter_mm:g} mm wafer with a "
                            f"{w.die_width_um:g} x {w.die_height_um:g} um die pitch is a "
                            f"{n_cols} x {n_rows} grid, over {MAX_GRID_POSITIONS:,} die "
                            "positions; check the pitch unit (um)")
        spec = WaferSpec(
            lot=w.lot, wafer_id=w.wafer_id, product=w.product, operator=w.operator,
            diameter_mm=w.diameter_mm, die_width_um=w.die_width_um,
            die_height_um=w.die_height_um, edge_exclusion_mm=w.edge_exclusion_mm,
            flat_angle_deg=w.flat_angle_deg, x_offset_um=w.x_offset_um,
            y_offset_um=w.y_offset_um, home=None, origin=w.origin,
            apply_to_prober=w.apply_to_prober,
        )
        try:
            wmap = spec.wafer_map()
            if not wmap.dies:
                raise ValueError("no die fits on this wafer")
        except ValueError as exc:
            raise self.fail(p, f"bad wafer geometry: {exc}") from None
        if w.home is not None:
            home = spec.to_map(w.home[0], w.home[1], wmap)
            if home not in wmap.die_set:
                raise self.fail((*p, "home"), f"home die {w.home} is not on the wafer map")
            spec = WaferSpec(**{**spec.__dict__, "home": home})
        return spec

    def route(self, r: RouteSchema, wafer: Any) -> Any:
        from procedures.wafer.recipe import ChuckSpec, ContactSpec, FaultSpec, Recipe, RouteSpec

        p = ("route",)
        mode = r.mode or ("list" if r.dies is not None else "all")
        wmap = wafer.wafer_map()
        dies: list[DieIndex] = []
        if mode == "list":
            if not r.dies:
                raise self.fail((*p, "dies"), "a list route needs dies = [[col, row], ...]")
            for i, v in enumerate(r.dies):
                die = (v[0], v[1])
                if wafer.to_map(*die, wmap) not in wmap.die_set:
                    raise self.fail((*p, "dies", i), f"die {list(die)} is not on the wafer map "
                                    f"({len(wmap.dies)} dies, {wmap.n_cols} x {wmap.n_rows} grid)")
                if die in dies:
                    raise self.fail((*p, "dies", i), f"die {list(die)} is listed twice")
                dies.append(die)
        elif r.dies is not None:
            raise self.fail((*p, "dies"), f"dies is only used with mode = 'list', not {mode!r}")
        if mode != "region":
            for key in ("cols", "rows", "max_radius"):
                if getattr(r, key) is not None:
                    raise self.fail((*p, key), "only used with mode = 'region'")
        spec = RouteSpec(
            mode=mode, dies=tuple(dies),
            cols=None if r.cols is None else (r.cols[0], r.cols[1]),
            rows=None if r.rows is None else (r.rows[0], r.rows[1]),
            max_radius=r.max_radius, order=r.order, pattern=r.pattern,
            exclude=tuple((d[0], d[1]) for d in r.exclude),
        )
        probe = Recipe("x", "", wafer, spec, [], [], ContactSpec(), ChuckSpec(), FaultSpec(), [])
        if not probe.plan_route():
            raise self.fail(p, "the route selects no die")
        return spec

    def subsites(self, raw: list[SubsiteSchema]) -> list[Any]:
        from procedures.wafer.recipe import SubsiteSpec

        out = []
        for i, t in enumerate(raw):
            label = t.label if t.label is not None else (chr(ord("A") + i) if i < 26 else str(i))
            out.append(SubsiteSpec(label, t.dx_um, t.dy_um))
        labels = [s.label for s in out]
        if len(set(labels)) != len(labels):
            raise self.fail(("subsites",), "subsite labels must be unique")
        return out

    def steps(self, raw: list[StepSchema]) -> list[Any]:
        from procedures.wafer.recipe import _EXECUTOR_PARAMS, StepSpec

        out: list[Any] = []
        for i, t in enumerate(raw):
            p = ("steps", i)
            name, known = self.procedure_entry(p, t.procedure, t.name, {s.name for s in out},
                                               "step")
            reserved = {k: "is set by the wafer run; remove it" for k in _EXECUTOR_PARAMS}
            reserved.update({k: f"give {k} at step level" for k in ("cells", "array")})
            params = self.entry_params(p, t.procedure, t.params, known, reserved)
            if t.cells:
                self.check_cells(p, t.cells, t.array, known)
            split = self.split(t, p, known)
            step = StepSpec(
                name=name, procedure=t.procedure, params=params, cells=t.cells or None,
                array=t.array or None, split=split, temperature_c=t.temperature_c,
                cycle_limits={k: (v[0], v[1]) for k, v in t.cycle_limits.items()},
            )
            try:
                step.runs(i)
            except ValueError as exc:
                raise self.fail((*p, "cells"), str(exc)) from None
            out.append(step)
        return out

    def split(self, t: StepSchema, p: tuple[Any, ...], known: dict) -> Any:
        from procedures.framework.targets import parse_cells
        from procedures.framework.validation import coerce_parameter
        from procedures.wafer.recipe import _EXECUTOR_PARAMS, SplitSpec

        sp = t.split
        if sp is None:
            return None
        q = (*p, "split")
        if sp.param not in known or sp.param in ("cells", "array", *_EXECUTOR_PARAMS):
            raise self.fail((*q, "param"), f"{sp.param!r} is not a parameter that can be split")
        if sp.param in t.params:
            raise self.fail((*q, "param"), f"{sp.param} is both split and set in params")
        values = []
        for v in sp.values:
            try:
                values.append(coerce_parameter(sp.param, known[sp.param], v))
            except ValueError as exc:
                raise self.fail((*q, "values"), str(exc)) from None
        groups = None
        if sp.cells is not None:
            if len(sp.cells) != len(values):
                raise self.fail((*q, "cells"), "one cell selection text per value")
            groups = tuple(sp.cells)
        else:
            try:
                n = len(parse_cells(t.cells or "0,0", t.array or "1T1R"))
            except ValueError as exc:
                raise self.fail((*p, "cells"), str(exc)) from None
            if n < len(values):
                raise self.fail((*q, "values"), f"{len(values)} split values but only {n} "
                                "cell(s) to share out")
        return SplitSpec(sp.param, tuple(values), groups)

    def contact(self, c: ContactSchema, steps: list[Any]) -> Any:
        from procedures.framework.targets import parse_cells
        from procedures.wafer.recipe import ContactSpec, _read_only

        p = ("contact",)
        spec = ContactSpec(
            enabled=c.enabled, array=c.array, cells=c.cells, v_read=c.v_read, v_wl=c.v_wl,
            compliance=c.compliance, i_min_a=c.i_min_a, g_short_siemens=c.g_short_siemens,
            z_step_um=c.z_step_um, max_tries=c.max_tries,
        )
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
                    raise self.fail(("steps", k, "cells"),
                                    f"cell {both[0]} is a contact reference cell "
                                    f"(contact.cells = {spec.cells!r}); steps that program cells "
                                    "must leave them alone")
        return spec

    def bins(self, raw: list[BinSchema], steps: list[Any]) -> list[Any]:
        from procedures.wafer.binning import DEFAULT_FAIL, DEFAULT_SPECIAL, BinRule

        names = {s.name for s in steps}
        out: list[Any] = []
        for i, t in enumerate(raw):
            p = ("bins", i)
            if t.code in {b.code for b in out}:
                raise self.fail((*p, "code"), f"bin code {t.code} is used twice")
            if t.special and t.limits:
                raise self.fail((*p, "limits"), "a special bin has no limits")
            for key in t.limits:
                step = re.split(r"[.\[]", key, maxsplit=1)[0]
                if "." not in key or step not in names:
                    raise self.fail((*p, "limits", key), "name a summary column "
                                    "'<step>.<figure>' with a step of this recipe "
                                    f"({', '.join(sorted(names))})")
            out.append(BinRule(t.code, t.name if t.name is not None else f"bin {t.code}",
                               t.passed, t.color,
                               {k: (v[0], v[1]) for k, v in t.limits.items()}, t.special))
        specials = {b.special for b in out if b.special}
        for kind, rule in DEFAULT_SPECIAL.items():
            if kind not in specials:
                if rule.code in {b.code for b in out}:
                    raise self.fail(("bins",), f"code {rule.code} is taken; define the "
                                    f"{kind!r} bin yourself (special = {kind!r})")
                out.append(rule)
        if not any(not b.special and not b.limits for b in out):
            if DEFAULT_FAIL.code in {b.code for b in out}:
                raise self.fail(("bins",), "add a catch-all bin (one without limits)")
            out.append(DEFAULT_FAIL)
        return out


def build_recipe(doc: dict[str, Any], text: str, source: str) -> Any:
    """The Recipe of a parsed TOML document: schema first, then cross-references."""
    from instruments.tomlschema import validate_toml
    from procedures.wafer.recipe import RecipeError

    schema = validate_toml(RecipeSchema, doc, text, source, error=RecipeError)
    return _Builder(text, source).recipe(schema)


__all__ = ["build_recipe"]
