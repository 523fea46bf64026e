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
