"""``memprobe export``: the catalog and the runs' data as Parquet, for DuckDB, pandas or Spark.

Layout under the output directory (Hive-style partitions, what DuckDB's
``read_parquet(..., hive_partitioning = true)``, ``pandas.read_parquet`` and Spark read)::

    catalog.parquet                                  one row per run (analysis.runs_frame)
    summary/<procedure>/lot=<lot>/wafer=<wafer>/...  one row per run: catalog columns + the
                                                     summary figures (scalars) of that procedure
    data/<procedure>/lot=<lot>/wafer=<wafer>/...     every data row of every run, with run_id,
                                                     die_col, die_row, subsite, station, status

One dataset per procedure (their columns differ), one file per run in ``data/``
(``run<id>-0.parquet``): exporting again into the same directory replaces a run's file, never
duplicates it. Runs whose results file is missing are counted and skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from procedures.framework.catalog import Catalog
from procedures.framework.validation import safe_component

PARTITIONS = ("lot", "wafer")


@dataclass
class ExportReport:
    """What :func:`export` wrote."""

    runs: int = 0
    rows: int = 0
    procedures: list[str] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)


def _frame(catalog: Catalog, **filters: Any) -> pd.DataFrame:
    from procedures.analysis import runs_frame

    return runs_frame(catalog, **filters)


def _write(frame: pd.DataFrame, root: Path, basename: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = frame.copy()
    for col in frame.columns:  # a figure that is text in one run and a number in another
        if frame[col].dtype == object and not frame[col].map(
                lambda v: v is None or isinstance(v, str)).all():
            frame[col] = frame[col].map(lambda v: None if v is None else str(v))
    for col in PARTITIONS:  # a partition needs a value: "" becomes "_"
        frame[col] = frame[col].fillna("").astype(str).map(lambda v: v or "_")
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_to_dataset(table, str(root), partition_cols=list(PARTITIONS),
                        basename_template=basename + "-{i}.parquet",
                        existing_data_behavior="overwrite_or_ignore")


def export(catalog: Catalog, out: str | Path, procedure: str | None = None) -> ExportReport:
    """Write the catalog and every run's data under ``out`` (layout in the module docstring)."""
    from procedures.analysis import run_data

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    frame = _frame(catalog, **({"procedure": procedure} if procedure else {}))
    frame.to_parquet(out / "catalog.parquet", index=False)
    rep = ExportReport(runs=len(frame))
    for name, runs in frame.groupby("procedure", sort=True):
        rep.procedures.append(str(name))
        summary = runs.dropna(axis=1, how="all")
        _write(summary, out / "summary" / safe_component(name), "summary")
        for _, run in runs.iterrows():
            try:
                data = run_data(catalog, int(run["id"]))
            except FileNotFoundError:
                rep.missing.append(int(run["id"]))
                continue
            data.attrs = {}
            for col in ("run_id", "die_col", "die_row", "subsite", "station", "status",
                        "lot", "wafer"):
                src = "id" if col == "run_id" else col
                data[col] = run[src]
            _write(data, out / "data" / safe_component(name), f"run{int(run['id'])}")
            rep.rows += len(data)
    return rep


__all__ = ["ExportReport", "PARTITIONS", "export"]
