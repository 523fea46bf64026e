"""Procedures on a packaged bench (no prober): chips selected on the board, not dies stepped."""

import pytest
from pymeasure.experiment import Results

from instruments.bench import Bench
from procedures.experiments.ber_2t2r import BER2T2RProcedure
from procedures.experiments.conductance_map import ConductanceMapProcedure
from procedures.experiments.forming import FormingProcedure
from procedures.experiments.retention import RetentionProcedure
from procedures.framework.catalog import Catalog
from procedures.framework.runner import prepare_run


@pytest.fixture
def packaged(tmp_path):
    with Bench.open("simulated-packaged", data_dir=tmp_path / "lab", fresh=True) as bench:
        yield bench


def _run(bench, root, proc, **params):
    for k, v in params.items():
        setattr(proc, k, v)
    catalog = Catalog(root)
    outcome = prepare_run(proc, bench, root, catalog).run()
    return outcome, catalog


def _assert_safe(bench):
    assert all(v == 0.0 for v in bench.lab.dc_bias.values())
    assert bench.lab.driven_terminals() == []


def test_forming_on_a_chosen_chip_forms_that_chip_only(packaged, data_root):
    lab = packaged.lab
    outcome, catalog = _run(packaged, data_root, FormingProcedure(), chip=4, cells="0,0-3")
    assert outcome.status == "finished", outcome.error
    assert outcome.summary["cells_formed"] == 4
    assert packaged.chip.board_socket == 4  # read back from the controller
    die4 = lab.board.dies[4]
    entry = catalog.get(outcome.run_id)
    # the run records the socket and the chip's identity (its origin die)
    assert entry.die == die4 and entry.parameters["chip"] == 4
    assert Results.load(str(outcome.file)).procedure.chip == 4
    assert f"c{die4[0]:02d}r{die4[1]:02d}" in str(outcome.file)
    g = {n: lab.wafer.chip(*d).conductance("1T1R")[0, :4] for n, d in enumerate(lab.board.dies)}
    assert (g[4] > 10e-6).all()
    assert all((v < 0.1e-6).all() for n, v in g.items() if n != 4)
    _assert_safe(packaged)


def test_without_a_chip_the_selected_one_is_measured(packaged, data_root):
    packaged.select_chip(2)
    outcome, catalog = _run(packaged, data_root, ConductanceMapProcedure(), cells="0-1,0-7")
    assert outcome.status == "finished", outcome.error
    entry = catalog.get(outcome.run_id)
    assert entry.parameters["chip"] == 2 and entry.die == packaged.lab.board.dies[2]
    assert outcome.summary["n_cells"] == 16
    _assert_safe(packaged)


def test_ber_2t2r_on_a_packaged_chip(packaged, data_root):
    proc = BER2T2RProcedure()
    outcome, _ = _run(packaged, data_root, proc, chip=6, cells="0-1,0-7", form_v_start=1.8)
    assert outcome.status == "finished", outcome.error
    assert outcome.summary["n_bits"] == 16
    assert packaged.lab.board.selected == 6
    _assert_safe(packaged)


def test_wafer_targets_are_refused_before_anything_moves(packaged, data_root, sim_bench):
    switches = list(packaged.lab.board.switches)
    for params, match in (({"die": "9,9"}, "die = 9,9: this bench has no prober.*chip = 0..7"),
                          ({"chip": 8}, "chip = 8 does not exist.*0..7"),
                          ({"subsite": 1}, "subsite = 1: a packaged chip has no subsites")):
        proc = FormingProcedure()
        for k, v in params.items():
            setattr(proc, k, v)
        with pytest.raises(ValueError, match=match):
            prepare_run(proc, packaged, data_root, Catalog(data_root))
    assert packaged.lab.board.switches == switches
    proc = FormingProcedure()
    proc.chip = 1
    with pytest.raises(ValueError, match="chip = 1: this bench has a prober"):
        prepare_run(proc, sim_bench, data_root, Catalog(data_root))


def test_retention_without_a_heater_runs_at_room_temperature_only(packaged, data_root):
    hot, _ = _run(packaged, data_root, RetentionProcedure(), chip=0, cells="0,0",
                  temperature_c=150.0, duration_s=10.0, points=2)
    assert hot.status == "failed" and "needs a heater" in hot.error
    formed, _ = _run(packaged, data_root, FormingProcedure(), chip=0, cells="0,0")
    assert formed.status == "finished", formed.error
    room, _ = _run(packaged, data_root, RetentionProcedure(), chip=0, cells="0,0",
                   temperature_c=25.0, duration_s=10.0, points=2)
    assert room.status == "finished", room.error
    temps = Results.load(str(room.file)).data.filter(like="emperature").to_numpy()
    assert temps.size and (temps != temps).all()  # no heater: the temperature is not known
    _assert_safe(packaged)


def test_die_checks_on_a_packaged_bench_say_there_is_no_prober(packaged):
    from procedures.framework.validation import check_target

    with pytest.raises(ValueError, match="no prober"):
        check_target(packaged, (9, 9), 0)


def test_the_learning_api_tiles_weights_over_the_chips_of_the_board(packaged):
    """A die of the learning API is a chip's identity on a packaged bench: visiting it switches
    the board (outputs off), and the weights land in that chip."""
    import numpy as np

    from procedures.learning.chip_api import ChipSession
    from procedures.learning.inmemory import xnor_popcount_reference

    dies = packaged.lab.board.dies
    chip = ChipSession(packaged)
    assert chip.die == dies[0]
    with pytest.raises(ValueError, match="no chip of this board"):
        chip.binary_weights([(2, 32)], dies=[(0, 0)])
    w = chip.binary_weights([(2, 32)], dies=[dies[1], dies[4]], pairs="0-1,0-31", layout="rows")
    rng = np.random.default_rng(3)
    mats = [np.where(rng.random(s) > 0.5, 1, -1) for s in w.shapes]
    assert w.write(mats)
    x = rng.random((3, 32)) > 0.5
    assert np.array_equal(w.xnor_popcount(0, x), xnor_popcount_reference(mats[0], x))
    assert {b for _, b in packaged.lab.board.switches} >= {1, 4}
    assert chip.counters.prober_moves >= 2
    _assert_safe(packaged)
