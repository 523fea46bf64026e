"""Conductance maps on the simulated bench, pattern programming and pattern files."""

from functools import partial

import numpy as np
import pytest
from pymeasure.experiment import Results

from procedures.experiments.conductance_map import (
    ConductanceMapProcedure,
    checkerboard,
    load_pattern,
    row_runs,
)
from procedures.framework.runner import RunCallbacks
from tests._procedures import prepare, stopped_at_first_progress

DIE = (9, 9)
DIE_TEXT = "9,9"


_run = partial(prepare, ConductanceMapProcedure)  # (bench, root, callbacks=None, **params)


def _assert_safe(bench):
    assert all(v == 0.0 for v in bench.lab.dc_bias.values())
    assert not bench.lab.prober.in_contact


def test_fresh_die_map_reads_unformed_everywhere(sim_bench, data_root):
    rows = []
    out = _run(sim_bench, data_root, RunCallbacks(on_row=rows.append), die=DIE_TEXT).run()
    assert out.status == "finished", out.error
    data = Results.load(str(out.file)).data
    assert len(data) == 1024 and len(rows) == 1024  # one row per cell, emitted live
    assert set(zip(data["Cell row"], data["Cell col"], strict=True)) == {
        (r, c) for r in range(32) for c in range(32)
    }
    g = data["Conductance (S)"].to_numpy()
    assert np.all(np.abs(g) < 0.1e-6)
    assert set(data["Target"]) == {-1} and set(data["Side"]) == {0}
    s = out.summary
    assert s["n_cells"] == 1024 and s["fraction_above"] == 0.0 and s["g_median"] < 0.1e-6
    assert s["read_seconds"] > 0
    _assert_safe(sim_bench)


def test_region_selection_reads_only_the_region(sim_bench, data_root):
    out = _run(sim_bench, data_root, die=DIE_TEXT, cells="2-3,5-6").run()
    assert out.status == "finished", out.error
    data = Results.load(str(out.file)).data
    assert sorted(zip(data["Cell row"], data["Cell col"], strict=True)) == [
        (2, 5), (2, 6), (3, 5), (3, 6)
    ]
    assert out.summary["n_cells"] == 4


def test_checkerboard_on_a_formed_region_shows_the_pattern(sim_bench, data_root):
    out = _run(sim_bench, data_root, die=DIE_TEXT, cells="4-7,4-7", pattern="checkerboard",
               form_first=True).run()
    assert out.status == "finished", out.error
    data = Results.load(str(out.file)).data
    assert len(data) == 16
    lrs = data[(data["Cell row"] + data["Cell col"]) % 2 == 0]
    hrs = data[(data["Cell row"] + data["Cell col"]) % 2 == 1]
    assert set(lrs["Target"]) == {1} and set(hrs["Target"]) == {0}
    # LRS ~90 uS vs HRS ~5-15 uS: clearly separated
    assert lrs["Conductance (S)"].min() > 3 * hrs["Conductance (S)"].max()
    assert lrs["Conductance (S)"].min() > 40e-6 and hrs["Conductance (S)"].max() < 25e-6
    s = out.summary
    assert s["pattern_match"] == 1.0 and s["fraction_above"] == 0.5
    assert s["cells_formed_first"] == 16
    # the model's truth shows the same pattern
    truth = sim_bench.lab.wafer.chip(*DIE).conductance("1T1R")[4:8, 4:8]
    assert np.array_equal(truth > 30e-6, checkerboard(32, 32)[4:8, 4:8])
    _assert_safe(sim_bench)


def test_pattern_on_unformed_cells_is_refused_without_form_first(sim_bench, data_root):
    out = _run(sim_bench, data_root, die=DIE_TEXT, cells="8,0-1", pattern="checkerboard").run()
    assert out.status == "failed" and "form_first" in out.error
    assert np.all(sim_bench.lab.wafer.chip(*DIE).conductance("1T1R")[8, :2] < 0.1e-6)
    _assert_safe(sim_bench)


