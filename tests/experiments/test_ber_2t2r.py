"""2T2R bit error rate vs. 1T1R on the simulated bench, and the DC programming helpers."""

import numpy as np
import pytest
from pymeasure.experiment import Results

from procedures.experiments.ber_2t2r import BER2T2RProcedure
from procedures.framework.catalog import Catalog
from procedures.framework.runner import prepare_run
from procedures.operations.cell_io import CellIO
from procedures.operations.programming import form_cell, reset_cell, set_cell
from tests._procedures import assert_refused

DIE = "9,9"
CELLS = "0-3,0-15"  # 64 pairs, 128 devices
WEAK = {"set_compliance": 80e-6, "v_reset": 1.3}  # weak (partial) RESET
STRONG = {"set_compliance": 100e-6, "v_reset": 2.0}


def _ber(bench, root, **params):
    proc = BER2T2RProcedure()
    proc.die = DIE
    proc.cells = CELLS
    proc.form_v_start = 1.8  # shorter staircase; V_form is ~2.2-3.1 V
    for k, v in params.items():
        setattr(proc, k, v)
    catalog = Catalog(root)
    outcome = prepare_run(proc, bench, root, catalog).run()
    assert outcome.status == "finished", outcome.error
    return outcome, catalog


def _check_rows(data, summary):
    """The data rows are consistent with themselves and with the summary."""
    assert len(data) == summary["n_bits"]
    # the 2T2R error flag is PCSA != written bit
    assert np.array_equal(data["Error 2T2R"], (data["PCSA bit"] != data["Written bit"]))
    # the 1T1R flags follow from the resistances and the reference
    lrs_bl = data["Written bit"] == 1
    err_bl = np.where(lrs_bl, data["R_BL (ohm)"] > data["R_ref (ohm)"],
                      data["R_BL (ohm)"] < data["R_ref (ohm)"])
    err_blb = np.where(~lrs_bl, data["R_BLB (ohm)"] > data["R_ref (ohm)"],
                       data["R_BLB (ohm)"] < data["R_ref (ohm)"])
    assert np.array_equal(data["Error BL 1T1R"], err_bl.astype(int))
    assert np.array_equal(data["Error BLB 1T1R"], err_blb.astype(int))
    n_dev_err = data["Error BL 1T1R"].sum() + data["Error BLB 1T1R"].sum()
    assert summary["errors_1t1r"] == n_dev_err
    assert summary["errors_2t2r"] == data["Error 2T2R"].sum()
    assert summary["ber_1t1r"] == pytest.approx(n_dev_err / (2 * len(data)))


def test_2t2r_beats_1t1r_under_weak_programming_and_is_exact_when_strong(sim_bench, data_root):
    # weak programming (1.3 V partial RESET): LRS and HRS overlap for single devices
    weak, catalog = _ber(sim_bench, data_root, repeats=3, seed=3, **WEAK)
    s = weak.summary
    assert s["devices_formed"] == 128 and s["devices_not_formed"] == 0
    assert 2.0 < s["v_form"] < 3.5
    assert s["n_bits"] == 3 * 64 and s["n_devices"] == 2 * 3 * 64 and s["repeats_done"] == 3
    assert s["ber_1t1r"] > 0.005  # a few device errors at least
    assert s["ber_2t2r"] <= s["ber_1t1r"] / 3
    # LRS ~ 1.1 V / I_c ~ 14 kOhm; the partial RESET leaves the HRS within a few x of it
    assert 10e3 < s["r_lrs"] < 20e3
    assert s["r_lrs"] * 1.5 < s["r_hrs"] < s["r_lrs"] * 6
    assert s["r_lrs"] < s["r_ref"] < s["r_hrs"]
    data = Results.load(str(weak.file)).data
    _check_rows(data, s)
    assert set(data["Repeat"]) == {0, 1, 2}
    assert set(data["Row"]) == {0, 1, 2, 3} and set(data["Pair"]) == set(range(16))
    # fresh random weights each repeat, balanced on average
    words = data.pivot_table(index=["Row", "Pair"], columns="Repeat", values="Written bit")
    assert not (words[0] == words[1]).all()
    assert 0.3 < data["Written bit"].mean() < 0.7
    assert catalog.get(weak.run_id).summary["ber_1t1r"] == s["ber_1t1r"]

    # strong programming on the same (now formed) devices: the PCSA reads every written bit
    strong, _ = _ber(sim_bench, data_root, repeats=2, seed=4, **STRONG)
    s2 = strong.summary
    assert s2["devices_formed"] == 0 and s2["devices_already_formed"] == 128
    data2 = Results.load(str(strong.file)).data
    _check_rows(data2, s2)
    assert np.array_equal(data2["PCSA bit"], data2["Written bit"])
    assert s2["ber_2t2r"] == 0.0
    assert s2["r_hrs"] / s2["r_lrs"] > s["r_hrs"] / s["r_lrs"]

    # a fixed reference far above every HRS: exactly the HRS half of the devices err
    fixed, _ = _ber(sim_bench, data_root, repeats=1, form_first=False, r_ref=1e9, **STRONG)
    assert fixed.summary["ber_1t1r"] == 0.5
    assert fixed.summary["ber_1t1r_lrs"] == 0.0 and fixed.summary["ber_1t1r_hrs"] == 1.0
    assert fixed.summary["r_ref"] == 1e9


