"""Bayesian learning by MCMC with physical proposals: calibration, sampler, chip runs."""

import threading

import numpy as np
import pytest
from pymeasure.experiment import Results

from procedures.framework.catalog import Catalog
from procedures.framework.runner import RunCallbacks, prepare_run
from procedures.learning.mcmc import (
    Calibration,
    ConductanceSampler,
    IdealProposals,
    MCMCConfig,
    breast_cancer_data,
    log_likelihood,
)
from procedures.learning.mcmc_procedure import (
    MCMCBayesProcedure,
    MCMCCalibrationProcedure,
    load_calibration,
)
from tests._procedures import assert_refused
from tests.learning._figure_check import check_figure

DIE = "9,9"
CELLS = "0-2,0-9"


@pytest.fixture(scope="module")
def bench(module_bench):
    """One simulated bench for the module (cells formed once), with its data root."""
    return module_bench


@pytest.fixture(scope="module")
def calibration_run(bench):
    b, root = bench
    proc = MCMCCalibrationProcedure()
    proc.die, proc.cells, proc.levels, proc.repeats = DIE, CELLS, 4, 2
    out = prepare_run(proc, b, root, Catalog(root)).run()
    assert out.status == "finished", out.error
    return out


def _bayes(bench, root, callbacks=None, start_only=False, **params):
    proc = MCMCBayesProcedure()
    proc.die, proc.cells = DIE, CELLS
    for k, v in params.items():
        setattr(proc, k, v)
    handle = prepare_run(proc, bench, root, Catalog(root), callbacks)
    return handle.start() if start_only else handle.run()


# -- pieces --------------------------------------------------------------------------------------
def test_calibration_fit_inverts_the_mean_and_keeps_per_cell_gains():
    rng = np.random.default_rng(0)
    levels = np.repeat(np.linspace(10e-6, 160e-6, 6), 40)
    cells = [(0, k % 4) for k in range(levels.size)]
    gain = np.array([1.0, 1.1, 0.9, 1.0])[[c for _, c in cells]]
    g = gain * levels / 1.1 + 3e-6 * rng.standard_normal(levels.size)
    cal = Calibration.from_samples(levels, g, cells)
    assert np.all(np.diff(cal.g_mean) > 0)
    assert np.all(cal.g_std > 2.5e-6)  # read spread 3 uS plus the per-cell gain spread
    assert cal.g_std[-1] > cal.g_std[0]  # the gain spread grows with G
    assert cal.compliance_for(50e-6) == pytest.approx(55e-6, rel=0.05)
    assert cal.gain((0, 1)) == pytest.approx(1.1, rel=0.03)
    assert cal.compliance_for(55e-6, (0, 1)) == pytest.approx(55e-6, rel=0.06)
    assert cal.compliance_for(1.0) == pytest.approx(160e-6)  # clipped to the range
    with pytest.raises(ValueError, match="two compliance levels"):
        Calibration.from_samples(np.full(5, 1e-5), np.full(5, 1e-5))


def test_ideal_sampler_reaches_published_accuracy_across_seeds():
    data = breast_cancer_data(8)
    cal = Calibration.nominal()
    accs, rates = [], []
    for seed in range(5):
        rng = np.random.default_rng(seed)
        s = ConductanceSampler(IdealProposals(cal, rng), data, cal, MCMCConfig(burn_in=200), rng)
        assert s.start()
        ll0 = s.log_lik
        for _ in range(700):
            row = s.step()
        assert s.log_lik > ll0 + 100  # the chain climbs from w = 0
        assert row.samples == 500
        accs.append(s.test_accuracy())
        rates.append(row.acceptance_rate)
    assert np.mean(accs) > 0.94 and min(accs) > 0.92
    assert 0.005 < np.mean(rates) < 0.5
    # w = 0 is a coin flip: log-likelihood n log(1/2)
    assert log_likelihood(np.zeros(9), data.x_train, data.y_train) == pytest.approx(
        len(data.y_train) * np.log(0.5))


