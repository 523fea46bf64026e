"""Metaplastic binarized network: the learning rule, continual learning, and 2T2R synapses."""

import threading

import numpy as np
import pytest
from pymeasure.experiment import Results

from procedures.framework.catalog import Catalog
from procedures.framework.runner import RunCallbacks, prepare_run
from procedures.learning.bnn import (
    BinarizedMLP,
    BNNConfig,
    MetaplasticAdam,
    permuted_digits_tasks,
    train_continual_ideal,
)
from procedures.learning.bnn_procedure import BNNMetaplasticProcedure
from procedures.learning.synapses import PairLayout, Tile
from tests._procedures import assert_refused
from tests.learning._figure_check import check_figure

DIE = "9,9"
SMALL = {"inputs": "4x4", "n_hidden": 4, "tasks": 2, "epochs": 1, "train_limit": 160,
         "batch_size": 32, "seed": 3, "dies": DIE, "learning_rate": 0.05}


@pytest.fixture(scope="module")
def bench(module_bench):
    """One simulated bench for the module: the 2T2R devices are formed once."""
    return module_bench


def _run(bench, root, callbacks=None, start_only=False, **params):
    proc = BNNMetaplasticProcedure()
    proc.die = DIE
    for k, v in {**SMALL, **params}.items():
        setattr(proc, k, v)
    handle = prepare_run(proc, bench, root, Catalog(root), callbacks)
    if start_only:
        return handle.start()
    return handle.run()


# -- the learning rule ---------------------------------------------------------------------------
def test_metaplastic_adam_attenuates_only_updates_toward_a_sign_flip():
    w = np.array([1.0, 1.0, -2.0, -2.0])
    g = np.array([1.0, -1.0, -1.0, 1.0])  # Adam step = -lr sign(g): toward 0 for items 0 and 2
    plain = MetaplasticAdam(lr=0.01, meta=0.0, meta_mask=[True])
    meta = MetaplasticAdam(lr=0.01, meta=1.3, meta_mask=[True])
    a, b = w.copy(), w.copy()
    plain.step([a], [g])
    meta.step([b], [g])
    step_plain, step_meta = a - w, b - w
    f = 1.0 - np.tanh(1.3 * np.abs(w)) ** 2
    assert np.allclose(step_plain, -0.01 * np.sign(g), rtol=1e-4)
    assert np.allclose(step_meta[[0, 2]], step_plain[[0, 2]] * f[[0, 2]], rtol=1e-6)
    assert np.allclose(step_meta[[1, 3]], step_plain[[1, 3]])  # growing |W_h|: full step
    # a real parameter (mask False) is never attenuated
    c = w.copy()
    MetaplasticAdam(lr=0.01, meta=5.0, meta_mask=[False]).step([c], [g])
    assert np.allclose(c - w, step_plain)


def test_ideal_backend_reproduces_the_published_qualitative_result():
    """Software synapses, the procedure's defaults (64-128-10, 2 tasks x 12 epochs, seed 0)."""
    cfg = BNNMetaplasticProcedure().network_config()
    tasks = permuted_digits_tasks(2, 0)
    plain = train_continual_ideal(BNNConfig(**{**cfg.__dict__, "meta": 0.0}), tasks, 12, 32, 0)
    meta = train_continual_ideal(BNNConfig(**{**cfg.__dict__, "meta": 1.35}), tasks, 12, 32, 0)
    assert plain.acc[0, 0] > 0.9 and meta.acc[0, 0] > 0.9  # both learn task 1
    assert plain.acc[1, 0] <= 0.5  # catastrophic forgetting without metaplasticity
    assert meta.acc[1, 0] >= 0.8 and meta.acc[1, 1] >= 0.85  # both tasks stay high
    assert meta.flips < plain.flips  # consolidated weights flip (and are programmed) less


def test_procedure_defaults_match_the_reference_and_fill_the_catalog(bench):
    """``bnn-metaplastic`` with its defaults (ideal synapses): the same run as the reference."""
    b, root = bench
    proc = BNNMetaplasticProcedure()
    assert (proc.meta, proc.tasks, proc.epochs, proc.seed) == (1.35, 2, 12, 0)
    proc.die, proc.backend = DIE, "ideal"
    out = prepare_run(proc, b, root, Catalog(root)).run()
    assert out.status == "finished", out.error
    s = Catalog(root).get(out.run_id).summary
    ref = train_continual_ideal(proc.network_config(), permuted_digits_tasks(2, 0), 12, 32, 0)
    assert s["task_accuracies"] == pytest.approx(list(ref.acc[1]))
    assert s["test_accuracy"] == pytest.approx(np.mean(ref.acc[1]))
    assert s["task_accuracies"][0] >= 0.8 and s["task_accuracies"][1] >= 0.85
    assert s["pair_programs"] == ref.flips
    assert len(Results.load(str(out.file)).data) == 24  # one row per epoch
    # the learning curves as a figure file beside the results, listed in the summary
    check_figure(s, out.file, "learning", "bnn-metaplastic: accuracy per task (m = 1.35",
                 "epoch (all tasks in sequence)",
                 ["task 1 (test)", "task 2 (test)", "current task (train)", "task 2 starts"])