def test_same_seed_same_weights(sim_bench, data_root):
    kw = {"cells": "5,0-7", "repeats": 1, "seed": 11, **STRONG}
    a, _ = _ber(sim_bench, data_root, **kw)
    b, _ = _ber(sim_bench, data_root, **kw)
    bits_a = Results.load(str(a.file)).data["Written bit"].to_numpy()
    bits_b = Results.load(str(b.file)).data["Written bit"].to_numpy()
    assert np.array_equal(bits_a, bits_b)
    c, _ = _ber(sim_bench, data_root, **{**kw, "seed": 12})
    assert not np.array_equal(Results.load(str(c.file)).data["Written bit"].to_numpy(), bits_a)


@pytest.mark.parametrize("params, words", [
    ({"array": "1T1R"}, ["1T1R"]),
    ({"v_reset": 4.2}, ["SL"]),
    ({"form_v_stop": 4.8}, ["BL"]),
    ({"form_v_start": 4.0, "form_v_stop": 3.0}, ["form_v_start"]),
    ({"set_compliance": 5e-3}, ["compliance"]),
])
def test_validation_refuses_before_anything_is_applied(params, words, data_root):

    proc = BER2T2RProcedure()
    assert_refused(proc, params, words)


def test_programming_helpers_on_1t1r_cells(sim_bench):
    sim_bench.prober.contact()
    io = CellIO(sim_bench)
    v_forms, g_set40, g_set100, r_weak, r_strong = [], [], [], [], []
    steps: list[tuple[int, int, float]] = []
    for col in range(6):
        io.select("1T1R", 7, col)
        assert io.read().conductance < 1e-6  # fresh
        v = form_cell(io, v_start=1.5, on_step=lambda k, d, v, r: steps.append((k, d, v)))
        assert v is not None
        v_forms.append(v)
        # weak and strong RESET, each followed by a SET at 40 / 100 uA
        r_weak.append(reset_cell(io, 1.3, 2.7, 1e-3).resistance)
        g_set40.append(set_cell(io, 1.2, 1.5, 40e-6).conductance)
        r_strong.append(reset_cell(io, 2.0, 2.7, 1e-3).resistance)
        g_set100.append(set_cell(io, 1.2, 1.5, 100e-6).conductance)
    assert all(2.0 < v < 3.5 for v in v_forms)
    # the staircase went up then down to 0 V
    assert steps[0][1] == +1 and any(d == -1 for _, d, _ in steps)
    assert any(d == -1 and v == 0.0 for _, d, v in steps)
    # LRS conductance follows the SET compliance: G ~ I_c / 1.1 V (+- spread)
    assert 25e-6 < np.median(g_set40) < 50e-6
    assert 65e-6 < np.median(g_set100) < 120e-6
    # deeper RESET -> higher HRS
    assert np.median(r_strong) > 1.5 * np.median(r_weak)
    assert np.median(r_weak) > 1 / np.median(g_set100)
    # every output back at 0 V after each helper
    assert all(v == 0.0 for k, v in sim_bench.lab.dc_bias.items() if k in ("BL", "SL"))
