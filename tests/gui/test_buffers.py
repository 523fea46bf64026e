"""ColumnBuffer: growth by doubling, ring limit, views, missing values, finiteness tracking."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gui.buffers import ColumnBuffer, rows_to_columns


def _reference(n_total: int, max_len: int | None) -> np.ndarray:
    ref = np.arange(n_total, dtype=float)
    return ref if max_len is None else ref[-max_len:]


@pytest.mark.parametrize("n", [0, 1, 2, 3, 7, 255, 256, 257, 1000, 4097])
def test_single_appends_grow_by_doubling(n):
    buf = ColumnBuffer(["a", "b"], initial_capacity=4)
    capacities = {buf.capacity}
    for k in range(n):
        buf.append({"a": k, "b": -k})
        capacities.add(buf.capacity)
    assert len(buf) == n == buf.total
    np.testing.assert_array_equal(buf.column("a"), np.arange(n))
    np.testing.assert_array_equal(buf["b"], -np.arange(n))
    # doubling: capacity never more than twice what is needed, and O(log n) reallocations
    assert buf.capacity >= n
    assert buf.capacity <= max(4, 2 * n)
    assert len(capacities) <= math.ceil(math.log2(max(n, 4) / 4)) + 1


@pytest.mark.parametrize("batch", [1, 3, 64, 1000])
@pytest.mark.parametrize("n_batches", [1, 5, 40])
def test_batches_of_arrays_match_concatenation(batch, n_batches):
    rng = np.random.default_rng(batch * 100 + n_batches)
    buf = ColumnBuffer(["x", "y"], initial_capacity=8)
    xs, ys = [], []
    for _ in range(n_batches):
        x, y = rng.normal(size=batch), rng.normal(size=batch)
        assert buf.extend({"x": x, "y": y}) == batch
        xs.append(x)
        ys.append(y)
    np.testing.assert_array_equal(buf.column("x"), np.concatenate(xs))
    np.testing.assert_array_equal(buf.column("y"), np.concatenate(ys))
    assert buf.capacity < 2 * batch * n_batches + 8


@pytest.mark.parametrize("max_len", [1, 2, 7, 100, 1000])
@pytest.mark.parametrize("batch", [1, 3, 50, 250, 2500])
def test_ring_keeps_newest_rows(max_len, batch):
    buf = ColumnBuffer({"v": float, "k": np.int64}, max_len=max_len, initial_capacity=2)
    total = 0
    for _ in range(12):
        k = np.arange(total, total + batch)
        stored = buf.extend({"v": k.astype(float), "k": k})
        total += batch
        assert stored == min(batch, max_len)
        ref = _reference(total, max_len)
        np.testing.assert_array_equal(buf.column("v"), ref)
        np.testing.assert_array_equal(buf.column("k"), ref.astype(np.int64))
        assert len(buf) == min(total, max_len)
        assert buf.total == total
        assert buf.dropped == total - len(buf)
        assert buf.capacity <= 2 * max_len
    assert buf.column("k").dtype == np.int64


@pytest.mark.parametrize("max_len", [None, 5, 64])
def test_random_batch_sizes_against_reference(max_len):
    rng = np.random.default_rng(7)
    buf = ColumnBuffer(["a"], max_len=max_len, initial_capacity=1)
    total = 0
    for _ in range(300):
        k = int(rng.integers(0, 20))
        if rng.random() < 0.5:
            buf.extend([{"a": float(total + j)} for j in range(k)])
        else:
            buf.extend({"a": np.arange(total, total + k, dtype=float)})
        total += k
        np.testing.assert_array_equal(buf.column("a"), _reference(total, max_len))


def test_views_do_not_copy_are_read_only_and_stay_valid():
    buf = ColumnBuffer(["a"], initial_capacity=4)
    buf.extend({"a": [1.0, 2.0, 3.0]})
    first = buf.column("a")
    assert first.base is not None  # a view of the storage, not a copy
    assert np.shares_memory(first, buf.column("a"))
    with pytest.raises(ValueError):
        first[0] = 99.0
    buf.extend({"a": np.arange(100.0)})  # forces reallocations
    np.testing.assert_array_equal(first, [1.0, 2.0, 3.0])  # old view unchanged
    assert len(buf.column("a")) == 103


def test_ring_never_overwrites_a_view_handed_out():
    buf = ColumnBuffer(["a"], max_len=4)
    views = []
    for k in range(40):
        buf.append({"a": float(k)})
        views.append((k, buf.column("a")))
    for k, view in views:  # every snapshot still shows what it showed
        np.testing.assert_array_equal(view, np.arange(max(0, k - 3), k + 1, dtype=float))


def test_row_dicts_missing_and_extra_keys():
    buf = ColumnBuffer(["V", "I"])
    buf.extend([{"V": 1.0, "I": 2.0, "extra": "ignored"}, {"V": 3.0}])
    buf.append({"I": 5.0})
    np.testing.assert_array_equal(buf["V"], [1.0, 3.0, np.nan])
    np.testing.assert_array_equal(buf["I"], [2.0, np.nan, 5.0])


def test_integer_columns_must_be_given():
    buf = ColumnBuffer({"cycle": int, "v": float})
    buf.append({"cycle": 3, "v": 0.5})
    with pytest.raises(KeyError):
        buf.append({"v": 1.0})
    assert len(buf) == 1


def test_dict_batches_broadcast_scalars_and_check_lengths():
    buf = ColumnBuffer(["cycle", "v"])
    assert buf.extend({"cycle": 2, "v": [0.1, 0.2, 0.3]}) == 3
    np.testing.assert_array_equal(buf["cycle"], [2, 2, 2])
    assert buf.extend({"cycle": 1, "v": 0.5}) == 1  # all scalars: one row
    assert buf.extend({"v": []}) == 0
    with pytest.raises(ValueError):
        buf.extend({"cycle": [1, 2], "v": [1.0, 2.0, 3.0]})
    with pytest.raises(ValueError):
        buf.extend({"v": np.zeros((2, 2))})
    assert len(buf) == 4


def test_all_finite_tracks_rows_dropped_by_the_ring():
    rng = np.random.default_rng(3)
    buf = ColumnBuffer(["a"], max_len=10)
    for _ in range(200):
        k = int(rng.integers(1, 6))
        x = rng.normal(size=k)
        x[rng.random(k) < 0.1] = np.nan
        buf.extend({"a": x})
        assert buf.all_finite("a") == bool(np.isfinite(buf.column("a")).all())


def test_clear_resets_and_keeps_old_views():
    buf = ColumnBuffer(["a"], max_len=3)
    buf.extend({"a": [1.0, np.inf, 3.0]})
    old = buf.column("a")
    buf.clear()
    assert len(buf) == 0 and buf.total == 0 and buf.all_finite("a")
    buf.extend({"a": [7.0]})
    np.testing.assert_array_equal(old, [1.0, np.inf, 3.0])
    np.testing.assert_array_equal(buf["a"], [7.0])


def test_bad_configuration():
    with pytest.raises(ValueError):
        ColumnBuffer([])
    with pytest.raises(ValueError):
        ColumnBuffer(["a"], max_len=0)
    with pytest.raises(ValueError):
        ColumnBuffer(["a", "a"])
    with pytest.raises(KeyError):
        ColumnBuffer(["a"]).column("b")


def test_rows_to_columns_forms():
    cols = rows_to_columns([{"a": 1, "b": 2}, {"a": 3}], ["a", "b", "c"])
    np.testing.assert_array_equal(cols["a"], [1.0, 3.0])
    np.testing.assert_array_equal(cols["b"], [2.0, np.nan])
    np.testing.assert_array_equal(cols["c"], [np.nan, np.nan])
    cols = rows_to_columns({"a": [1, 2, 3], "b": 5})
    np.testing.assert_array_equal(cols["b"], [5.0, 5.0, 5.0])
    cols = rows_to_columns({"a": 1.5, "b": 2.5}, ["a", "z"])  # a single row
    assert cols["a"].tolist() == [1.5] and np.isnan(cols["z"]).all()
    with pytest.raises(ValueError):
        rows_to_columns({"a": [1, 2], "b": [1, 2, 3]})