def test_normalisation_is_per_task_and_uses_batch_statistics():
    cfg = BNNConfig(n_in=16, n_hidden=8)
    net = BinarizedMLP(cfg, np.random.default_rng(0))
    x = np.random.default_rng(1).normal(size=(40, 16))
    y = np.arange(40) % 10
    saved = net.save_norm()
    before = net.predict(x)
    for _ in range(20):
        net.train_step(x, y)
    assert not np.array_equal(net.gamma[0], saved.gamma[0])  # affine parameters learn
    wb = net.binary_weights()
    # restoring the saved task parameters gives the old parameters' prediction, current kept
    current = net.save_norm()
    net.load_norm(saved)
    old = net.predict(x, wb)
    net.load_norm(current)
    assert np.array_equal(net.predict(x, wb, norm=saved), old)
    assert np.array_equal(net.gamma[0], current.gamma[0])
    # batch statistics: shifting every input of the batch by the same amount changes nothing
    # in the first layer's normalised sums (no running statistics)
    shift = np.random.default_rng(2).normal(size=16)  # the same offset for every sample
    a1 = net._forward(x, wb)[0]
    a2 = net._forward(x + shift, wb)[0]
    assert np.allclose(a1, a2) and before.shape == (40,)
    # ... and one sample's output depends on the batch it is tested in
    assert not np.allclose(net._forward(x[:20], wb)[0], a1[:20])
    assert not hasattr(net, "run_mean")


def test_pair_layout_packs_rows_and_remaps_to_spares():
    pairs = [(r, p) for r in range(2) for p in range(32)]
    lay = PairLayout(40, [Tile(None, tuple(pairs))])
    assert lay.slots[31] == (0, 0, 31) and lay.slots[32] == (0, 1, 0)
    assert len(lay.spares) == 24 and lay.rows() == [(0, 0), (0, 1)]
    assert lay.remap(5) == (0, 1, 8) and lay.failed == [(0, 0, 5)]
    with pytest.raises(ValueError, match="needs 65"):
        PairLayout(65, [Tile(None, tuple(pairs))])


