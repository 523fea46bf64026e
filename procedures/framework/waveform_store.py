"""The native store of a run: waveforms and long per-cell histories in HDF5 beside the CSV.

pymeasure's results CSV holds one scalar per column and row (what stock pymeasure loads and the
GUI replays). Beside it, ``<results stem>.h5`` holds the run's *tables*, one HDF5 group each,
written as measured:

``/history`` (every procedure that declares ``HISTORY_COLUMNS``: pulse-train, program-verify,
endurance, retention)
    The per-cell history of the run: one record per read row the procedure emits (G vs pulse
    per cell, endurance checkpoints, retention reads), one 1-D dataset per column, named exactly
    like the CSV column (``"Cell row"``, ``"Read G (S)"``...; cells ``i4``, the rest ``f8``).
    The runner appends every emitted row batch (:meth:`RunStore.append_rows`); rows that do not
    match the procedure's ``HISTORY_WHERE`` (e.g. pulse-train's waveform rows in CSV mode) are
    left out.

``/waveforms`` (pulse-train with ``record_waveform``; the default ``waveform_file = "hdf5"``)

    =============  ==================  ==========================================================
    dataset        shape, dtype        content
    =============  ==================  ==========================================================
    ``t``          (n, points) f8      time of each sample, s (from the start of the cell's train)
    ``v``          (n, points) f8      applied voltage V_BL - V_SL, V
    ``i``          (n, points) f8      measured BL current, A
    ``cell_row``   (n,) i4             cell of each trace
    ``cell_col``   (n,) i4
    ``pulse``      (n,) i8             pulse number (the CSV's ``Pulse`` column: the key to the row)
    ``kind``       (n,) i1             +1 SET, -1 RESET
    =============  ==================  ==========================================================

The group attribute ``columns`` (JSON) lists the columns in order. Every table also has
``_committed`` (i8, 1..n), written after the record's columns: a reader keeps the records up to
the first one not committed. Records are written in blocks (a chunk's worth, or what arrived
within ``FLUSH_S``; :meth:`RunStore.append`), each block flushed. Datasets are chunked and
gzip-compressed; file attributes name the CSV and the procedure and, once the run has ended, how
it ended (``status``, ``bench_time_s``, ``wall_time_s``, ``round_trips``, ``ended_at``,
``message``: the figures of the CSV's closing block, :mod:`procedures.framework.run_end`). The
file is written in HDF5's single-writer/multiple-reader mode (SWMR, ``libver="latest"``): each
block is appended (resize, write) and flushed dataset by dataset, so the file on disk is always
consistent: a run killed (SIGKILL, power cut) mid-train leaves every block written before the
kill readable, and a reader may follow a run live. A file whose writer was killed still carries
the "open for write" flag: open it with ``h5py.File(path, "r", swmr=True)`` (what
:func:`read_table` and the readers of :mod:`procedures.analysis` do) or clear the flag with
HDF5's ``h5clear -s``.

The run's catalog summary references the file (``hdf5_file``, ``history_rows``; pulse-train
also ``waveform_file``, ``waveforms``). Units as in the CSV: s, V, A, S, ohm.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

CHUNK_TRACES = 64
"""Traces per HDF5 chunk of a waveform table."""
CHUNK_RECORDS = 1024
"""Records per HDF5 chunk of a scalar column."""
FLUSH_S = 1.0
"""s. Pending records are written at the latest with the first append this long after the
table's last write (and at close): a killed run loses at most the rows of its last second from
the HDF5 file (the CSV has every row)."""
HISTORY = "history"
WAVEFORMS = "waveforms"
GROUP = WAVEFORMS
COMMITTED = "_committed"
CELL_COLUMNS = ("Cell row", "Cell col")


@dataclass(frozen=True)
class Column:
    """One dataset of a table: ``points`` samples per record (0: one scalar)."""

    name: str
    dtype: str = "f8"
    points: int = 0


@dataclass(frozen=True)
class Table:
    """A group of the run's HDF5 file: columns appended record by record."""

    name: str
    columns: tuple[Column, ...]


def history_table(columns: Sequence[str]) -> Table:
    """The ``/history`` table of the CSV columns ``columns`` (cells i4, the rest f8)."""
    return Table(HISTORY, tuple(Column(c, "i4" if c in CELL_COLUMNS else "f8")
                                for c in columns))


