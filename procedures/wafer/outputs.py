"""Outputs of a wafer run: summary tables, yield, SEMI G85 bin map, wafer maps.

Everything here is a pure function of the wafer run's cursor
(:class:`~procedures.wafer.cursor.WaferCursor`) and the results files it names; no instrument,
no Qt. Written into the wafer output folder (every file atomically):

* ``wafer_summary.csv``: one row per die of the route: ``col``, ``row`` (prober map indices),
  ``bin``, ``bin_name``, ``pass``, ``state``, contact and position columns, then the die's
  figures (:mod:`procedures.wafer.figures`): for every step ``<step>.<figure>`` (median over the
  die's devices, all subsites and split groups pooled), ``<step>.<figure>_p5`` / ``_p95``
  (5th/95th percentiles) and ``_n`` (devices), and ``<step>[<param>=<value>].<figure>`` per split
  group;
* ``wafer_runs.csv``: one row per procedure run (die, subsite, step, split parameter and value,
  run id, status, file, figures of that run);
* ``bins.csv`` (col, row, bin, name, pass, colour) and ``bins.xml`` (SEMI G85 XML bin map,
  :mod:`procedures.wafer.g85`);
* ``yield.json``: total / tested / passed / failed dies and the count per bin;
* ``maps/<column>.png`` (one wafer map per summary figure) and ``maps/bins.png``
  (:mod:`procedures.wafer.maps`).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from instruments.wafermap import DieIndex, WaferMap, count_yield
from procedures.framework.validation import safe_component
from procedures.wafer.atomic import atomic_write
from procedures.wafer.cursor import DieRecord, WaferCursor
from procedures.wafer.g85 import g85_xml
from procedures.wafer.maps import bin_map_png, value_map_png
from procedures.wafer.palette import hex_rgb

log = logging.getLogger(__name__)

_BASE_COLUMNS = [
    "col", "row", "bin", "bin_name", "pass", "state", "contact", "contact_current_a",
    "contact_tries", "reported_col", "reported_row", "x_from_home_um", "y_from_home_um",
    "faults", "error",
]


def _record(cursor: WaferCursor, die: DieIndex) -> DieRecord:
    return cursor.get(die) or DieRecord(int(die[0]), int(die[1]))


def summary_table(cursor: WaferCursor, step_order: list[str] | None = None) -> pd.DataFrame:
    """The wafer summary: one row per die of the cursor's route (see the module docstring)."""
    rows = []
    for col, row in cursor.route:
        rec = _record(cursor, (col, row))
        contact = rec.contact[-1] if rec.contact else None
        pos = (rec.positions or [{}])[0]
        item: dict[str, Any] = {
            "col": col, "row": row, "bin": rec.bin, "bin_name": rec.bin_name,
            "pass": rec.passed, "state": rec.state,
            "contact": contact.state if contact else "",
            "contact_current_a": contact.current_a if contact else None,
            "contact_tries": contact.tries if contact else None, "reported_col": pos.get("col"),
            "reported_row": pos.get("row"), "x_from_home_um": pos.get("x_from_home_um"),
            "y_from_home_um": pos.get("y_from_home_um"), "faults": len(rec.faults),
            "error": rec.error,
        }
        item.update(rec.figures)
        rows.append(item)
    df = pd.DataFrame(rows)
    for c in _BASE_COLUMNS:
        if c not in df.columns:
            df[c] = None
    figure_cols = [c for c in df.columns if c not in _BASE_COLUMNS]
    order = {name: k for k, name in enumerate(step_order or [])}

    def key(c: str) -> tuple[int, str]:
        step = c.split(".", 1)[0].split("[", 1)[0]
        return order.get(step, len(order)), c

    return df[_BASE_COLUMNS + sorted(figure_cols, key=key)]


def runs_table(cursor: WaferCursor) -> pd.DataFrame:
    """One row per procedure run of the wafer run (split parameter and value kept)."""
    rows = []
    for col, row in cursor.route:
        for unit in _record(cursor, (col, row)).runs:
            item = {
                "col": col, "row": row, "subsite": unit.subsite,
                "subsite_label": unit.subsite_label, "step": unit.step or None,
                "procedure": unit.procedure, "split_param": unit.split_param,
                "split_value": unit.split_value, "run_id": unit.run_id,
                "status": unit.status, "counted": unit.counted,
                "file": unit.file, "error": unit.error,
            }
            item.update(unit.figures)
            rows.append(item)
    return pd.DataFrame(rows)