def test_2t2r_pairs_read_on_both_sides(sim_bench, data_root):
    out = _run(sim_bench, data_root, die=DIE_TEXT, array="2T2R", cells="0-1,0-3",
               pattern="checkerboard", form_first=True).run()
    assert out.status == "finished", out.error
    data = Results.load(str(out.file)).data
    assert len(data) == 16 and sorted(set(data["Side"])) == [0, 1]
    bl = data[data["Side"] == 0].set_index(["Cell row", "Cell col"])["Conductance (S)"]
    blb = data[data["Side"] == 1].set_index(["Cell row", "Cell col"])["Conductance (S)"]
    bits = checkerboard(32, 32)
    for (row, col), g_bl in bl.items():
        # bit 1: BL in LRS, BLB in HRS; bit 0 the opposite
        assert (g_bl > blb[(row, col)]) == bits[row, col]
    # the on-chip sense amplifiers read the same weights
    sim_bench.prober.contact()
    for row in range(2):
        assert sim_bench.chip.pcsa_read(row)[:4] == [int(b) for b in bits[row, :4]]
    sim_bench.prober.separate()
    one = _run(sim_bench, data_root, die=DIE_TEXT, array="2T2R", cells="0,0-3",
               sides="BLB").run()
    assert one.status == "finished", one.error
    one_data = Results.load(str(one.file)).data
    assert len(one_data) == 4 and set(one_data["Side"]) == {1}


def test_image_pattern_must_cover_the_selection(sim_bench, data_root, tmp_path):
    image = tmp_path / "small.csv"
    image.write_text("1,0\n0,1\n")
    with pytest.raises(ValueError, match="image_path"):
        _run(sim_bench, data_root, cells="0-3,0-3", pattern="image", image_path=str(image))
    with pytest.raises(ValueError, match="image_path"):
        _run(sim_bench, data_root, cells="0,0", pattern="image",
             image_path=str(tmp_path / "missing.npy"))
    grey = tmp_path / "diagonal.pgm"
    grey.write_bytes(b"P2\n# two by two\n2 2\n255\n255 0\n0 200\n")
    out = _run(sim_bench, data_root, die=DIE_TEXT, cells="0-1,0-1", pattern="image",
               image_path=str(grey), form_first=True).run()
    assert out.status == "finished", out.error
    data = Results.load(str(out.file)).data
    for _, r in data.iterrows():
        expected = int(r["Cell row"] == r["Cell col"])
        assert r["Target"] == expected
        assert (r["Conductance (S)"] > 30e-6) == bool(expected)


def test_abort_mid_map_keeps_a_loadable_partial_file(sim_bench, data_root):
    out = stopped_at_first_progress(lambda cb: _run(sim_bench, data_root, cb, die=DIE_TEXT))
    assert out is not None and out.status == "aborted"
    _assert_safe(sim_bench)
    data = Results.load(str(out.file)).data
    assert 16 <= len(data) < 1024
    assert out.summary["n_cells"] == len(data)


# -- pattern files ------------------------------------------------------------------------------
def test_load_pattern_formats(tmp_path):
    expected = np.array([[True, False, True], [False, False, True]])
    (tmp_path / "a.csv").write_text("1,0,1\n0,0,1\n")
    (tmp_path / "a.txt").write_text("255 0 200\n10 100 128\n")
    np.save(tmp_path / "a.npy", expected.astype(float) * 0.9)
    (tmp_path / "a.pgm").write_bytes(b"P2\n# comment\n3 2\n15\n15 0 9\n0 7 8\n")
    (tmp_path / "b.pgm").write_bytes(b"P5\n3 2\n255\n" + bytes([255, 0, 128, 3, 127, 200]))
    for name in ("a.csv", "a.txt", "a.npy", "a.pgm", "b.pgm"):
        got = load_pattern(tmp_path / name)
        assert got.dtype == bool and got.shape == (2, 3), name
        assert np.array_equal(got, expected), name


