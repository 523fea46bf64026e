"""``bnn-inference``: a software-trained BNN programmed into two dies' 2T2R arrays and run in
memory (XNOR in the sense amplifiers, popcount in the chip controller), weak vs strong
programming, cycling stress, and the 1T1R-with-reference comparison."""

import pytest
from pymeasure.experiment import Results

from instruments.limits import LimitError
from procedures.framework.catalog import Catalog
from procedures.framework.runner import prepare_run
from procedures.learning.inference_procedure import (
    BNNInferenceProcedure,
    parse_levels,
    parse_strengths,
)
from tests.learning._figure_check import check_figure

DIES = "9,9;10,9"
SMALL = {"inputs": "4x4", "n_hidden": 8, "dies": DIES, "test_limit": 100, "epochs": 20,
         "strengths": "strong;weak", "seed": 0}


@pytest.fixture(scope="module")
def bench(module_bench):
    return module_bench


def _proc(**params):
    proc = BNNInferenceProcedure()
    proc.die = "9,9"
    for k, v in {**SMALL, **params}.items():
        setattr(proc, k, v)
    return proc


def _run(bench, **params):
    b, root = bench
    proc = _proc(**params)
    out = prepare_run(proc, b, root, Catalog(root)).run()
    assert out.status == "finished", out.error
    return proc, out


def test_in_memory_inference_matches_software_and_2t2r_beats_the_reference_read(bench):
    b, root = bench
    proc, out = _run(bench)
    s = out.summary
    strong, weak = s["conditions"]
    assert (strong["strength"], weak["strength"]) == ("strong", "weak")
    # strong programming: no pair reads wrong, the chip's XNOR-popcount gives the software result
    assert s["ber"] == strong["ber_2t2r"] == 0.0
    assert s["test_accuracy"] == pytest.approx(s["software_accuracy"])
    assert s["software_accuracy"] > 0.4  # 16 binary pixels, 8 hidden: well above chance (0.1)
    # weak programming (partial RESET, HRS ~3x LRS): the pairwise read stays right where the
    # single device against a reference errs (Hirtzlin et al. 2020)
    assert weak["ber_2t2r"] < weak["ber_1t1r"] and weak["ber_1t1r"] > strong["ber_1t1r"]
    assert weak["accuracy_2t2r"] >= weak["accuracy_1t1r"]
    assert weak["g_ref"] > strong["g_ref"]  # the weak HRS is shallower
    # counted: every in-memory query (rows x samples x conditions), moves, nothing formed twice
    layer1_rows, layer2_rows = 8, 10  # one row per neuron (fan-ins 16 and 8)
    assert s["xnor_queries"] == 2 * 100 * (layer1_rows + layer2_rows)
    assert s["devices_formed"] <= 2 * s["n_weights"] and s["device_failures"] == 0
    assert s["prober_moves"] >= 2 and s["precycle_cycles"] == 0
    # the BNN tolerates BER ~1e-3 (software reference): less than 1e-1 does
    tol = s["ber_tolerance"]
    assert tol["0.001"] >= s["software_accuracy"] - 0.05 and tol["0.1"] < tol["0.001"]
    # one row per condition in the results file; the bench left safe, back on the start die
    data = Results.load(str(out.file)).data
    assert list(data["Strength"]) == ["strong", "weak"]
    assert list(data["XNOR queries"]) == [1800, 3600]
    assert not b.lab.prober.in_contact
    pos = b.prober.map_position()
    assert (pos.col, pos.row) == (9, 9)
    # the accuracies as a figure file beside the results, listed in the summary
    check_figure(s, out.file, "accuracy",
                 "bnn-inference: accuracy per programming strength (0 stress cycles)",
                 "programming strength",
                 ["2T2R in memory", "1T1R with reference", "software (exact weights)"])


def test_cycling_stress_is_applied_and_counted_through_the_endurance_pulses(bench):
    proc, out = _run(bench, strengths="strong", precycle="0;200", reference_read=False)
    s = out.summary
    assert [c["precycle"] for c in s["conditions"]] == [0, 200]
    assert s["precycle_cycles"] == 200 * 2 * s["n_weights"]  # both devices of every pair
    assert s["wear_total"] >= s["precycle_cycles"] + 2 * s["n_weights"]
    assert all(c["accuracy_1t1r"] is None for c in s["conditions"])
    assert s["conditions"][1]["accuracy_2t2r"] == pytest.approx(s["software_accuracy"],
                                                                abs=0.05)
    text = check_figure(s, out.file, "accuracy", "bnn-inference: accuracy vs cycling stress",
                        "cycling stress (cycles per device)", ["2T2R in memory (strong)"])
    assert "1T1R" not in text["curves"]  # no reference read: no 1T1R curve


def test_bad_parameters_are_refused_by_validate(bench):
    b, _ = bench
    lim = b.limits
    with pytest.raises(ValueError, match="strengths"):
        _proc(strengths="medium").validate(lim)
    with pytest.raises(LimitError):
        _proc(strengths="100/9").validate(lim)  # 9 V on SL
    with pytest.raises(ValueError, match="precycle"):
        _proc(precycle="1e5;0").validate(lim)
    with pytest.raises(ValueError, match="full 2T2R rows"):
        _proc(inputs="8x8", n_hidden=128, dies="9,9").validate(lim)
    assert parse_strengths("weak;60/1.2") == [("weak", 80e-6, 1.3), ("60/1.2", 60e-6, 1.2)]
    assert parse_levels("0;1e3") == [0, 1000]
