"""The results CSV's closing block: bench time, wall time, round trips and status written when the
run ends, equal to the catalog's, while stock pymeasure, pandas and our readers read the same
rows as before; the HDF5 store carries the same figures as attributes."""

from __future__ import annotations

import io
import random
import threading

import h5py
import pandas as pd
import pytest
from pymeasure.experiment import Results

from procedures.analysis import run_data
from procedures.experiments.forming import FormingProcedure
from procedures.experiments.pulse_train import PulseTrainProcedure
from procedures.framework.catalog import Catalog
from procedures.framework.catalog_tools import rebuild
from procedures.framework.run_end import (
    MARKER,
    RunEnd,
    append_run_end,
    format_run_end,
    parse_run_end,
    read_run_end,
)
from procedures.framework.runner import RunCallbacks, prepare_run
from procedures.framework.waveform_store import waveform_path
from tests._events import GUARD_S


def _rows_before_block(path) -> pd.DataFrame:
    """The file's data rows read without the closing block (the file as it was before)."""
    text = path.read_text(encoding="utf-8")
    head, marker, _ = text.partition(MARKER + "\n")
    assert marker, "no closing block"
    return pd.read_csv(io.StringIO(head), comment="#")


def _assert_readers_agree(catalog: Catalog, outcome, emitted: list[dict]) -> pd.DataFrame:
    """Stock pymeasure, pandas and analysis.run_data read the rows as measured, unchanged."""
    before = _rows_before_block(outcome.file)
    stock = Results.load(str(outcome.file))
    by_pymeasure = stock.data
    by_pandas = pd.read_csv(outcome.file, comment="#")
    ours = run_data(catalog, outcome.run_id)
    assert len(before) == len(emitted) > 0
    for frame in (by_pymeasure, by_pandas, ours):
        pd.testing.assert_frame_equal(frame.reset_index(drop=True), before, check_like=False)
    assert list(before.columns) == list(stock.procedure.DATA_COLUMNS)
    # the header still parses: the parameters are the run's
    assert stock.procedure.cells == catalog.get(outcome.run_id).parameters["cells"]
    return ours


def _assert_block_is_catalogs(catalog: Catalog, outcome, status: str) -> RunEnd:
    info = catalog.get(outcome.run_id)
    end = read_run_end(outcome.file)
    assert end is not None
    assert end.status == info.status == status
    assert end.bench_time_s == info.summary["bench_time_s"] > 0  # the same float, exactly
    assert end.round_trips == info.summary["round_trips"] > 0
    assert end.wall_time_s is not None and end.wall_time_s > 0
    assert end.message == info.message
    last = outcome.file.read_text(encoding="utf-8").splitlines()
    tail = last[last.index(MARKER):]
    assert all(line.startswith("#") for line in tail)  # comments only, to the last line
    return end


def _forming(cells: str) -> FormingProcedure:
    proc = FormingProcedure()
    proc.die = "9,9"
    proc.cells = cells
    return proc


def test_a_finished_run_closes_its_csv_with_the_catalogs_bench_time(sim_bench, data_root):
    catalog = Catalog(data_root)
    emitted: list[dict] = []
    outcome = prepare_run(_forming("0,0-1"), sim_bench, data_root, catalog,
                          RunCallbacks(on_row=emitted.append)).run()
    assert outcome.status == "finished", outcome.error
    end = _assert_block_is_catalogs(catalog, outcome, "finished")
    assert end.message == ""
    ours = _assert_readers_agree(catalog, outcome, emitted)
    assert ours.attrs["run_end"] == end.as_dict()  # our reader hands the block back
    catalog.close()


def test_an_aborted_run_closes_its_csv_too(sim_bench, data_root):
    catalog = Catalog(data_root)
    emitted: list[dict] = []
    enough = threading.Event()
    n_rows = random.Random("run-end-abort").randint(5, 300)

    def on_row(row: dict) -> None:
        emitted.append(row)
        if len(emitted) >= n_rows:
            enough.set()

    handle = prepare_run(_forming("0-3,0-31"), sim_bench, data_root, catalog,
                         RunCallbacks(on_row=on_row)).start()
    assert enough.wait(GUARD_S), "the rows never arrived"
    handle.stop("stopped by the test")
    outcome = handle.wait(GUARD_S)
    assert outcome is not None and outcome.status == "aborted"
    end = _assert_block_is_catalogs(catalog, outcome, "aborted")
    assert end.message == "stopped by the test"
    ours = _assert_readers_agree(catalog, outcome, emitted)
    assert ours.attrs["run_end"]["status"] == "aborted"
    catalog.close()


