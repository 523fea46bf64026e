"""pandas access to the run catalog and the results files, for notebooks and scripts.

* :func:`runs_frame`: one row per catalog entry, the summary figures flattened into columns;
* :func:`run_data`: the data rows of one run (pymeasure ``Results.load``; partial files of
  aborted or killed runs load too; ``waveforms=True`` adds the HDF5 traces as rows);
* :func:`device_history`: the life of one cell across runs (:mod:`procedures.data.device_history`);
* :func:`run_waveforms`: the HDF5 waveforms beside a run's CSV (pulse-train with
  ``record_waveform``; HDF5 is the default store);
* :func:`run_history`, :func:`cell_history`: the per-cell histories of a run from its HDF5 file
  (pulse-train and program-verify G vs pulse, endurance checkpoints, retention reads);
* :func:`summary_table`: median, 5th and 95th percentile of summary figures per die (or any
  grouping of :func:`runs_frame` columns).

Every function takes a :class:`~procedures.framework.catalog.Catalog`, a data root directory (the
catalog
is ``<root>/catalog.sqlite``) or an SQLAlchemy URL. Example::

    from procedures.analysis import runs_frame, summary_table
    runs = runs_frame("data", procedure="forming", status="finished")
    table = summary_table("data", "forming", figures=["v_form", "r_lrs"])
    table["v_form_median"].unstack("die_row")  # a wafer map of the median V_form
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pymeasure.experiment import Results

from procedures.framework.catalog import Catalog, RunInfo
from procedures.framework.run_end import read_run_end

CatalogLike = Catalog | str | Path

BASE_COLUMNS = (
    "id", "procedure", "status", "lot", "wafer", "die_col", "die_row", "subsite", "array",
    "temperature_c", "operator", "bench", "station", "message", "started_at", "ended_at", "file",
)
"""Columns of :func:`runs_frame` taken from the catalog entry (summary figures follow)."""

_CATALOG_FILTERS = ("procedure", "die", "status", "wafer")
STATS = (("median", 0.5), ("p5", 0.05), ("p95", 0.95))
"""Statistics of :func:`summary_table`: column suffix and quantile."""


@contextmanager
def _open(catalog_or_root: CatalogLike) -> Iterator[Catalog]:
    """The catalog itself, or one opened on a root/URL and closed afterwards."""
    if isinstance(catalog_or_root, Catalog):
        yield catalog_or_root
        return
    catalog = Catalog(catalog_or_root)
    try:
        yield catalog
    finally:
        catalog.close()


def _catalog_root(catalog: Catalog) -> Path | None:
    """Directory of an SQLite catalog file (relative file paths are tried against it)."""
    prefix = "sqlite:///"
    if catalog.url.startswith(prefix):
        return Path(catalog.url[len(prefix):]).parent
    return None


def _resolve(file: str, root: Path | None) -> Path:
    path = Path(file)
    if not path.is_absolute() and not path.exists() and root is not None:
        candidate = root / path
        if candidate.exists():
            return candidate
    return path


def _flatten(summary: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Scalar figures of a summary (nested dicts as ``a.b``); lists and None are left out."""
    out: dict[str, Any] = {}
    for key, value in summary.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, f"{name}."))
        elif isinstance(value, (bool, int, float, str, np.generic)):
            out[name] = value
    return out


def _row(info: RunInfo, root: Path | None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": info.id, "procedure": info.procedure, "status": info.status, "lot": info.lot,
        "wafer": info.wafer, "die_col": info.die[0] if info.die else None,
        "die_row": info.die[1] if info.die else None, "subsite": info.subsite,
        "array": info.array, "temperature_c": info.temperature_c, "operator": info.operator,
        "bench": info.bench, "station": info.station, "message": info.message,
        "started_at": info.started_at or None,
        "ended_at": info.ended_at, "file": str(_resolve(info.file, root)) if info.file else "",
    }
    for key, value in _flatten(info.summary).items():
        row[key if key not in row else f"summary.{key}"] = value
    return row