def yield_counts(cursor: WaferCursor, pass_codes: set[int]) -> dict[str, Any]:
    """Total (route), tested (binned), passed, failed dies, yield in % and count per bin."""
    bins = {d: r.bin for d in cursor.route if (r := cursor.get(d)) is not None}
    y = count_yield(cursor.route, bins, pass_codes)
    return {
        "total": y.total, "tested": y.tested, "passed": y.passed, "failed": y.failed,
        "yield_percent": y.percent, "bins": {str(k): v for k, v in y.per_bin.items()},
    }


def bins_table(cursor: WaferCursor, bin_table: dict[int, Any]) -> pd.DataFrame:
    """col, row, bin, bin_name, pass, color for every binned die."""
    rows = []
    for col, row in cursor.route:
        rec = _record(cursor, (col, row))
        code = rec.bin
        if code is None:
            continue
        rule = bin_table.get(code)
        rows.append({"col": col, "row": row, "bin": code, "bin_name": rec.bin_name,
                     "pass": rec.passed, "color": getattr(rule, "color", "")})
    return pd.DataFrame(rows, columns=["col", "row", "bin", "bin_name", "pass", "color"])


# ------------------------------------------------------------------------------------------------
# Everything at once
# ------------------------------------------------------------------------------------------------
def default_map_columns(df: pd.DataFrame, limit: int = 16) -> list[str]:
    """Figure columns worth a map: pooled medians (no _p5/_p95/_n, no split columns)."""
    cols = []
    for c in df.columns:
        if c in _BASE_COLUMNS or "[" in c or "." not in c:
            continue
        if c.endswith(("_p5", "_p95", "_n")):
            continue
        if pd.to_numeric(df[c], errors="coerce").notna().any():
            cols.append(c)
    return cols[:limit]


def safe_name(column: str) -> str:
    """A file name for a summary column (``form.v_form`` -> ``form.v_form``)."""
    return safe_component(column)


def write_outputs(
    out_dir: Path,
    cursor: WaferCursor,
    wmap: WaferMap,
    bin_table: dict[int, Any],
    lot: str,
    wafer_id: str,
    product: str = "",
    maps: list[str] | None = None,
    step_order: list[str] | None = None,
    draw_maps: bool = True,
) -> dict[str, Path]:
    """Write every output file into ``out_dir``; returns their paths by name."""
    out_dir = Path(out_dir)
    paths: dict[str, Path] = {}
    df = summary_table(cursor, step_order)
    paths["summary"] = out_dir / "wafer_summary.csv"
    atomic_write(paths["summary"], df.to_csv(index=False))
    paths["runs"] = out_dir / "wafer_runs.csv"
    atomic_write(paths["runs"], runs_table(cursor).to_csv(index=False))
    paths["bins_csv"] = out_dir / "bins.csv"
    atomic_write(paths["bins_csv"], bins_table(cursor, bin_table).to_csv(index=False))
    bins = {(int(c), int(r)): int(b) for c, r, b in zip(df["col"], df["row"], df["bin"],
                                                         strict=True) if pd.notna(b)}
    paths["bins_xml"] = out_dir / "bins.xml"
    try:  # G85 dates are YYYYMMDDhhmmss
        created = datetime.fromisoformat(cursor.created_at).strftime("%Y%m%d%H%M%S")
    except ValueError:
        created = ""
    atomic_write(paths["bins_xml"], g85_xml(wmap, bins, bin_table, lot, wafer_id, product,
                                            created))
    pass_codes = {code for code, rule in bin_table.items() if getattr(rule, "passed", False)}
    counts = yield_counts(cursor, pass_codes)
    paths["yield"] = out_dir / "yield.json"
    atomic_write(paths["yield"], json.dumps(counts, indent=1))
    if not draw_maps:
        return paths
    map_dir = out_dir / "maps"
    where = f"{lot} / {wafer_id}"
    bin_map_png(map_dir / "bins.png", wmap, bins, bin_table, subtitle=where)
    paths["map:bins"] = map_dir / "bins.png"
    special: dict[DieIndex, tuple[int, int, int]] = {}
    names: dict[str, tuple[int, int, int]] = {}
    for die, code in bins.items():
        rule = bin_table.get(code)
        if getattr(rule, "special", ""):
            special[die] = names[rule.name] = hex_rgb(rule.color)
    for column in maps or default_map_columns(df):
        if column not in df.columns:
            continue
        numeric = pd.to_numeric(df[column], errors="coerce")
        values = {(int(c), int(r)): float(v) for c, r, v, s in zip(
            df["col"], df["row"], numeric, df["state"], strict=True) if s == "done"}
        path = map_dir / f"{safe_name(column)}.png"
        value_map_png(path, wmap, values, column, special, subtitle=where,
                      special_names=names)
        paths[f"map:{column}"] = path
    return paths


__all__ = [
    "bins_table", "default_map_columns", "runs_table", "safe_name", "summary_table",
    "write_outputs", "yield_counts",
]
