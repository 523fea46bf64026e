"""``memprobe run`` / ``runs`` argument handling (no bench needed for these)."""

import json

import pytest

from gui.cli import main


def test_list_and_help(capsys):
    assert main(["run", "--list"]) == 0
    assert "forming" in capsys.readouterr().out
    assert main(["run", "forming", "--help"]) == 0
    out = capsys.readouterr().out
    assert "compliance" in out and "1e-07 .. 0.01" in out and "V" in out


@pytest.mark.parametrize("args, words", [
    (["--set", "v_stop=12"], ["v_stop", "0.1 .. 10"]),
    (["--set", "v_stop=4.8"], ["4.8 V on BL", "4.5 V"]),
    (["--cell", "40,1"], ["row '40'", "0..31"]),
    (["--set", "nonsense=1"], ["unknown parameter 'nonsense'"]),
    (["--die", "x"], ["col,row"]),
    (["--bench", "nope"], ["known benches"]),
])
def test_bad_parameters_exit_non_zero_naming_the_parameter(args, words, capsys, data_root):
    assert main(["run", "forming", "--data", str(data_root), *args]) == 2
    err = capsys.readouterr().err
    for w in words:
        assert w in err
    # nothing was run: no catalog entry, no lab state
    assert not (data_root / "simlab").exists()


def test_unknown_procedure(capsys):
    assert main(["run", "teleport"]) == 2
    assert "known: " in capsys.readouterr().err


def test_runs_on_an_empty_catalog(capsys, data_root):
    assert main(["runs", "--data", str(data_root), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_run_procedures_headless_and_list_them_as_json(capsys, data_root):
    from pymeasure.experiment import Results

    args = ["--data", str(data_root), "--die", "9,9", "--quiet"]
    assert main(["run", "forming", "--cell", "0,0-1", "--fresh", *args]) == 0
    form_file = capsys.readouterr().out.strip().splitlines()[-1]
    assert "c09r09" in form_file and Results.load(form_file).data.shape[0] > 10
    assert main(["run", "iv-cycling", "--cell", "0,1", "--set", "cycles=3", *args]) == 0
    capsys.readouterr()
    assert main(["runs", "--data", str(data_root), "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert [r["procedure"] for r in runs] == ["forming", "iv-cycling"]
    for r in runs:
        assert {"id", "procedure", "parameters", "status", "die", "subsite", "array", "cells",
                "file", "summary"} <= set(r)
        assert r["status"] == "finished" and r["die"] == [9, 9] and r["array"] == "1T1R"
    assert 2.0 < runs[0]["summary"]["v_form"] < 4.0 and runs[0]["cells"] == [[0, 0], [0, 1]]
    # iv-cycling refuses unformed cells (form_first is off): it finished because the wafer state
    # persisted between the two commands and cell (0,1) was formed by the first one
    assert runs[1]["summary"]["on_off"] >= 5 and runs[1]["parameters"]["cycles"] == 3
    assert main(["runs", "--data", str(data_root), "--procedure", "forming"]) == 0
    assert "forming" in capsys.readouterr().out
