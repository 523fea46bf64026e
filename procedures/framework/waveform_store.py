"""Waveforms and long per-cell histories in HDF5 beside the results CSV, written as measured.

pymeasure's results CSV holds one scalar per column and row; a sampled waveform per pulse (or
any fixed-length trace) goes instead to ``<results stem>.h5`` in the same folder, one group per
kind of trace (``/waveforms``):

=============  ==================  =============================================================
dataset        shape, dtype        content
=============  ==================  =============================================================
``t``          (n, points) f8      time of each sample, s (from the start of the cell's train)
``v``          (n, points) f8      applied voltage V_BL - V_SL, V
``i``          (n, points) f8      measured BL current, A
``cell_row``   (n,) i4             cell of each trace
``cell_col``   (n,) i4
``pulse``      (n,) i8             pulse number (the CSV's ``Pulse`` column: the key to the row)
``kind``       (n,) i1             +1 SET, -1 RESET
=============  ==================  =============================================================

Datasets are chunked (:data:`CHUNK_TRACES` traces per chunk) and gzip-compressed; file
attributes say which CSV and procedure they belong to. The file is written in HDF5's
single-writer/multiple-reader mode (SWMR, ``libver="latest"``): every block is appended (resize,
write) and flushed dataset by dataset, so the file on disk is always consistent — a run killed
(SIGKILL, power cut) mid-train leaves every block written before the kill readable, and a
reader may follow a run live. A file whose writer was killed still carries the "open for write"
flag: open it with ``h5py.File(path, "r", swmr=True)`` (what :func:`read_waveforms` and
:func:`procedures.analysis.run_waveforms` do) or clear the flag with HDF5's ``h5clear -s``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

CHUNK_TRACES = 64
"""Traces per HDF5 chunk."""
GROUP = "waveforms"
_INDEX = (("cell_row", "i4"), ("cell_col", "i4"), ("pulse", "i8"), ("kind", "i1"))
_TRACES = ("t", "v", "i")


def waveform_path(results_file: str | Path) -> Path:
    """The HDF5 file beside a results CSV."""
    p = Path(results_file)
    return p.with_suffix(".h5")


class WaveformWriter:
    """Appends fixed-length traces to the HDF5 file of a run (SWMR, flushed per block).

    Args:
        results_file: the run's results CSV (the HDF5 file is made beside it).
        points: samples per trace.
        attrs: file attributes (procedure name, run parameters worth keeping).
    """

    def __init__(self, results_file: str | Path, points: int, attrs: dict[str, Any]) -> None:
        import h5py

        self.path = waveform_path(results_file)
        self.points = int(points)
        self.count = 0
        self._file = h5py.File(self.path, "w", libver="latest")
        self._file.attrs["results_file"] = Path(results_file).name
        for key, value in attrs.items():
            self._file.attrs[key] = value
        g = self._file.create_group(GROUP)
        self._sets = {}
        for name in _TRACES:
            self._sets[name] = g.create_dataset(
                name, shape=(0, self.points), maxshape=(None, self.points), dtype="f8",
                chunks=(CHUNK_TRACES, self.points), compression="gzip", shuffle=True)
        for name, dtype in _INDEX:
            self._sets[name] = g.create_dataset(
                name, shape=(0,), maxshape=(None,), dtype=dtype, chunks=(CHUNK_TRACES * 16,),
                compression="gzip")
        self._file.swmr_mode = True  # from here on only appends; the file stays consistent

    def append(self, cell: tuple[int, int], pulses: list[int], kind: int,
               t: np.ndarray, v: np.ndarray, i: np.ndarray) -> None:
        """Append one block of traces (``t``/``v``/``i``: shape (len(pulses), points))."""
        m = len(pulses)
        if m == 0:
            return
        n0, n1 = self.count, self.count + m
        columns = {"t": t, "v": v, "i": i, "cell_row": np.full(m, cell[0]),
                   "cell_col": np.full(m, cell[1]), "pulse": np.asarray(pulses),
                   "kind": np.full(m, kind)}
        # index datasets last: a reader (or a crash) never sees an index without its traces
        for name in (*_TRACES, *(n for n, _ in _INDEX)):
            ds = self._sets[name]
            ds.resize(n1, axis=0)
            ds[n0:n1] = np.asarray(columns[name]).reshape((m, *ds.shape[1:]))
            ds.flush()
        self.count = n1

    def close(self) -> None:
        """Close the file (clears HDF5's open-for-write flag)."""
        if self._file.id.valid:
            self._file.close()


def read_waveforms(path: str | Path) -> dict[str, np.ndarray]:
    """The traces of an HDF5 waveform file as arrays (complete blocks of a killed run too).

    Returns ``t``, ``v``, ``i`` (n, points) and ``cell_row``, ``cell_col``, ``pulse``, ``kind``
    (n,), trimmed to the traces whose index was written.
    """
    import h5py

    with h5py.File(path, "r", swmr=True) as f:
        g = f[GROUP]
        n = min(g[name].shape[0] for name, _ in _INDEX)
        return {name: g[name][:n] for name in (*_TRACES, *(k for k, _ in _INDEX))}


__all__ = ["CHUNK_TRACES", "WaveformWriter", "read_waveforms", "waveform_path"]
