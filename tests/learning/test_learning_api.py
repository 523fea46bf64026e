"""The researcher API (procedures/learning/chip_api.py): the documented worked example runs on
the simulated bench, tiles are where they are said to be, every operation is counted."""

from __future__ import annotations

import re

import numpy as np
import pytest

from instruments.limits import LimitError
from procedures.learning.chip_api import ChipSession
from procedures.learning.synapses import DeviceProgram
from tests._paths import REPO

DOC = REPO / "docs" / "learning-api.md"


def _example() -> str:
    text = DOC.read_text()
    m = re.search(r"<!-- worked-example -->\s*```python\n(.*?)```", text, re.S)
    assert m, "docs/learning-api.md lost its worked example"
    return m.group(1)


def test_documented_worked_example_runs_on_the_simulated_bench(capsys):
    scope: dict = {}
    exec(compile(_example(), str(DOC), "exec"), scope)
    out = capsys.readouterr().out
    assert "conductances (uS):" in out and "prober moves" in out
    c = scope["chip"].counters
    # 256 weights on two dies: formed, written, verified; one move to 10,9 and back to 9,9 ...
    assert c.devices_formed >= 2 * 256 + 4 and c.device_failures == 0
    assert c.prober_moves >= 2 and c.die_visits >= c.prober_moves
    assert c.resets >= 256 + 4 + 4  # initial write, four flips, four 1T1R programs
    g = scope["g"]
    assert np.all(np.isfinite(g)) and np.all(np.diff(g) > 0)  # conductance follows compliance
    bench = scope["bench"]
    assert not bench.lab.prober.in_contact  # leaving the block made the bench safe


def test_tiles_live_on_their_dies_and_ops_are_counted(sim_bench):
    chip = ChipSession(sim_bench)
    w = chip.binary_weights([(4, 32), (2, 16)], dies=[(9, 9), (10, 9)], pairs="0-2,0-31")
    assert w.n_weights == 160 and [len(m) for m in w.members] == [80, 80]
    rng = np.random.default_rng(3)
    mats = [np.where(rng.random(s) > 0.5, 1, -1) for s in w.shapes]
    assert w.write(mats)
    moves = chip.counters.prober_moves
    assert np.array_equal(w.read(), w.flatten(mats))
    assert chip.counters.prober_moves == moves + 1  # the read starts on the die it is on
    # die 10,9's array holds the second half: read its rows directly through the controller
    from procedures.framework.runner import position_prober

    position_prober(sim_bench, (10, 9), 0)
    word0 = sim_bench.chip.pcsa_read(0)
    flat = w.flatten(mats)
    assert [bool(b) for b in word0] == list(flat[80:112])
    # programs are grouped: flips on one die visit that die only
    chip.stepper.current, chip.stepper.contacted = (10, 9), True
    before = chip.counters.prober_moves
    new = flat.copy()
    new[[0, 5, 7]] = ~new[[0, 5, 7]]  # all on the first tile (die 9,9)
    assert w.update(new) == 3
    assert chip.counters.prober_moves == before + 1
    assert chip.counters.pair_programs == 3
    assert np.array_equal(w.bits(), new)


def test_bad_settings_are_refused_before_anything_is_applied(sim_bench):
    before = sim_bench.prober.map_position()
    with pytest.raises(LimitError):
        ChipSession(sim_bench, DeviceProgram(v_reset=9.0))
    chip = ChipSession(sim_bench)
    with pytest.raises(ValueError, match="at least 2 dies"):
        chip.binary_weights([(40, 40)], dies=[(9, 9)], pairs="0-31,0-31")
    with pytest.raises(ValueError, match="99"):
        chip.binary_weights([(4, 4)], dies=[(9, 9), (99, 99)])  # not on the wafer map
    with pytest.raises(ValueError, match="each die"):
        chip.binary_weights([(4, 4)], dies=[(9, 9), (9, 9)])
    after = sim_bench.prober.map_position()
    assert (after.col, after.row) == (before.col, before.row)
    assert chip.counters.device_programs == 0 and chip.counters.prober_moves == 0