def runs_frame(catalog_or_root: CatalogLike, **filters: Any) -> pd.DataFrame:
    """One row per run: catalog columns (:data:`BASE_COLUMNS`) then the summary figures.

    Args:
        catalog_or_root: a Catalog, a data root or an SQLAlchemy URL.
        **filters: ``procedure``, ``status``, ``wafer`` (strings) and ``die`` ((col, row)) are
            passed to :meth:`Catalog.runs`; any other column name filters on equality (a list,
            tuple or set value matches any of its members), e.g. ``array="2T2R"``,
            ``status=("finished", "aborted")``.

    Returns:
        DataFrame indexed 0..n-1, oldest run first; ``started_at``/``ended_at`` are UTC
        timestamps, ``die_col``/``die_row``/``subsite`` nullable integers, figures missing from
        a run's summary are NaN/None. Summary keys that clash with a catalog column are
        prefixed ``summary.``.
    """
    catalog_kw: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in filters.items():
        if key == "die":
            catalog_kw[key] = None if value is None else (int(value[0]), int(value[1]))
        elif key in _CATALOG_FILTERS and not isinstance(value, (list, tuple, set)):
            catalog_kw[key] = value
        else:
            extra[key] = value
    with _open(catalog_or_root) as catalog:
        root = _catalog_root(catalog)
        infos = catalog.runs(**catalog_kw)
        rows = [_row(info, root) for info in infos]
    frame = pd.DataFrame(rows, columns=None if rows else list(BASE_COLUMNS))
    for col in ("started_at", "ended_at"):
        frame[col] = pd.to_datetime(frame[col], utc=True, format="ISO8601")
    for col in ("die_col", "die_row", "subsite", "id"):
        frame[col] = frame[col].astype("Int64")
    for key, value in extra.items():
        if key not in frame.columns:
            raise KeyError(f"no column {key!r} to filter on; columns: {', '.join(frame.columns)}")
        if isinstance(value, (list, tuple, set)):
            frame = frame[frame[key].isin(list(value))]
        else:
            frame = frame[frame[key] == value]
    return frame.reset_index(drop=True)


def run_data(catalog_or_root: CatalogLike, run_id: int,
             waveforms: bool = False) -> pd.DataFrame:
    """The data rows of run ``run_id`` as a DataFrame (columns as in the procedure's file).

    The file is read with pymeasure's ``Results.load``, so it works for runs that are still
    running or were aborted or killed (their partial files). ``frame.attrs["run"]`` holds the
    catalog entry (:meth:`RunInfo.to_json`), ``frame.attrs["run_end"]`` the file's closing block
(:mod:`procedures.framework.run_end`: status, ``bench_time_s``, ``wall_time_s``, ``round_trips``;
None while the run is running or for a killed run). With ``waveforms``, the traces of the run's HDF5
    ``/waveforms`` table (pulse-train, ``waveform_file = "hdf5"``) follow as the rows the CSV
    would hold with ``waveform_file = "csv"`` (:func:`waveform_rows`); a run without them is
    returned as is. Raises KeyError for an unknown run and FileNotFoundError if its file is
    gone.
    """
    with _open(catalog_or_root) as catalog:
        info = catalog.get(int(run_id))
        path = _resolve(info.file, _catalog_root(catalog))
        waves = None
        if waveforms:
            try:
                waves = run_waveforms(catalog, run_id)
            except FileNotFoundError:
                waves = None
    if not info.file or not path.is_file():
        raise FileNotFoundError(f"results file of run {run_id} not found: {info.file!r}")
    results = Results.load(str(path))
    data = results.data.copy().reset_index(drop=True)
    if waves is not None:
        data = pd.concat([data, waveform_rows(waves, data)], ignore_index=True)
    data.attrs["run"] = info.to_json()
    end = read_run_end(path)  # None while it runs or for a killed run's file
    data.attrs["run_end"] = None if end is None else end.as_dict()
    return data


#: HDF5 waveform dataset -> CSV column of pulse-train (:mod:`procedures.framework.waveform_store`)
WAVEFORM_COLUMNS = {"cell_row": "Cell row", "cell_col": "Cell col", "pulse": "Pulse",
                    "kind": "Kind", "t": "Time (s)", "v": "Applied V (V)",
                    "i": "Measured I (A)"}