def test_the_hdf5_store_carries_the_same_end_figures(sim_bench, data_root):
    proc = PulseTrainProcedure()
    for k, v in dict(die="9,9", cells="0,0", form_first=True, count=3, record_waveform=True,
                     waveform_points=10, waveform_file="hdf5", kind="set", amplitude=1.5,
                     v_wl=1.2).items():
        setattr(proc, k, v)
    catalog = Catalog(data_root)
    outcome = prepare_run(proc, sim_bench, data_root, catalog).run()
    assert outcome.status == "finished", outcome.error
    end = _assert_block_is_catalogs(catalog, outcome, "finished")
    with h5py.File(waveform_path(outcome.file), "r") as f:  # closed cleanly: no SWMR needed
        attrs = dict(f.attrs)
    assert attrs["status"] == "finished"
    assert attrs["bench_time_s"] == end.bench_time_s == outcome.summary["bench_time_s"]
    assert attrs["round_trips"] == end.round_trips
    assert attrs["wall_time_s"] == end.wall_time_s
    assert attrs["ended_at"] == end.ended_at
    catalog.close()


def test_a_catalog_rebuilt_from_files_without_records_takes_the_block(sim_bench, data_root):
    from procedures.framework.run_record import record_path

    catalog = Catalog(data_root)
    outcome = prepare_run(_forming("0,2"), sim_bench, data_root, catalog).run()
    assert outcome.status == "finished", outcome.error
    bench_s = catalog.get(outcome.run_id).summary["bench_time_s"]
    catalog.close()
    record_path(outcome.file).unlink()  # only the CSV is left
    fresh = Catalog(data_root / "rebuilt")
    try:
        assert rebuild(fresh, data_root).from_header == 1
        (info,) = fresh.runs()
        assert info.status == "finished"  # not "aborted, end unknown": the block says
        assert info.summary["bench_time_s"] == bench_s
    finally:
        fresh.close()


def test_stock_results_reading_on_goes_past_the_block(sim_bench, data_root):
    """A pymeasure Results following the file (as a plotter does) sees no new row when the
    block is appended: the incremental read skips comment lines."""
    catalog = Catalog(data_root)
    outcome = prepare_run(_forming("0,3"), sim_bench, data_root, catalog).run()
    catalog.close()
    text = outcome.file.read_text(encoding="utf-8")
    copy = data_root / "copy.csv"
    copy.write_text(text.partition(MARKER + "\n")[0], encoding="utf-8")
    follower = Results.load(str(copy))
    n = len(follower.data)
    append_run_end(copy, RunEnd("finished", 1.25, 0.5, 7, "2026-12-01T00:00:00+00:00"))
    assert len(follower.data) == n > 0
    assert len(Results.load(str(copy)).data) == n


@pytest.mark.parametrize("end", [
    RunEnd("failed", 0.1 + 0.2, 3.0, 12, "2026-12-01T22:10:00+00:00", "boom:\nsecond line"),
    RunEnd("aborted"),
])
def test_the_block_round_trips_exactly(end):
    text = "#Procedure: <x.Y>\n#Data:\nA,B\n1,2\n" + format_run_end(end)
    back = parse_run_end(text)
    expected = end.as_dict()
    if "message" in expected:
        expected["message"] = "boom: second line"  # one line in the file
    assert back is not None and back.as_dict() == expected


def test_a_file_without_a_block_has_no_end(tmp_path):
    path = tmp_path / "killed.csv"
    path.write_text("#Procedure: <x.Y>\n#Data:\nA,B\n1,2\n", encoding="utf-8")
    assert read_run_end(path) is None
    assert read_run_end(tmp_path / "absent.csv") is None