def test_default_network_is_tiled_over_ten_dies():
    proc = BNNMetaplasticProcedure()
    cfg = proc.network_config()
    assert cfg.n_weights == 64 * 128 + 128 * 10 == 9472
    dies = proc.tile_dies()
    assert len(dies) == 10 and len(set(dies)) == 10
    assert -(-cfg.n_weights // len(dies)) <= 1024  # each die's 2T2R array holds its tile


# -- on the simulated chip -----------------------------------------------------------------------
def test_chip_run_tiled_over_two_dies_matches_the_software_reference(bench):
    b, root = bench
    tiles = "10,9;9,9"
    chip = _run(b, root, meta=1.35, dies=tiles, cells="0-1,0-31")
    assert chip.status == "finished", chip.error
    s = chip.summary
    n_w = 16 * 4 + 4 * 10
    assert s["n_weights"] == n_w and s["dies"] == [[10, 9], [9, 9]]
    assert s["devices_formed"] == 2 * n_w and s["device_failures"] == 0
    assert s["initial_programs"] == n_w  # one RESET per freshly formed pair
    assert s["pair_programs"] > 0
    assert s["device_programs"] >= s["initial_programs"] + 2 * s["pair_programs"]
    assert s["wear"] >= s["pair_programs"]  # one RESET (cycle) per flip, counted
    # the run starts on 9,9; every visit of the other die is a move, and back
    assert s["prober_moves"] >= 2 and s["die_visits"] >= s["prober_moves"]
    assert s["bench_time_s"] > 0
    assert len(s["task_accuracies"]) == 2
    assert s["test_accuracy"] == pytest.approx(np.mean(s["task_accuracies"]))
    data = Results.load(str(chip.file)).data
    assert list(data["Task"]) == [1, 2] and list(data["Epoch"]) == [1, 1]
    assert data["Task 2 accuracy"].isna().tolist() == [True, False]
    assert data["Device programs"].is_monotonic_increasing
    assert data["Prober moves"].iloc[-1] <= s["prober_moves"]
    entry = Catalog(root).get(chip.run_id)
    assert entry.summary["task_accuracies"] == s["task_accuracies"]
    assert entry.summary["prober_moves"] == s["prober_moves"]
    # the run ended on the die it started on (9,9), the bench left safe: separated, outputs off
    pos = b.prober.map_position()
    assert (pos.col, pos.row) == (9, 9)
    assert not b.prober.chuck_status().in_contact
    assert all(v == 0.0 for k, v in b.lab.dc_bias.items() if k in ("BL", "SL", "WL"))
    # each tile's bits were written on its die: read the PCSA of die 10,9 directly
    from procedures.framework.runner import position_prober

    position_prober(b, (10, 9), 0)
    try:
        word = b.chip.pcsa_read(0)
    finally:
        b.prober.separate()
    assert len(word) == 32

    # the same seed with software synapses: identical training when the PCSA read every bit
    ideal = _run(b, root, meta=1.35, backend="ideal")
    assert ideal.status == "finished", ideal.error
    assert s["bit_errors"] <= 2
    if s["bit_errors"] == 0:
        assert ideal.summary["task_accuracies"] == s["task_accuracies"]
        assert ideal.summary["pair_programs"] == s["pair_programs"]


def test_stuck_devices_are_detected_remapped_and_reported(bench):
    b, root = bench
    chip = b.lab.wafer.chip(9, 9)
    injected = set()
    for pair in range(32):  # BL side of every pair of row 1 wears out at its next RESET
        i = chip.index("2T2R", 1, pair, "BL")
        chip.pop.n_life[i] = 0.5
        chip.pop.wear[i] = 1
        injected.add((1, pair, "BL"))
    out = _run(b, root, meta=1.0, seed=4)
    assert out.status == "finished", out.error
    s = out.summary
    assert s["device_failures"] >= 3
    assert {tuple(d) for d in s["failed_devices"]} <= injected
    assert s["device_failures"] == len(s["failed_devices"])
    assert s["bit_errors"] <= 10  # a stuck pair may read wrong until it is found
    assert Results.load(str(out.file)).data["Device failures"].iloc[-1] == s["device_failures"]


def test_abort_stops_cleanly_with_loadable_results(bench):
    b, root = bench
    first_row = threading.Event()
    handle = _run(b, root, RunCallbacks(on_row=lambda row: first_row.set()), start_only=True,
                  tasks=3, epochs=3)
    assert first_row.wait(60)
    handle.stop()
    out = handle.wait(60)
    assert out is not None and out.status == "aborted"
    assert all(v == 0.0 for k, v in b.lab.dc_bias.items() if k in ("BL", "SL", "WL"))
    data = Results.load(str(out.file)).data
    assert 1 <= len(data) < 9
    assert out.summary["device_programs"] > 0 and out.summary["epochs_done"] >= 1
    # an aborted run still gets the figure of the epochs it did
    check_figure(out.summary, out.file, "learning", "bnn-metaplastic",
                 "epoch (all tasks in sequence)", ["task 1 (test)"])


@pytest.mark.parametrize("params, words", [
    ({"n_hidden": 1024, "dies": "9,9"}, ["dies", "pairs"]),
    ({"cells": "0-1,0-31", "dies": "9,9;10,9"}, ["9472", "64"]),
    ({"dies": "9,9;9,9"}, ["dies", "twice"]),
    ({"dies": "9;x"}, ["dies"]),
    ({"dies": ""}, ["dies"]),
    ({"v_reset": 4.2}, ["SL"]),
    ({"array": "1T1R"}, ["2T2R"]),
])
def test_validation_refuses_before_anything_is_applied(params, words):
    from instruments.bench import load_bench_config

    proc = BNNMetaplasticProcedure()
    assert_refused(proc, params, words)
    # ideal backend: any size is fine
    ok = BNNMetaplasticProcedure()
    ok.backend, ok.n_hidden, ok.dies = "ideal", 1024, "9,9"
    ok.validate(load_bench_config("simulated").limits)


def test_forward_uses_the_bits_given():
    cfg = BNNConfig(n_in=16, n_hidden=4)
    net = BinarizedMLP(cfg, np.random.default_rng(0))
    x = np.random.default_rng(1).choice([-1.0, 1.0], size=(50, 16))
    wb = net.binary_weights()
    flipped = [-wb[0], wb[1]]
    assert not np.array_equal(net.predict(x, wb), net.predict(x, flipped))
    bits = net.flat_signs()
    assert all(np.array_equal(a, b) for a, b in zip(net.unflatten(bits), wb, strict=True))
