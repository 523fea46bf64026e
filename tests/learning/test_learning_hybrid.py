"""``bnn-hybrid``: the hidden weight in the pair's conductance difference, nudged by gradual
SET/RESET pulses; the binary weight is the PCSA read."""

import numpy as np
import pytest
from pymeasure.experiment import Results

from instruments.limits import LimitError, SafetyLimits
from procedures.framework.catalog import Catalog
from procedures.framework.runner import prepare_run
from procedures.learning.chip_api import ChipSession
from procedures.learning.hybrid import HybridPairs
from procedures.learning.hybrid_procedure import BNNHybridProcedure, steepest
from tests.learning._figure_check import check_figure

SMALL = {"inputs": "4x4", "n_hidden": 8, "tasks": 1, "epochs": 2, "train_limit": 160,
         "batch_size": 32, "seed": 3, "dies": "9,9", "learning_rate": 0.05,
         "nudge_fraction": 0.05}


@pytest.fixture(scope="module")
def bench(module_bench):
    return module_bench


def test_a_pair_flips_after_several_nudges_against_its_sign(bench):
    """Gradual push-pull pulses move G_BL - G_BLB step by step: the PCSA bit flips only after
    some nudges (the hidden weight has inertia), and nudging back restores it."""
    b, _ = bench
    chip = ChipSession(b)
    w = chip.binary_weights([(1, 16)], dies=[(9, 9)], pairs="31,0-31")
    assert w.write(np.ones(16, dtype=bool))
    hp = HybridPairs(w)
    idx = np.arange(16)
    io, p = chip.io, chip.program

    def diff() -> np.ndarray:
        out = []
        for _, row, pair in w.tiles[0].layout.slots:
            g = []
            for side in ("BL", "BLB"):
                io.select("2T2R", row, pair, side)
                g.append(io.read(p.v_read, p.v_wl_read).conductance)
            out.append(g[0] - g[1])
        io.off()
        return np.array(out)

    d0 = diff()
    assert np.all(d0 > 0)
    flipped_after = []
    for _ in range(12):
        bits = hp.nudge(idx, np.zeros(16, dtype=bool))
        flipped_after.append(int(np.count_nonzero(~bits)))
    d1 = diff()
    assert np.median(d1) < np.median(d0)  # the analog difference moved toward -1
    assert flipped_after[0] < 16  # not a sign program: one nudge does not flip every pair
    assert flipped_after[-1] >= 12  # ... but repeated nudges do
    assert hp.counts.nudges == 12 * 16 and hp.counts.pulses_set == hp.counts.pulses_reset
    assert np.array_equal(w.bits(), bits)  # the host's cache follows the PCSA read
    back = []
    for _ in range(12):
        bits = hp.nudge(idx, np.ones(16, dtype=bool))
        back.append(int(np.count_nonzero(bits)))
    assert back[-1] >= 9 and back[-1] > back[0] - 2  # most come back, step by step
    assert chip.counters.device_programs == 16  # only the initial write was a DC program


def test_steepest_picks_the_largest_gradients_per_layer():
    g1 = np.array([[0.1, -3.0], [0.0, 2.0]])
    g2 = np.array([[-1.0, 0.5, 0.2]])
    idx, up = steepest([g1, g2], 0.5)
    assert list(idx) == [1, 3, 4, 5] and list(up) == [True, False, True, False]


def test_against_sign_skips_weights_already_on_the_descent_side():
    """Rule ``against-sign``: a weight whose bit already agrees with the descent direction is
    not nudged (its pair would only be pushed further into saturation)."""
    g1 = np.array([[0.1, -3.0], [0.0, 2.0]])
    g2 = np.array([[-1.0, 0.5, 0.2]])
    bits = np.array([False, True, False, False, False, True, True])
    # layer 1: every bit already agrees with its descent direction (or g = 0): no nudge;
    # layer 2: all three are against their bit, the two steepest are nudged
    idx, up = steepest([g1, g2], 0.5, bits)
    assert list(idx) == [4, 5] and list(up) == [True, False]


def test_procedure_learns_with_pulses_only_and_reports_the_comparison_figures(bench):
    b, root = bench
    proc = BNNHybridProcedure()
    proc.die = "9,9"
    for k, v in SMALL.items():
        setattr(proc, k, v)
    out = prepare_run(proc, b, root, Catalog(root)).run()
    assert out.status == "finished", out.error
    s = out.summary
    n_batches = 5  # 160 samples / 32
    per_batch = round(0.05 * 16 * 8) + round(0.05 * 8 * 10)
    assert s["nudges"] <= 2 * n_batches * per_batch and s["nudges"] > 0
    assert s["pulses"] == 2 * s["nudges"] and s["flips"] > 0
    assert 0 < s["nudges_taken"] <= s["nudges_against"] <= s["nudges"]
    assert s["pair_programs"] == 0  # no sign is ever programmed: the nudges move the weights
    assert set(s) >= {"test_accuracy", "task_accuracies", "energy_proxy_j", "device_programs"}
    assert 0.0 <= s["test_accuracy"] <= 1.0 and len(s["task_accuracies"]) == 1
    assert "meta" not in s
    data = Results.load(str(out.file)).data
    assert list(data["Nudges"])[-1] == s["nudges"] and len(data) == 2
    assert not b.lab.prober.in_contact
    check_figure(s, out.file, "learning", "bnn-hybrid: accuracy per task (nudged fraction 0.05",
                 "epoch (all tasks in sequence)", ["task 1 (test)", "current task (train)"])


def test_nudge_decay_shrinks_the_nudged_fraction_epoch_by_epoch(bench):
    """nudge_decay = 0.25: epoch 2 nudges at most 2 + 1 weights per batch (6 + 4 in epoch 1)."""
    b, root = bench
    proc = BNNHybridProcedure()
    proc.die = "9,9"
    for k, v in {**SMALL, "nudge_decay": 0.25}.items():
        setattr(proc, k, v)
    out = prepare_run(proc, b, root, Catalog(root)).run()
    assert out.status == "finished", out.error
    nudges = list(Results.load(str(out.file)).data["Nudges"])
    assert len(nudges) == 2 and 0 < nudges[0] <= 5 * (6 + 4)
    assert nudges[1] - nudges[0] <= 5 * (2 + 1)
    assert not b.lab.prober.in_contact


def test_unsafe_nudge_pulses_are_refused(bench):
    b, _ = bench
    proc = BNNHybridProcedure()
    for k, v in SMALL.items():
        setattr(proc, k, v)
    lab = SafetyLimits(max_voltage={"BL": 4.0, "SL": 3.5, "WL": 3.5, "SUB": 0.5})
    proc.validate(lab)
    proc.nudge_reset_amplitude = 4.5
    with pytest.raises(LimitError, match="nudge_reset_amplitude"):
        proc.validate(lab)
    proc.nudge_reset_amplitude = 1.4
    proc.nudge_set_width = 15e-9  # off the 10 ns grid
    with pytest.raises(ValueError, match="nudge_set_width"):
        proc.validate(b.limits)
