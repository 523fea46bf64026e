"""pandas analysis API over a catalog filled by real runs on the simulated bench."""

import threading

import numpy as np
import pandas as pd
import pytest
from pymeasure.experiment import Results

from procedures.analysis import BASE_COLUMNS, run_data, runs_frame, summary_table
from procedures.experiments.ber_2t2r import BER2T2RProcedure
from procedures.framework.catalog import Catalog
from procedures.framework.registry import PROCEDURES
from procedures.framework.runner import RunCallbacks, prepare_run


def _run(bench, root, cls, stop_after_rows=None, **params):
    proc = cls()
    for k, v in params.items():
        setattr(proc, k, v)
    catalog = Catalog(root)
    if stop_after_rows is None:
        return prepare_run(proc, bench, root, catalog).run()
    seen = threading.Event()
    count = [0]

    def on_row(_row):
        count[0] += 1
        if count[0] >= stop_after_rows:
            seen.set()

    handle = prepare_run(proc, bench, root, catalog, RunCallbacks(on_row=on_row)).start()
    assert seen.wait(60)
    handle.stop()
    return handle.wait(60)


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    """A data root with forming runs on two dies (finished, failed, aborted) and a BER run."""
    from instruments.bench import Bench

    root = tmp_path_factory.mktemp("analysis")
    forming = PROCEDURES["forming"]
    fast = {"v_start": 1.5}
    bench = Bench.open("simulated", data_dir=root, fresh=True)
    try:
        outcomes = [
            _run(bench, root, forming, die="9,9", cells="0,0-3", **fast),
            _run(bench, root, forming, die="9,9", cells="1,0-3", **fast),
            _run(bench, root, forming, die="10,9", cells="0,0-3", **fast),
            _run(bench, root, forming, die="9,9", cells="0,0", **fast),  # formed: fails
            _run(bench, root, forming, stop_after_rows=3, die="10,9", cells="2,0-7", **fast),
            _run(bench, root, BER2T2RProcedure, die="9,9", cells="0,0-3", form_v_start=1.5),
        ]
    finally:
        bench.close()
    assert [o.status for o in outcomes] == [
        "finished", "finished", "finished", "failed", "aborted", "finished"]
    return root, outcomes


def test_runs_frame_one_row_per_run_with_flattened_figures(filled):
    root, outcomes = filled
    frame = runs_frame(root)
    assert list(frame["id"]) == [o.run_id for o in outcomes]
    assert list(frame.columns[: len(BASE_COLUMNS)]) == list(BASE_COLUMNS)
    assert list(frame["status"]) == [o.status for o in outcomes]
    assert list(zip(frame["die_col"], frame["die_row"], strict=True)) == [
        (9, 9), (9, 9), (10, 9), (9, 9), (10, 9), (9, 9)]
    assert str(frame["die_col"].dtype) == "Int64"
    assert isinstance(frame["started_at"].dtype, pd.DatetimeTZDtype)
    assert frame["started_at"].is_monotonic_increasing
    # figures as columns; lists (v_form_values) left out; absent figures NaN
    for o, (_, row) in zip(outcomes[:3], frame.iloc[:3].iterrows(), strict=True):
        assert row["v_form"] == pytest.approx(o.summary["v_form"])
        assert row["cells_formed"] == 4
    assert "v_form_values" not in frame.columns
    assert np.isnan(frame.loc[0, "ber_2t2r"]) and frame.loc[5, "ber_2t2r"] >= 0
    assert all(p for p in frame["file"]) and all(pd.notna(frame["file"]))
    # filters: catalog ones and any column
    assert len(runs_frame(root, procedure="forming")) == 5
    assert list(runs_frame(root, die=(10, 9))["id"]) == [outcomes[2].run_id, outcomes[4].run_id]
    assert list(runs_frame(root, status="failed")["id"]) == [outcomes[3].run_id]
    assert len(runs_frame(root, status=("finished", "aborted"))) == 5
    assert list(runs_frame(root, array="2T2R")["procedure"]) == ["ber-2t2r"]
    assert len(runs_frame(root, procedure="forming", die_col=9, status="finished")) == 2
    with pytest.raises(KeyError, match="no column"):
        runs_frame(root, colour="red")
    # a Catalog object works like the root
    catalog = Catalog(root)
    try:
        assert runs_frame(catalog)["id"].tolist() == frame["id"].tolist()
    finally:
        catalog.close()


def test_run_data_loads_finished_and_partial_files(filled):
    root, outcomes = filled
    forming = PROCEDURES["forming"]
    for o in outcomes[:3]:
        data = run_data(root, o.run_id)
        expected = Results.load(str(o.file)).data
        assert list(data.columns) == forming.DATA_COLUMNS
        pd.testing.assert_frame_equal(data, expected.reset_index(drop=True))
        assert set(data["Cell col"]) == {0, 1, 2, 3}
        assert data.attrs["run"]["id"] == o.run_id
    aborted = run_data(root, outcomes[4].run_id)
    assert len(aborted) >= 3
    assert aborted.attrs["run"]["status"] == "aborted"
    ber = run_data(root, outcomes[5].run_id)
    assert len(ber) == 4 and "PCSA bit" in ber.columns
    with pytest.raises(KeyError):
        run_data(root, 999)


def test_summary_table_per_die(filled):
    root, outcomes = filled
    table = summary_table(root, "forming", figures=["v_form", "cells_formed"])
    assert list(table.index) == [(9, 9), (10, 9)]
    assert list(table.columns) == [
        "n_runs", "v_form_median", "v_form_p5", "v_form_p95",
        "cells_formed_median", "cells_formed_p5", "cells_formed_p95"]
    v99 = [outcomes[0].summary["v_form"], outcomes[1].summary["v_form"]]
    row = table.loc[(9, 9)]
    assert row["n_runs"] == 2
    assert row["v_form_median"] == pytest.approx(np.median(v99))
    assert row["v_form_p5"] == pytest.approx(np.percentile(v99, 5))
    assert row["v_form_p95"] == pytest.approx(np.percentile(v99, 95))
    assert row["v_form_p5"] <= row["v_form_median"] <= row["v_form_p95"]
    one = table.loc[(10, 9)]
    assert one["n_runs"] == 1
    assert one["v_form_p5"] == one["v_form_median"] == one["v_form_p95"]
    # aborted runs on request; every numeric figure by default (no text columns)
    both = summary_table(root, "forming", status=("finished", "aborted"))
    assert both.loc[(10, 9), "n_runs"] == 2
    assert {"v_form_median", "g_after_form_median", "r_lrs_p95"} <= set(both.columns)
    assert not any(c.startswith(("message", "file", "status")) for c in both.columns)
    # other groupings
    by_array = summary_table(root, "ber-2t2r", figures=["ber_2t2r"], by="array")
    assert list(by_array.index) == ["2T2R"] and by_array["n_runs"].iloc[0] == 1
    with pytest.raises(ValueError, match="message"):
        summary_table(root, "forming", figures=["message"])
    with pytest.raises(ValueError, match="nonsense"):
        summary_table(root, "forming", figures=["nonsense"])


def test_empty_catalog(data_root):
    frame = runs_frame(data_root)
    assert frame.empty and list(frame.columns) == list(BASE_COLUMNS)
    table = summary_table(data_root, "forming", figures=[])
    assert table.empty and list(table.columns) == ["n_runs"]