def test_visit_steps_to_the_subsite_when_the_prober_is_on_the_die_at_another(sim_bench):
    """The prober on die 9,9 subsite 2: a session for subsite 0 must move, not contact there."""
    from procedures.framework.runner import position_prober

    position_prober(sim_bench, (9, 9), 2, contact=False)
    chip = ChipSession(sim_bench, subsite=0)
    assert not chip.stepper.on((9, 9))
    chip.stepper.visit((9, 9))
    pos = sim_bench.prober.map_position()
    assert (pos.col, pos.row, pos.site) == (9, 9, 0)
    assert sim_bench.prober.chuck_status().in_contact
    assert chip.counters.prober_moves == 1
    chip.stepper.visit((9, 9))  # now it is there: no second move
    assert chip.counters.prober_moves == 1 and chip.counters.die_visits == 2
    # a session for subsite 3 started on 9,9 subsite 0 moves too
    other = ChipSession(sim_bench, subsite=3)
    other.stepper.visit((9, 9))
    assert sim_bench.prober.map_position().site == 3 and other.counters.prober_moves == 1


def test_xnor_popcount_is_computed_by_the_sense_amplifiers_and_the_controller(sim_bench):
    """Row-aligned tiles: each 32-input row is one PCSA:POPC? query; a partly used row is one
    PCSA:XNOR? word. The counts follow what the chip stores, not the host's cache."""
    from procedures.learning.inmemory import xnor_popcount_reference
    from procedures.operations.programming import reset_cell, set_cell

    chip = ChipSession(sim_bench)
    # layer 0: 3 neurons x 64 inputs (6 full rows); layer 1: 2 neurons x 3 inputs (2 part rows)
    w = chip.binary_weights([(3, 64), (2, 3)], dies=[(9, 9), (10, 9)], pairs="0-5,0-31",
                            layout="rows")
    assert [len(m) for m in w.members] == [128, 70]
    assert {s[1] for s in w.tiles[0].layout.slots} == {0, 1, 2, 3}  # two neurons, two rows each
    rng = np.random.default_rng(5)
    mats = [np.where(rng.random(s) > 0.5, 1, -1) for s in w.shapes]
    assert w.write(mats)
    x0 = rng.random((4, 64)) > 0.5
    x1 = rng.random((4, 3)) > 0.5
    before = chip.counters.xnor_reads
    assert np.array_equal(w.xnor_popcount(0, x0), xnor_popcount_reference(mats[0], x0))
    assert chip.counters.xnor_reads - before == 6 * 4  # 6 rows x 4 samples
    assert np.array_equal(w.xnor_popcount(1, x1), xnor_popcount_reference(mats[1], x1))
    # flip weight (neuron 0, input 0) behind the API's back: its pair is (row 0, pair 0) of 9,9
    from procedures.framework.runner import position_prober

    position_prober(sim_bench, (9, 9), 0)
    chip.stepper.current, chip.stepper.site, chip.stepper.contacted = (9, 9), 0, True
    plus = mats[0][0, 0] > 0
    io = chip.io
    p = chip.program
    io.select("2T2R", 0, 0, "BL" if plus else "BLB")
    reset_cell(io, p.v_reset, p.v_wl_reset, p.reset_compliance, read_after=False)
    io.select("2T2R", 0, 0, "BLB" if plus else "BL")
    set_cell(io, p.v_set, p.v_wl_set, p.set_compliance, read_after=False)
    io.off()
    flipped = mats[0].copy()
    flipped[0, 0] *= -1
    assert np.array_equal(w.xnor_popcount(0, x0), xnor_popcount_reference(flipped, x0))
    assert not np.array_equal(w.matrices()[0], flipped)  # the cache still has the old bit


def test_reference_read_decides_each_weight_from_one_device(sim_bench):
    chip = ChipSession(sim_bench)
    w = chip.binary_weights([(2, 32)], dies=[(9, 9)], pairs="0-1,0-31", layout="rows")
    bits = np.random.default_rng(2).random(64) > 0.5
    assert w.write(bits)
    reads = chip.counters.reads
    out = w.read_with_reference(30e-6)
    assert out is not None
    got, g = out
    assert chip.counters.reads - reads == 64
    assert np.all(g[bits] > 30e-6) and np.array_equal(got, bits)  # strong programming: exact
