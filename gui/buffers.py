"""Growable column buffers for live data: pure numpy, no Qt.

A :class:`ColumnBuffer` holds named 1-D numpy columns of equal length. Rows arrive one at a time
(a dict, as from ``emit('results', row)``) or in batches (a list of dicts, or a dict of arrays, as
from ``emit('batch results', ...)``). Storage grows by doubling, so appending is amortised O(1) per
row. :meth:`ColumnBuffer.column` returns a read-only *view* of the valid rows (no copy), which a
plot hands straight to pyqtgraph's ``setData``.

With ``max_len`` the buffer keeps only the newest ``max_len`` rows (ring behaviour). It still
returns contiguous views: storage is twice ``max_len`` and, when the end is reached, the newest
rows are copied to the start of a fresh allocation (amortised O(1) per row as well).

Views are stable snapshots: rows already exposed through a view are never overwritten in place.
New rows are only written past the end of every view handed out; growth, ring compaction and
:meth:`ColumnBuffer.clear` allocate new arrays. A view taken earlier therefore keeps showing the
rows it showed, even while the buffer keeps growing, which makes it safe to keep in a plot item.

Values carry whatever unit the caller's column name says (``"Voltage (V)"`` holds volts); the
buffer never converts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

Rows = Sequence[Mapping[str, Any]] | Mapping[str, ArrayLike]
"""A batch of rows: a sequence of ``{column: value}`` dicts, or a ``{column: array}`` dict."""

DEFAULT_CAPACITY = 256
"""Rows allocated on the first append (unless ``initial_capacity`` says otherwise)."""


def rows_to_columns(rows: Rows | Mapping[str, Any], columns: Iterable[str] | None = None,
                    fill_value: float = np.nan) -> dict[str, np.ndarray]:
    """Normalise a batch of rows to ``{column: 1-D float array}``, all of one length.

    ``rows`` is a list of dicts (keys missing from a row become ``fill_value``), a dict of arrays
    or scalars (scalars are broadcast to the batch length), or a single row dict of scalars
    (a batch of one). ``columns`` selects and orders the output columns (default: every key, in
    first-seen order). Arrays of different lengths raise ``ValueError``. Values are converted to
    float64; use :meth:`ColumnBuffer.extend` for other dtypes.
    """
    if isinstance(rows, Mapping):
        names = list(rows) if columns is None else list(columns)
        arrays = {name: np.asarray(rows[name]) if name in rows else None for name in names}
        lengths = {a.shape[0] for a in arrays.values() if a is not None and a.ndim == 1}
        if any(a is not None and a.ndim > 1 for a in arrays.values()):
            raise ValueError("columns must be 1-D arrays or scalars")
        if len(lengths) > 1:
            raise ValueError(f"columns have different lengths: {sorted(lengths)}")
        k = lengths.pop() if lengths else (1 if any(a is not None for a in arrays.values())
                                            else 0)
        out: dict[str, np.ndarray] = {}
        for name, a in arrays.items():
            if a is None:
                out[name] = np.full(k, fill_value, dtype=float)
            else:
                out[name] = np.broadcast_to(a, (k,)).astype(float)
        return out
    rows = list(rows)
    if columns is None:
        names = list(dict.fromkeys(key for row in rows for key in row))
    else:
        names = list(columns)
    return {
        name: np.fromiter((row.get(name, fill_value) for row in rows), dtype=float,
                          count=len(rows))
        for name in names
    }


class ColumnBuffer:
    """Named numpy columns that grow by doubling, with optional ring behaviour.

    ``columns`` is a sequence of names (all float64) or a ``{name: dtype}`` mapping.
    ``max_len`` (rows) keeps only the newest rows; ``None`` grows without bound.
    Missing values of float columns are filled with ``fill_value`` (NaN by default); integer and
    boolean columns must always be given.

    >>> buf = ColumnBuffer(["Voltage (V)", "Current (A)"])
    >>> buf.append({"Voltage (V)": 0.1, "Current (A)": 1e-6})
    >>> buf.extend({"Voltage (V)": [0.2, 0.3], "Current (A)": [2e-6, 3e-6]})
    2
    >>> buf.column("Voltage (V)")
    array([0.1, 0.2, 0.3])
    """

    def __init__(self, columns: Sequence[str] | Mapping[str, DTypeLike], *,
                 max_len: int | None = None, initial_capacity: int = DEFAULT_CAPACITY,
                 fill_value: float = np.nan) -> None:
        if isinstance(columns, Mapping):
            dtypes = {str(name): np.dtype(dt) for name, dt in columns.items()}
        else:
            dtypes = {str(name): np.dtype(float) for name in columns}
        if not dtypes:
            raise ValueError("a ColumnBuffer needs at least one column")
        if len(dtypes) != len(columns):
            raise ValueError("column names must be unique")
        if max_len is not None and max_len < 1:
            raise ValueError(f"max_len must be >= 1 (or None), not {max_len}")
        if initial_capacity < 1:
            raise ValueError(f"initial_capacity must be >= 1, not {initial_capacity}")
        self._dtypes = dtypes
        self._max_len = max_len
        self._initial = initial_capacity if max_len is None else min(initial_capacity,
                                                                     2 * max_len)
        self.fill_value = fill_value
        """Value stored for a float column missing from a row."""
        self._data: dict[str, np.ndarray] = {}
        self._start = 0  # index of the oldest valid row in the storage arrays
        self._n = 0  # number of valid rows
        self._total = 0  # rows ever appended (including dropped ones)
        self._last_nonfinite = dict.fromkeys(dtypes, -1)  # absolute row index, -1 = none
        self._allocate(0)

    # -- properties ---------------------------------------------------------------------------
    @property
    def columns(self) -> tuple[str, ...]:
        """Column names, in order."""
        return tuple(self._dtypes)

    @property
    def dtypes(self) -> dict[str, np.dtype]:
        """``{column: dtype}``."""
        return dict(self._dtypes)

    @property
    def max_len(self) -> int | None:
        """Most rows kept (ring behaviour), or ``None`` for unbounded."""
        return self._max_len

    @property
    def capacity(self) -> int:
        """Rows the current storage arrays can hold before the next reallocation."""
        return next(iter(self._data.values())).shape[0]

    @property
    def total(self) -> int:
        """Rows ever appended since creation or :meth:`clear`, including dropped ones."""
        return self._total

    @property
    def dropped(self) -> int:
        """Rows discarded by the ring limit (``total - len``)."""
        return self._total - self._n

    def __len__(self) -> int:
        return self._n

    def __contains__(self, name: object) -> bool:
        return name in self._dtypes

    def __repr__(self) -> str:
        return (f"ColumnBuffer(columns={list(self._dtypes)}, len={self._n}, "
                f"capacity={self.capacity}, max_len={self._max_len})")

    # -- reading ------------------------------------------------------------------------------
    def column(self, name: str) -> np.ndarray:
        """Read-only view (no copy) of the valid rows of column ``name``, oldest first."""
        try:
            arr = self._data[name]
        except KeyError:
            raise KeyError(f"no column {name!r}; columns are {list(self._dtypes)}") from None
        view = arr[self._start:self._start + self._n]
        view.flags.writeable = False
        return view

    __getitem__ = column

    def view(self) -> dict[str, np.ndarray]:
        """``{column: read-only view}`` of the valid rows (no copy)."""
        return {name: self.column(name) for name in self._dtypes}

    def all_finite(self, name: str) -> bool:
        """True when no valid row of column ``name`` is NaN or infinite (O(1), tracked on append).

        Plots use it to skip pyqtgraph's O(n) finite check on every redraw.
        """
        return self._last_nonfinite[name] < self._total - self._n

    # -- writing ------------------------------------------------------------------------------
    def append(self, row: Mapping[str, Any]) -> None:
        """Append one row given as ``{column: value}``; keys that are not columns are ignored."""
        self.extend([row])

    def extend(self, rows: Rows) -> int:
        """Append a batch: a sequence of row dicts or a ``{column: array or scalar}`` dict.

        Keys that are not columns are ignored; missing float columns get ``fill_value``;
        scalars in a dict batch are broadcast. Returns the number of rows appended (with
        ``max_len``, only the newest ``max_len`` of a larger batch are stored).
        """
        batch = self._normalise(rows)
        k = next(iter(batch.values())).shape[0]
        if k == 0:
            return 0
        skipped = 0
        if self._max_len is not None and k > self._max_len:
            skipped = k - self._max_len
            batch = {name: a[skipped:] for name, a in batch.items()}
        stored = k - skipped
        self._make_room(stored)
        at = self._start + self._n
        first_abs = self._total + skipped  # absolute index of the first stored row
        for name, values in batch.items():
            self._data[name][at:at + stored] = values
            if values.dtype.kind in "fc":
                bad = np.flatnonzero(~np.isfinite(values))
                if bad.size:
                    self._last_nonfinite[name] = first_abs + int(bad[-1])
        self._n += stored
        self._total += k
        return stored

    def clear(self) -> None:
        """Drop every row (views handed out earlier keep their data)."""
        self._n = 0
        self._start = 0
        self._total = 0
        self._last_nonfinite = dict.fromkeys(self._dtypes, -1)
        self._allocate(0)

    # -- internals ----------------------------------------------------------------------------
    def _allocate(self, capacity: int) -> None:
        capacity = max(capacity, self._initial)
        self._data = {name: np.empty(capacity, dtype=dt) for name, dt in self._dtypes.items()}

    def _normalise(self, rows: Rows) -> dict[str, np.ndarray]:
        """``{column: 1-D array of the column dtype}`` for every column, equal lengths."""
        if isinstance(rows, Mapping):
            given = {name: np.asarray(rows[name]) for name in self._dtypes if name in rows}
            if any(a.ndim > 1 for a in given.values()):
                raise ValueError("columns must be 1-D arrays or scalars")
            lengths = {a.shape[0] for a in given.values() if a.ndim == 1}
            if len(lengths) > 1:
                raise ValueError(f"columns have different lengths: {sorted(lengths)}")
            if lengths:
                k = lengths.pop()
            else:
                k = 1 if given else 0
            columns = {name: np.broadcast_to(a, (k,)) for name, a in given.items()}
        else:
            rows = list(rows)
            k = len(rows)
            columns = {}
            for name in self._dtypes:
                present = [name in row for row in rows]
                if all(present):
                    columns[name] = np.array([row[name] for row in rows])
                elif any(present):
                    fill = self._missing(name)
                    columns[name] = np.array([row.get(name, fill) for row in rows])
        out: dict[str, np.ndarray] = {}
        for name, dt in self._dtypes.items():
            if name in columns:
                out[name] = np.asarray(columns[name]).astype(dt, copy=False)
            else:
                out[name] = np.full(k, self._missing(name), dtype=dt)
        return out

    def _missing(self, name: str) -> float:
        if self._dtypes[name].kind not in "fc":
            raise KeyError(f"column {name!r} ({self._dtypes[name]}) has no default; give it")
        return self.fill_value

    def _make_room(self, k: int) -> None:
        """Ensure ``k`` more rows fit after the valid ones, dropping the oldest in ring mode."""
        keep = self._n if self._max_len is None else min(self._n, self._max_len - k)
        start = self._start + (self._n - keep)
        capacity = self.capacity
        if start + keep + k <= capacity:
            self._start, self._n = start, keep
            return
        need = keep + k
        new_capacity = max(2 * capacity, need)
        if self._max_len is not None:
            new_capacity = max(min(new_capacity, 2 * self._max_len), need)
        old = self._data
        self._allocate(new_capacity)
        for name, arr in old.items():
            self._data[name][:keep] = arr[start:start + keep]
        self._start, self._n = 0, keep


class PeakDecimator:
    """What to draw of a long, growing ``(x, y)`` series: at most ``budget`` real points.

    Up to ``budget`` points everything is drawn. Beyond it the series is cut into runs of
    ``factor`` consecutive points (a power of two, doubled whenever the drawn points would
    exceed the budget) and each run (the last one too, while it fills) is drawn as its lowest
    and its highest ``y`` point, in their order (peak-preserving: no spike or excursion
    disappears, and every drawn point is a measured one). Incremental: :meth:`update` only
    reduces the points that arrived since the last call and a doubling merges pairs of runs, so
    one redraw costs O(budget) however long the series (pyqtgraph's own downsampling re-reduces
    the whole series on every ``setData``).
    NaN values are skipped within a run (a run of only NaN draws as NaN, i.e. a gap).
    """

    _COLUMNS = {"imin": np.int64, "xmin": float, "ymin": float,
                "imax": np.int64, "xmax": float, "ymax": float}

    def __init__(self, budget: int) -> None:
        if budget < 4:
            raise ValueError(f"budget must be >= 4 points, not {budget}")
        self.budget = int(budget)
        """Most points :meth:`update` returns (may be lowered between calls)."""
        self.factor = 1
        """Points per run (1: every point is drawn)."""
        self._runs = ColumnBuffer(self._COLUMNS)
        self._done = 0  # raw points already reduced into complete runs

    def reset(self) -> None:
        """Forget everything (the series was cleared)."""
        self.factor = 1
        self._runs = ColumnBuffer(self._COLUMNS)
        self._done = 0

    def update(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(x, y)`` to draw for the series whose points so far are ``x``, ``y`` (every
        point since the last :meth:`reset`, oldest first; earlier calls' points unchanged)."""
        n = len(x)
        if n < self._done:
            self.reset()
        if self.factor == 1 and n <= self.budget:
            return x, y
        while 2 * (n // self.factor) + 2 > self.budget:
            self._double()  # (the first time: no runs yet, only the factor doubles)
        runs = (n - self._done) // self.factor
        if runs:
            self._reduce(x, y, self._done, runs)
            self._done += runs * self.factor
        v = self._runs.view()
        min_first = v["imin"] <= v["imax"]
        xs = np.column_stack([np.where(min_first, v["xmin"], v["xmax"]),
                              np.where(min_first, v["xmax"], v["xmin"])]).ravel()
        ys = np.column_stack([np.where(min_first, v["ymin"], v["ymax"]),
                              np.where(min_first, v["ymax"], v["ymin"])]).ravel()
        tx, ty = np.asarray(x[self._done:n]), np.asarray(y[self._done:n])
        if len(ty) > 2:  # the run still filling: its lowest and highest point so far
            keep = np.unique([int(np.argmin(np.where(np.isnan(ty), np.inf, ty))),
                              int(np.argmax(np.where(np.isnan(ty), -np.inf, ty)))])
            tx, ty = tx[keep], ty[keep]
        return np.concatenate([xs, tx]), np.concatenate([ys, ty])

    def _reduce(self, x: np.ndarray, y: np.ndarray, start: int, runs: int) -> None:
        f = self.factor
        xs = np.asarray(x[start:start + runs * f]).reshape(runs, f)
        ys = np.asarray(y[start:start + runs * f]).reshape(runs, f)
        nan = np.isnan(ys)
        lo = np.argmin(np.where(nan, np.inf, ys), axis=1)
        hi = np.argmax(np.where(nan, -np.inf, ys), axis=1)
        r = np.arange(runs)
        base = start + r * f
        self._runs.extend({"imin": base + lo, "xmin": xs[r, lo], "ymin": ys[r, lo],
                           "imax": base + hi, "xmax": xs[r, hi], "ymax": ys[r, hi]})

    def _double(self) -> None:
        """Merge pairs of runs (factor x 2); an odd last run goes back to the raw tail."""
        v = self._runs.view()
        pairs = len(self._runs) // 2
        a = {k: c[0:2 * pairs:2] for k, c in v.items()}
        b = {k: c[1:2 * pairs:2] for k, c in v.items()}
        take_b_min = np.nan_to_num(b["ymin"], nan=np.inf) < np.nan_to_num(a["ymin"], nan=np.inf)
        take_b_max = (np.nan_to_num(b["ymax"], nan=-np.inf)
                      > np.nan_to_num(a["ymax"], nan=-np.inf))
        merged = {k: np.where(take_b_min if k.endswith("min") else take_b_max, b[k], a[k])
                  for k in self._COLUMNS}
        self._runs = ColumnBuffer(self._COLUMNS)
        self._runs.extend(merged)
        self.factor *= 2
        self._done = pairs * self.factor