def waveform_rows(waves: dict[str, np.ndarray], data: pd.DataFrame) -> pd.DataFrame:
    """The HDF5 traces ``waves`` (:func:`run_waveforms`) as rows with ``data``'s columns: one
    row per sample (``Point`` 0.. within its trace, samples padded with NaN left out), the
    per-trace keys repeated, the pulse's ``Amplitude (V)`` and ``Gate (V)`` from its row in
    ``data`` when it has one, NaN elsewhere (s, V, A as in the CSV)."""
    t = np.asarray(waves["t"], dtype=float)
    trace, point = np.nonzero(np.isfinite(t))
    cols: dict[str, Any] = {"Point": point}
    for name, column in WAVEFORM_COLUMNS.items():
        values = np.asarray(waves[name])
        cols[column] = values[trace, point] if values.ndim == 2 else values[trace]
    rows = pd.DataFrame(cols)
    keys = ["Cell row", "Cell col", "Pulse"]
    extra = [c for c in ("Amplitude (V)", "Gate (V)") if c in data.columns]
    if extra and set(keys) <= set(data.columns) and len(rows):
        known = data[keys + extra].dropna().drop_duplicates(keys).astype({k: float for k in keys})
        rows = rows.astype({k: float for k in keys}).merge(known, on=keys, how="left")
    return rows.reindex(columns=list(data.columns) or list(rows.columns))


def _hdf5_path(catalog_or_root: CatalogLike, run_id: int) -> Path:
    """The HDF5 file beside run ``run_id``'s CSV; FileNotFoundError if it has none."""
    from procedures.framework.waveform_store import waveform_path

    with _open(catalog_or_root) as catalog:
        info = catalog.get(int(run_id))
        path = waveform_path(_resolve(info.file, _catalog_root(catalog)))
    if not path.is_file():
        raise FileNotFoundError(f"run {run_id} has no HDF5 file ({path.name})")
    return path


def run_history(catalog_or_root: CatalogLike, run_id: int,
                cell: tuple[int, int] | None = None) -> pd.DataFrame:
    """The per-cell history of run ``run_id`` from its HDF5 ``/history`` table, as a DataFrame
    with the CSV's column names and units (e.g. ``Pulse`` and ``Read G (S)`` for pulse-train,
    ``Cycle`` and ``R_LRS (ohm)`` for endurance, ``Time (s)`` and ``Conductance (S)`` for
    retention), in measurement order. ``cell`` = (row, col) keeps one cell. Works on the file of
    a running or killed run (the rows written so far). Raises FileNotFoundError if the run has
    no HDF5 file and KeyError if its file has no history."""
    from procedures.framework.waveform_store import HISTORY, read_table

    path = _hdf5_path(catalog_or_root, run_id)
    try:
        frame = pd.DataFrame(read_table(path, HISTORY))
    except KeyError:
        raise KeyError(f"run {run_id}: {path.name} has no per-cell history") from None
    if cell is not None:
        frame = frame[(frame["Cell row"] == cell[0]) & (frame["Cell col"] == cell[1])]
    return frame.reset_index(drop=True)


def cell_history(catalog_or_root: CatalogLike, run_id: int,
                 cell: tuple[int, int]) -> pd.DataFrame:
    """The history of one cell (row, col) in run ``run_id`` (:func:`run_history`)."""
    return run_history(catalog_or_root, run_id, cell)


def run_waveforms(catalog_or_root: CatalogLike, run_id: int) -> dict[str, np.ndarray]:
    """The HDF5 waveforms of run ``run_id`` (:mod:`procedures.framework.waveform_store`): arrays
    ``t``,
    ``v``, ``i`` (traces x points; s, V, A) and ``cell_row``, ``cell_col``, ``pulse``, ``kind``
    per trace. Works on the file of a running or killed run (complete blocks). Raises
    FileNotFoundError if the run has no waveform file."""
    from procedures.framework.waveform_store import WAVEFORMS, read_table

    path = _hdf5_path(catalog_or_root, run_id)
    try:
        return read_table(path, WAVEFORMS)
    except KeyError:
        raise FileNotFoundError(f"run {run_id} has no waveforms in {path.name}") from None


