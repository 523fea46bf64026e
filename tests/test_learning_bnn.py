"""Metaplastic binarized network: the learning rule, continual learning, and 2T2R synapses."""

import threading

import numpy as np
import pytest
from pymeasure.experiment import Results

from instruments.limits import LimitError
from procedures.catalog import Catalog
from procedures.learning.bnn import (
    BinarizedMLP,
    BNNConfig,
    MetaplasticAdam,
    permuted_digits_tasks,
    train_continual_ideal,
)
from procedures.learning.bnn_procedure import BNNMetaplasticProcedure
from procedures.learning.synapses import PairLayout, Tile
from procedures.runner import RunCallbacks, prepare_run

DIE = "9,9"
SMALL = {"inputs": "4x4", "n_hidden": 4, "tasks": 2, "epochs": 1, "train_limit": 160,
         "batch_size": 32, "seed": 3}


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


def test_metaplasticity_keeps_task_1_after_task_2_on_the_same_seeds_and_data():
    """Software reference (ideal synapses): 6 seeds, the same data and permutations per seed."""
    base, meta, flips0, flips2 = [], [], [], []
    for seed in range(6):
        tasks = permuted_digits_tasks(2, seed, "8x6")
        r0 = train_continual_ideal(BNNConfig(meta=0.0, lr=0.05), tasks, 5, 32, seed)
        r2 = train_continual_ideal(BNNConfig(meta=2.0, lr=0.05), tasks, 5, 32, seed)
        assert r0.acc[0, 0] > 0.6 and r2.acc[0, 0] > 0.6  # both learn task 1
        base.append(r0.acc[1, 0])
        meta.append(r2.acc[1, 0])
        flips0.append(r0.flips)
        flips2.append(r2.flips)
    base, meta = np.array(base), np.array(meta)
    assert base.mean() < 0.35  # catastrophic forgetting without metaplasticity
    assert meta.mean() > base.mean() + 0.12
    assert np.count_nonzero(meta > base) >= 5
    assert np.mean(flips2) < np.mean(flips0)  # consolidated weights flip (and are programmed) less


def test_pair_layout_packs_rows_and_remaps_to_spares():
    pairs = [(r, p) for r in range(2) for p in range(32)]
    lay = PairLayout(40, [Tile(None, tuple(pairs))])
    assert lay.slots[31] == (0, 0, 31) and lay.slots[32] == (0, 1, 0)
    assert len(lay.spares) == 24 and lay.rows() == [(0, 0), (0, 1)]
    assert lay.remap(5) == (0, 1, 8) and lay.failed == [(0, 0, 5)]
    with pytest.raises(ValueError, match="needs 65"):
        PairLayout(65, [Tile(None, tuple(pairs))])


def test_default_network_fits_one_die():
    cfg = BNNMetaplasticProcedure().network_config()
    assert cfg.n_weights == 48 * 16 + 16 * 10 == 928 <= 1024


# -- on the simulated chip -----------------------------------------------------------------------
def test_chip_run_end_to_end_matches_the_software_reference(bench):
    b, root = bench
    chip = _run(b, root, meta=1.5)
    assert chip.status == "finished", chip.error
    s = chip.summary
    n_w = 16 * 4 + 4 * 10
    assert s["devices_formed"] == 2 * n_w and s["device_failures"] == 0
    assert s["initial_programs"] == n_w  # one RESET per freshly formed pair
    assert s["pair_programs"] > 0
    assert s["device_programs"] >= s["initial_programs"] + 2 * s["pair_programs"]
    assert s["wear"] >= s["pair_programs"]  # one RESET (cycle) per flip
    assert len(s["task_accuracies"]) == 2
    assert s["test_accuracy"] == pytest.approx(np.mean(s["task_accuracies"]))
    assert s["accuracy_matrix"][0][0] > 0.2  # chance is 0.1
    data = Results.load(str(chip.file)).data
    assert list(data["Task"]) == [1, 2] and list(data["Epoch"]) == [1, 1]
    assert data["Task 2 accuracy"].isna().tolist() == [True, False]
    assert data["Device programs"].is_monotonic_increasing
    assert Catalog(root).get(chip.run_id).summary["task_accuracies"] == s["task_accuracies"]

    # the same seed with software synapses: identical training when the PCSA read every bit
    ideal = _run(b, root, meta=1.5, backend="ideal")
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


@pytest.mark.parametrize("params, words", [
    ({"n_hidden": 40, "inputs": "8x8"}, ["n_hidden", "pairs"]),
    ({"cells": "0-1,0-31"}, ["928", "64"]),
    ({"v_reset": 4.2}, ["SL"]),
    ({"array": "1T1R"}, ["2T2R"]),
])
def test_validation_refuses_before_anything_is_applied(params, words):
    from instruments.bench import load_bench_config

    proc = BNNMetaplasticProcedure()
    with pytest.raises((ValueError, LimitError)) as info:
        for k, v in params.items():
            setattr(proc, k, v)
        proc.validate(load_bench_config("simulated").limits)
    for w in words:
        assert w in str(info.value)
    # ideal backend: any size is fine
    ok = BNNMetaplasticProcedure()
    ok.backend, ok.n_hidden, ok.inputs = "ideal", 64, "8x8"
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