# -- on the simulated chip -----------------------------------------------------------------------
def test_calibration_run_is_saved_and_loadable(calibration_run, bench):
    _, root = bench
    s = calibration_run.summary
    assert s["devices_formed"] == 30 and s["device_failures"] == 0
    assert np.all(np.diff(s["cal_g_mean"]) > 0)
    # G ~ I_c / 1.1 V: slope ~0.6-1 S/A, lowest level ~10 uS, highest ~100-150 uS
    assert 0.5 < s["cal_slope"] < 1.1
    assert 5e-6 < s["cal_g_mean"][0] < 20e-6 and 90e-6 < s["cal_g_mean"][-1] < 160e-6
    data = Results.load(str(calibration_run.file)).data
    assert len(data) == 30 * 4 * 2
    by_id = load_calibration(str(calibration_run.run_id), root)
    by_file = load_calibration(str(calibration_run.file), None)
    assert np.allclose(by_id.g_mean, s["cal_g_mean"]) and np.allclose(by_file.g_mean,
                                                                      s["cal_g_mean"])
    assert len(by_id.device_gain) == 30
    check_figure(s, calibration_run.file, "calibration",
                 "mcmc-calibration: conductance after SET vs compliance", "SET compliance (uA)",
                 ["programs", "median per level"])


def test_mcmc_on_chip_with_a_saved_calibration(calibration_run, bench):
    b, root = bench
    out = _bayes(b, root, calibration=str(calibration_run.run_id), iterations=120, burn_in=40,
                 seed=1, n_features=3)
    assert out.status == "finished", out.error
    s = out.summary
    assert s["iterations_done"] == 120 and s["samples"] == 80
    assert s["test_accuracy"] > 0.85
    assert 0 < s["acceptance_rate"] < 0.6
    n_params = 4
    # RESET + SET per parameter per model (121 models), plus any deeper RESET retries
    assert s["device_programs"] >= 2 * n_params * 121
    assert s["wear"] > 0 and s["device_failures"] == 0
    data = Results.load(str(out.file)).data
    assert len(data) == 120 and list(data["Iteration"]) == list(range(1, 121))
    assert data["Acceptance rate"].iloc[-1] == pytest.approx(s["acceptance_rate"])
    assert data["Samples"].iloc[-1] == 80 and data["Samples"].iloc[39] == 0
    assert data["Accepted"].sum() == round(s["acceptance_rate"] * 120)
    # the log-likelihood of the current state never decreases by more than MH allows
    assert data["Log-likelihood"].iloc[-1] > data["Log-likelihood"].iloc[0]
    # the learning curve as a figure file beside the results, listed in the summary
    check_figure(s, out.file, "learning", "mcmc-bayes: learning curve (chip)", "iteration",
                 ["test accuracy", "train accuracy", "acceptance rate",
                  "software MAP baseline (test)", "end of burn-in"])


def test_stuck_cell_is_survived_and_reported(calibration_run, bench):
    b, root = bench
    chip = b.lab.wafer.chip(9, 9)
    for row in (0, 1, 2):  # parameter 0 wears out in every row at its next RESET
        i = chip.index("1T1R", row, 0)
        chip.pop.n_life[i] = 0.5
        chip.pop.wear[i] = 1
    out = _bayes(b, root, calibration=str(calibration_run.file), iterations=20, burn_in=5,
                 n_features=7)  # 8 parameters on 10 columns: spares left
    assert out.status == "finished", out.error
    s = out.summary
    assert s["device_failures"] >= 2
    assert {tuple(d[:2]) for d in s["failed_devices"]} <= {(0, 0), (1, 0), (2, 0)}
    assert s["iterations_done"] == 20


def test_inline_calibration_and_abort(bench):
    b, root = bench
    started = threading.Event()
    handle = _bayes(b, root, RunCallbacks(on_row=lambda r: started.set()), start_only=True,
                    iterations=5000, burn_in=10, cal_levels=3, cal_repeats=1, n_features=4)
    assert started.wait(60)
    handle.stop()
    out = handle.wait(60)
    assert out is not None and out.status == "aborted"
    assert out.summary["calibration"] == "inline"
    assert len(out.summary["cal_g_mean"]) == 3
    assert all(v == 0.0 for k, v in b.lab.dc_bias.items() if k in ("BL", "SL", "WL"))
    data = Results.load(str(out.file)).data
    assert 1 <= len(data) < 5000
    assert out.summary["iterations_done"] >= len(data)


def test_ideal_backend_through_the_runner(bench):
    b, root = bench
    out = _bayes(b, root, backend="ideal", iterations=300, burn_in=100, seed=2)
    assert out.status == "finished", out.error
    assert out.summary["test_accuracy"] > 0.9
    assert out.summary["calibration"] == "nominal model"
    check_figure(out.summary, out.file, "learning", "mcmc-bayes: learning curve (ideal)",
                 "iteration", ["test accuracy", "end of burn-in"])