def summary_table(
    catalog_or_root: CatalogLike,
    procedure: str,
    figures: Sequence[str] | None = None,
    by: Sequence[str] | str = ("die_col", "die_row"),
    status: str | Sequence[str] = "finished",
) -> pd.DataFrame:
    """Median, 5th and 95th percentile of summary figures per group (per die by default).

    Args:
        catalog_or_root: a Catalog, a data root or an SQLAlchemy URL.
        procedure: procedure name (e.g. ``"forming"``).
        figures: summary figures to aggregate; None = every numeric figure of the runs.
        by: :func:`runs_frame` column(s) to group by (runs with a missing key are left out).
        status: run status(es) to include (aborted runs have partial figures).

    Returns:
        DataFrame indexed by ``by`` with ``n_runs`` and, for every figure ``f``, the columns
        ``f_median``, ``f_p5`` and ``f_p95`` (NaN ignored; linear interpolation between runs).
        Raises ValueError naming a requested figure that is absent or not numeric.
    """
    keys = [by] if isinstance(by, str) else list(by)
    statuses = (status,) if isinstance(status, str) else tuple(status)
    frame = runs_frame(catalog_or_root, procedure=procedure, status=statuses)
    missing_keys = [k for k in keys if k not in frame.columns]
    if missing_keys:
        raise ValueError(f"cannot group by {missing_keys}: not columns of runs_frame")
    summary_cols = [c for c in frame.columns if c not in BASE_COLUMNS and c not in keys]
    numeric = [c for c in summary_cols
               if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(
                   frame[c])]
    if figures is None:
        chosen = numeric
    else:
        chosen = list(figures)
        bad = [f for f in chosen if f not in numeric]
        if bad:
            raise ValueError(
                f"figures {bad} are not numeric summary figures of {procedure!r} runs; "
                f"available: {', '.join(numeric) or '(none)'}"
            )
    frame = frame.dropna(subset=keys)
    columns = ["n_runs"] + [f"{f}_{name}" for f in chosen for name, _ in STATS]
    if frame.empty:
        return pd.DataFrame(columns=columns, index=pd.MultiIndex.from_tuples([], names=keys)
                            if len(keys) > 1 else pd.Index([], name=keys[0]))
    values = frame[keys + chosen].copy()
    values[chosen] = values[chosen].astype(float)
    grouped = values.groupby(keys, sort=True)
    out = pd.DataFrame({"n_runs": grouped.size()})
    for f in chosen:
        for name, q in STATS:
            out[f"{f}_{name}"] = grouped[f].quantile(q)
    return out[columns]


__all__ = ["BASE_COLUMNS", "STATS", "cell_history", "run_data", "run_history", "run_waveforms",
           "runs_frame", "summary_table"]


def device_history(die: tuple[int, int] | str, array: str, cell: tuple[int, int] | str,
                   catalog_or_root: CatalogLike = ".") -> pd.DataFrame:
    """Everything one cell has been through, one row per event (forming, reads, pulses,
    cycles) across runs, days and restarts; ``frame.attrs["summary"]`` sums it up (formed
    when / V_form / compliance, pulses and cycles so far, last read G and when, runs).

    Columns and rules: :mod:`procedures.data.device_history`. ``die`` and ``cell`` as tuples or
    ``"col,row"`` / ``"row,col"`` strings.
    """
    from procedures.data.device_history import history_frame
    from procedures.framework.targets import parse_die

    if isinstance(die, str):
        parsed = parse_die(die)
        if parsed is None:
            raise ValueError(f"die {die!r}: give col,row")
        die = parsed
    if isinstance(cell, str):
        cell = tuple(int(x) for x in cell.split(","))  # type: ignore[assignment]
    with _open(catalog_or_root) as catalog:
        infos = catalog.runs(die=tuple(die))
        return history_frame(infos, cached_loader(catalog), tuple(die), array,
                             tuple(cell))  # type: ignore[arg-type]


def cached_loader(catalog: Catalog) -> Any:
    """``load(run_id) -> DataFrame`` reading each run's file once (:func:`run_data`)."""
    cache: dict[int, pd.DataFrame] = {}

    def load(run_id: int) -> pd.DataFrame:
        if run_id not in cache:
            cache[run_id] = run_data(catalog, run_id)
        return cache[run_id]

    return load