def waveform_table(points: int) -> Table:
    """The ``/waveforms`` table: traces of ``points`` samples (t, v, i) and their index."""
    return Table(WAVEFORMS, (
        Column("t", "f8", points), Column("v", "f8", points), Column("i", "f8", points),
        Column("cell_row", "i4"), Column("cell_col", "i4"), Column("pulse", "i8"),
        Column("kind", "i1"),
    ))


def waveform_path(results_file: str | Path) -> Path:
    """The HDF5 file beside a results CSV."""
    return Path(results_file).with_suffix(".h5")


class RunStore:
    """The HDF5 file of one run (SWMR): its tables are created, then only appended.

    Args:
        results_file: the run's results CSV (the HDF5 file is made beside it).
        tables: the tables of the run (all created before SWMR starts).
        attrs: file attributes (procedure name, run parameters worth keeping).
    """

    def __init__(self, results_file: str | Path, tables: Sequence[Table],
                 attrs: Mapping[str, Any]) -> None:
        import h5py

        self.path = waveform_path(results_file)
        self.tables = {t.name: t for t in tables}
        self.counts = {t.name: 0 for t in tables}  # records appended (written or pending)
        self._file_n = {t.name: 0 for t in tables}  # records written to the file
        self._pending: dict[str, list[dict[str, np.ndarray]]] = {t.name: [] for t in tables}
        self._pending_n = {t.name: 0 for t in tables}
        self._written = {t.name: 0.0 for t in tables}  # monotonic time of the last write
        self.blocks_written = 0
        self.where: dict[str, float] = {}
        self._file = h5py.File(self.path, "w", libver="latest")
        self._file.attrs["results_file"] = Path(results_file).name
        for key, value in attrs.items():
            self._file.attrs[key] = value
        self._sets: dict[str, dict[str, Any]] = {}
        for table in tables:
            g = self._file.create_group(table.name)
            g.attrs["columns"] = json.dumps([c.name for c in table.columns])  # their order
            sets = {}
            for c in (*table.columns, Column(COMMITTED, "i8")):
                shape = (c.points,) if c.points else ()
                chunk = (CHUNK_TRACES, c.points) if c.points else (CHUNK_RECORDS,)
                sets[c.name] = g.create_dataset(
                    c.name, shape=(0, *shape), maxshape=(None, *shape), dtype=c.dtype,
                    chunks=chunk, compression="gzip", shuffle=bool(c.points))
            self._sets[table.name] = sets
        self._file.swmr_mode = True  # from here on only appends; the file stays consistent

    def append(self, table: str, columns: Mapping[str, Any]) -> None:
        """Append records to ``table``: every column of the table, first dimension alike.

        Records are buffered and written (then flushed) as one block when a chunk's worth is
        pending or ``FLUSH_S`` has passed since the table's last write, and at :meth:`close`:
        a row arriving after a pause is written at once, a fast stream in blocks (one write per
        chunk instead of a compressed chunk rewritten per row)."""
        spec = self.tables[table].columns
        m = len(np.asarray(columns[spec[0].name]))
        if m == 0:
            return
        pending = self._pending[table]
        pending.append({c.name: np.asarray(columns[c.name]) for c in spec})
        self._pending_n[table] += m
        self.counts[table] += m
        chunk = CHUNK_TRACES if any(c.points for c in spec) else CHUNK_RECORDS
        if (self._pending_n[table] >= chunk
                or time.monotonic() - self._written[table] >= FLUSH_S):
            self._write(table)

    def _write(self, table: str) -> None:
        """Write and flush the pending records of ``table`` (``_committed`` last)."""
        pending = self._pending[table]
        if not pending:
            return
        sets = self._sets[table]
        m = self._pending_n[table]
        n0 = self._file_n[table]
        n1 = n0 + m
        values = {name: np.concatenate([p[name].reshape((-1, *sets[name].shape[1:]))
                                        for p in pending]) for name in pending[0]}
        values[COMMITTED] = np.arange(n0 + 1, n1 + 1)
        for name, ds in sets.items():  # _committed last: it marks complete records
            ds.resize(n1, axis=0)
            ds[n0:n1] = values[name]
            ds.flush()
        self._file_n[table] = n1
        pending.clear()
        self._pending_n[table] = 0
        self._written[table] = time.monotonic()
        self.blocks_written += 1

    def flush(self) -> None:
        """Write every pending record now."""
        for table in self.tables:
            self._write(table)

    def append_rows(self, record: Mapping[str, Any]) -> None:
        """Append a row (scalars) or a batch of rows (lists) of the CSV to ``/history``.

        Columns the rows lack are NaN; rows not matching :attr:`where` (column -> value) are
        left out. Without a history table this does nothing."""
        table = self.tables.get(HISTORY)
        if table is None:
            return
        n = max((len(v) for v in record.values() if isinstance(v, (list, tuple, np.ndarray))),
                default=None)
        m = 1 if n is None else n

        def col(name: str) -> np.ndarray:
            if name not in record:
                return np.full(m, np.nan)
            v = np.asarray(record[name], dtype=float)
            return np.broadcast_to(v, (m,)) if v.ndim == 0 else v

        keep = np.ones(m, dtype=bool)
        for name, value in self.where.items():
            if name in record:
                keep &= col(name) == value
        if not keep.any():
            return
        self.append(HISTORY, {c.name: col(c.name)[keep] for c in table.columns})

    def summary(self) -> dict[str, Any]:
        """Catalog figures that reference the file."""
        out: dict[str, Any] = {"hdf5_file": self.path.name}
        if HISTORY in self.counts:
            out["history_rows"] = self.counts[HISTORY]
        if WAVEFORMS in self.counts:
            out["waveform_file"] = self.path.name
            out["waveforms"] = self.counts[WAVEFORMS]
        return out

    def set_end(self, figures: Mapping[str, Any]) -> None:
        """How the run ended as file attributes: ``status``, ``bench_time_s``,
        ``wall_time_s`` (s), ``round_trips``, ``ended_at``, ``message`` (the results file's
        closing block, :mod:`procedures.framework.run_end`), before :meth:`close`."""
        if self._file.id.valid:
            for key, value in figures.items():
                self._file.attrs[key] = value

    def close(self) -> None:
        """Write what is pending and close the file (clears HDF5's open-for-write flag); safe
        to call twice."""
        if self._file.id.valid:
            try:
                self.flush()
            finally:
                self._file.close()