def test_load_pattern_rejects_bad_files(tmp_path):
    (tmp_path / "x.png").write_bytes(b"\x89PNG\r\n")
    with pytest.raises(ValueError, match="PGM"):
        load_pattern(tmp_path / "x.png")
    (tmp_path / "bad.pgm").write_bytes(b"P6\n1 1\n255\n\x00\x00\x00")
    with pytest.raises(ValueError, match="P2/P5"):
        load_pattern(tmp_path / "bad.pgm")
    (tmp_path / "short.pgm").write_bytes(b"P5\n4 4\n255\n\x00\x01")
    with pytest.raises(ValueError, match="pixels"):
        load_pattern(tmp_path / "short.pgm")
    np.save(tmp_path / "flat.npy", np.zeros(4))
    with pytest.raises(ValueError, match="2-D"):
        load_pattern(tmp_path / "flat.npy")
    with pytest.raises(ValueError, match="does not exist"):
        load_pattern(tmp_path / "nope.csv")
    assert checkerboard(2, 3).tolist() == [[True, False, True], [False, True, False]]


# -- the chip controller's scan mode (issue #13) ----------------------------------------------
def _bench_without_scan(root):
    """The same simulated wafer behind a chip controller whose firmware has no scan mode."""
    from instruments.bench import Bench

    root.mkdir()
    return Bench.open("simulated", data_dir=root, fresh=True, lab_overrides={"chip_scan": False})


def test_row_runs_group_adjacent_cells_of_a_row_and_side():
    devices = [(0, 0, "BL"), (0, 1, "BL"), (0, 2, "BL"), (0, 5, "BL"), (1, 0, "BL"),
               (0, 0, "BLB"), (0, 1, "BLB")]
    assert row_runs(devices) == [(0, "BL", 0, 2), (0, "BL", 5, 5), (1, "BL", 0, 0),
                                 (0, "BLB", 0, 1)]


def test_scan_mode_and_per_cell_maps_agree(sim_bench, data_root, tmp_path):
    """Same wafer, same programming: the triggered sweep reads what the per-cell path reads."""
    assert sim_bench.capabilities.chip_scan
    params = dict(die=DIE_TEXT, cells="4-5,4-11", pattern="checkerboard", form_first=True)
    scan = _run(sim_bench, data_root, **params).run()
    other = _bench_without_scan(tmp_path / "per-cell")
    try:
        assert not other.capabilities.chip_scan
        per_cell = _run(other, tmp_path / "per-cell", **params).run()
        _assert_safe(other)
    finally:
        other.close()
    assert scan.status == per_cell.status == "finished"
    assert scan.summary["scan_mode"] and not per_cell.summary["scan_mode"]
    a = Results.load(str(scan.file)).data
    b = Results.load(str(per_cell.file)).data
    assert list(zip(a["Cell row"], a["Cell col"], strict=True)) == list(
        zip(b["Cell row"], b["Cell col"], strict=True))
    ga, gb = a["Conductance (S)"].to_numpy(), b["Conductance (S)"].to_numpy()
    assert np.allclose(ga, gb, rtol=1e-3)  # within read noise (fixed seed: ~1e-4 apart)
    assert scan.summary["pattern_match"] == per_cell.summary["pattern_match"] == 1.0
    _assert_safe(sim_bench)