@pytest.mark.parametrize("params, words", [
    ({"burn_in": 600, "iterations": 500}, ["burn_in"]),
    ({"cells": "0-3,0-4"}, ["columns"]),
    ({"cells": "0,0-9"}, ["two rows"]),
    ({"c_min": 2e-4, "c_max": 1e-4}, ["c_min"]),
    ({"v_reset": 4.2}, ["SL"]),
])
def test_validation(params, words):

    proc = MCMCBayesProcedure()
    assert_refused(proc, params, words)


def test_calibration_reference_must_be_a_calibration_run(bench, calibration_run):
    b, root = bench
    other = _bayes(b, root, backend="ideal", iterations=3, burn_in=1)
    with pytest.raises(ValueError, match="mcmc-bayes"):
        load_calibration(str(other.run_id), root)
    with pytest.raises(ValueError, match="no results file"):
        load_calibration("/nonexistent/cal.csv", root)


def test_summary_contract_baseline_and_splits(bench):
    """``split_seed`` varies the split; the summary has acceptance and the software baseline."""
    b, root = bench
    runs = [_bayes(b, root, backend="ideal", iterations=200, burn_in=50, seed=1, split_seed=k)
            for k in (0, 1)]
    for k, out in enumerate(runs):
        assert out.status == "finished", out.error
        s = Catalog(root).get(out.run_id).summary
        assert s["split_seed"] == k
        assert 0 < s["acceptance"] < 1 and s["acceptance"] == s["acceptance_rate"]
        assert 0.85 < s["baseline_accuracy"] <= 1 and 0.85 < s["baseline_window_accuracy"] <= 1
        assert s["test_accuracy"] > 0.85
        params = Catalog(root).get(out.run_id).parameters
        assert {"iterations", "burn_in", "seed", "split_seed"} <= set(params)
    # another split: another test set, so the baselines differ
    s0, s1 = (Catalog(root).get(o.run_id).summary for o in runs)
    assert (s0["baseline_accuracy"], s0["baseline_train_accuracy"]) != (
        s1["baseline_accuracy"], s1["baseline_train_accuracy"])


def test_baseline_is_the_map_of_the_same_prior():
    from procedures.learning.mcmc import breast_cancer_data, logistic_baseline

    data = breast_cancer_data(8, 0)
    wide = logistic_baseline(data, 2.0, (-100.0, 100.0))
    assert wide["baseline_window_accuracy"] == pytest.approx(wide["baseline_accuracy"], abs=0.01)
    tight = logistic_baseline(data, 2.0, (-0.05, 0.05))  # almost no room: a poorer model
    assert tight["baseline_window_accuracy"] < wide["baseline_accuracy"]


def test_bad_calibration_reference_is_refused_before_the_prober_moves(bench):
    b, root = bench
    b.prober.separate()
    before = b.prober.map_position()
    for ref in ("/nonexistent/cal.csv", "999999"):
        proc = MCMCBayesProcedure()
        proc.die, proc.cells, proc.calibration = "10,10", CELLS, ref
        with pytest.raises(ValueError, match="calibration"):
            prepare_run(proc, b, root, Catalog(root))
    after = b.prober.map_position()
    assert (after.col, after.row) == (before.col, before.row)
    assert not b.prober.chuck_status().in_contact


def test_precycling_through_the_endurance_path_is_counted_as_wear(bench):
    b, root = bench
    cells = "10-11,0-4"  # cells of their own: the other tests' cells stay fresh
    out = _bayes(b, root, cells=cells, n_features=4, iterations=20, burn_in=5, cal_levels=3,
                 cal_repeats=1, precycle=2000)
    assert out.status == "finished", out.error
    s = out.summary
    assert s["precycle_cells"] == 10 and not s["precycle_failed_cells"]
    assert s["precycle_cycles"] == 10 * 2000  # counted by the endurance run, cell by cell
    assert s["wear_total"] == s["precycle_cycles"] + s["wear"] and s["wear"] > 0
    assert 0 <= s["test_accuracy"] <= 1
    assert all(v == 0.0 for k, v in b.lab.dc_bias.items() if k in ("BL", "SL", "WL"))


@pytest.mark.parametrize("params, words", [
    ({"precycle": 100, "backend": "ideal"}, ["precycle", "chip"]),
    ({"precycle": 100, "form_v_stop": 9.5}, ["BL"]),
])
def test_precycle_validation(params, words):

    proc = MCMCBayesProcedure()
    proc.cells = CELLS
    assert_refused(proc, params, words)