def open_run_store(proc: Any, results_file: str | Path) -> RunStore | None:
    """The HDF5 store of a run of ``proc``: its ``HISTORY_COLUMNS`` as ``/history`` and the
    tables of ``proc.hdf5_tables()``; None when the procedure declares none."""
    tables = list(proc.hdf5_tables()) if hasattr(proc, "hdf5_tables") else []
    columns = tuple(getattr(proc, "HISTORY_COLUMNS", ()) or ())
    if columns:
        tables.insert(0, history_table(columns))
    if not tables:
        return None
    store = RunStore(results_file, tables, {"procedure": getattr(proc, "NAME", "")})
    store.where = dict(getattr(proc, "HISTORY_WHERE", {}) or {})
    return store


def read_table(path: str | Path, table: str) -> dict[str, np.ndarray]:
    """The committed records of one table of an HDF5 run file (a killed run's too), as arrays."""
    import h5py

    with h5py.File(path, "r", swmr=True) as f:
        g = f[table]
        committed = g[COMMITTED][:]
        ok = committed == np.arange(1, committed.size + 1)
        n = int(committed.size if ok.all() else np.argmin(ok))
        names = json.loads(g.attrs["columns"]) if "columns" in g.attrs else \
            [name for name in g if name != COMMITTED]
        return {name: g[name][:n] for name in names}


def read_waveforms(path: str | Path) -> dict[str, np.ndarray]:
    """The traces of an HDF5 waveform file: ``t``, ``v``, ``i`` (n, points) and ``cell_row``,
    ``cell_col``, ``pulse``, ``kind`` (n,), the complete blocks of a killed run too."""
    return read_table(path, WAVEFORMS)


def read_history(path: str | Path) -> dict[str, np.ndarray]:
    """The ``/history`` records of an HDF5 run file (CSV column names -> arrays)."""
    return read_table(path, HISTORY)


__all__ = ["CHUNK_RECORDS", "CHUNK_TRACES", "Column", "HISTORY", "RunStore", "Table",
           "WAVEFORMS", "history_table", "open_run_store", "read_history", "read_table",
           "read_waveforms", "waveform_path", "waveform_table"]