def test_scan_mode_round_trips(sim_bench, data_root, tmp_path):
    """4 rows x 32 cells: 5 lines per row (load, arm, error check, XE, count) + 4 (the sweep
    set-up and its check, disarm, trigger clear) instead of 3 per cell (select, error check,
    TI) + 4 (the first select routes array and side too)."""
    scan = _run(sim_bench, data_root, die=DIE_TEXT, cells="0-3,0-31").run()
    other = _bench_without_scan(tmp_path / "per-cell")
    try:
        per_cell = _run(other, tmp_path / "per-cell", die=DIE_TEXT, cells="0-3,0-31").run()
    finally:
        other.close()
    assert scan.status == per_cell.status == "finished"
    rows, cells = 4, 128
    assert scan.summary["round_trips"] - per_cell.summary["round_trips"] == (
        (5 * rows + 4) - (3 * cells + 4))
    assert sim_bench.lab.trigger_line.sent == cells


def test_a_dropped_trigger_rereads_its_row_cell_by_cell(sim_bench, data_root, caplog):
    sim_bench.lab.trigger_line.drop(after=3)  # the 4th edge of the run: in the first row
    with caplog.at_level("WARNING", logger="procedures.operations.cell_io"):
        out = _run(sim_bench, data_root, die=DIE_TEXT, cells="4-5,4-11",
                   pattern="checkerboard", form_first=True).run()
    assert out.status == "finished", out.error
    assert sim_bench.lab.trigger_line.dropped == 1
    assert out.summary["runs_reread"] == 1
    assert any("counted 7 trigger(s) for 8 points" in r.getMessage() for r in caplog.records)
    data = Results.load(str(out.file)).data
    assert len(data) == 16 and len(set(zip(data["Cell row"], data["Cell col"],
                                           strict=True))) == 16
    # a row read one cell behind after the lost edge would break the pattern: re-read, it holds
    assert out.summary["pattern_match"] == 1.0
    for _, r in data.iterrows():
        assert (r["Conductance (S)"] > 30e-6) == bool(checkerboard(32, 32)[int(r["Cell row"]),
                                                                          int(r["Cell col"])])
    _assert_safe(sim_bench)


def test_abort_mid_scan_leaves_the_bench_safe(sim_bench, data_root):
    holder: dict = {}

    def on_progress(pct: float) -> None:
        if pct > 0 and "stopped" not in holder:
            holder["stopped"] = True
            holder["handle"].stop()

    handle = _run(sim_bench, data_root, RunCallbacks(on_progress=on_progress), die=DIE_TEXT)
    holder["handle"] = handle
    out = handle.start().wait(timeout=120)
    assert out is not None and out.status == "aborted"
    data = Results.load(str(out.file)).data
    assert len(data) % 32 == 0 and 32 <= len(data) < 1024  # whole rows only
    # the aborted run's summary tells how its rows were read
    assert out.summary["scan_mode"] is True and out.summary["runs_reread"] == 0
    assert out.summary["n_cells"] == len(data)
    # read back: outputs off, controller disarmed, trigger output cleared, chuck separated
    assert sim_bench.chip.scan_state() == "IDLE"
    assert all(sim_bench.b1500.output_state(ch) is None for ch in (1, 2, 3))
    assert sim_bench.lab.servers["b1500"].simulator.trigger_ports == {}
    assert sim_bench.prober.chuck_status().separated
    _assert_safe(sim_bench)


def test_read_scan_disarms_when_a_run_fails_while_armed(sim_bench):
    from procedures.operations.cell_io import CellIO, ReadScan

    sim_bench.prober.step_first_die()
    sim_bench.prober.contact()
    io = CellIO(sim_bench)
    with pytest.raises(RuntimeError, match="mid-scan"):
        with ReadScan(io, 0.1, 2.5) as scan:
            scan.read_run("1T1R", "BL", 0, 0, 7)
            sim_bench.chip.scan_start("1T1R", "BL", 1, 0, 1, 7)
            assert sim_bench.chip.scan_state() == "ARMED"
            raise RuntimeError("mid-scan failure")
    assert sim_bench.chip.scan_state() == "IDLE"
    assert sim_bench.lab.servers["b1500"].simulator.trigger_ports == {}
    assert sim_bench.lab.dc_bias["BL"] == 0.0
