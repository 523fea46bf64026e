"""Bad input: one clear line, exit 2, nothing applied and nothing written (issue 9).

The command line is run in-process (``gui.cli.main``). Every simulated lab it starts is
recorded, and every line its instrument servers receive is logged, so a test proves that no
output command reached the B1500 and that the prober never moved, then reads the lab's state back.
"""

from __future__ import annotations

import math
import os
import sqlite3
from pathlib import Path

import pytest

from gui.cli import main
from instruments.limits import LimitError, SafetyLimits
from procedures.framework.base import set_parameters
from procedures.framework.validation import (
    check_parameter_values,
    coerce_parameter,
    path_name,
    safe_component,
    validate_procedure,
)
from tests._paths import REPO

#: B1500 commands that connect or force an output, or trigger a measurement
OUTPUT_HEADERS = ("CN", "DV", "DI", "XE", "WV", "WI", "PV", "PI", "TV", "TI", "TIV", "MV", "MI")
#: prober commands that move the chuck or the map position
MOTION_WORDS = ("Step", "Move", "Contact", "Heat", "SetHeater")


@pytest.fixture
def labs(monkeypatch):
    """Every SimLab started during the test, with the lines its servers received."""
    from instruments.sim import lab as lab_module

    started: list = []
    original = lab_module.SimLab.start

    def start(self):
        original(self)
        self.received = []
        self.start_position = (self.prober.position_um("H"), self.prober.current_map_die())
        for name, srv in self.servers.items():
            factory = srv._factory

            def logged(factory=factory, name=name):
                handler = factory()

                def handle(line, handler=handler):
                    self.received.append((name, line))
                    return handler(line)

                return handle

            srv._factory = logged
        started.append(self)
        return self

    monkeypatch.setattr(lab_module.SimLab, "start", start)
    return started


def _run(capsys, *args: str) -> tuple[int, str, str]:
    rc = main(["run", *args, "--quiet"])
    out, err = capsys.readouterr()
    return rc, out, err


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def _catalog_entries(root: Path) -> int:
    db = root / "catalog.sqlite"
    if not db.exists():
        return 0
    with sqlite3.connect(db) as con:
        return con.execute("select count(*) from runs").fetchone()[0]


def _assert_one_line(rc: int, out: str, err: str, *words: str) -> None:
    assert rc == 2, err
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for w in words:
        assert w in lines[0], lines[0]


def _assert_bench_untouched(lab) -> None:
    b1500 = [line for name, line in lab.received if name == "b1500"]
    prober = [line for name, line in lab.received if name == "prober"]
    for line in b1500:
        for part in line.split(";"):
            head = part.strip().split(" ")[0].upper()
            assert head not in OUTPUT_HEADERS, f"B1500 received {part!r}"
    for line in prober:
        if line.startswith("MoveChuckSeparation"):  # the safe state at close: Z down only
            continue
        assert not any(w.lower() in line.lower() for w in MOTION_WORDS), f"prober got {line!r}"
    assert b1500 and prober  # the bench was opened and asked (the check is not vacuous)
    # read the twin back: separated, at the die and the position it started from
    assert lab.prober.separated
    assert not lab.prober.in_contact
    assert (lab.prober.position_um("H"), lab.prober.current_map_die()) == lab.start_position


# ------------------------------------------------------------------------------------------------
# Parameters refused before the bench is opened
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args, words",
    [
        (["forming", "--set", "v_step=nan"], ["v_step", "finite"]),
        (["forming", "--set", "jump_fraction=nan"], ["jump_fraction", "finite"]),
        (["forming", "--set", "v_start=-inf"], ["v_start", "finite"]),
        (["endurance", "--set", "cycles=inf"], ["cycles"]),
        (["iv-cycling", "--set", "cycles=1.5"], ["cycles", "integer"]),
        (["iv-cycling", "--set", "cycles=true"], ["cycles", "integer"]),
        (["iv-cycling", "--set", "cycles=1e7"], ["cycles", "1 .. 100000"]),
        (["forming", "--cell", ";;;"], ["no cell"]),
        (["forming", "--cell", " ; "], ["no cell"]),
        (["forming", "--cell", "0,40"], ["column"]),
        (["forming", "--set", "lot=..", "--set", "wafer_id=.."], ["lot", "'..'"]),
        (["forming", "--set", "wafer_id=../../etc"], ["wafer_id", "separator"]),
        (["forming", "--set", "lot=/tmp/x"], ["lot", "separator"]),
        (["forming", "--set", "lot=C:x"], ["lot", "drive"]),
        (["forming", "--set", "lot=CON"], ["lot", "reserved"]),
        (["forming", "--set", "v_stop=4.6"], ["v_stop = 4.6 V on BL exceeds"]),
        (["forming", "--set", "compliance=0.005"], ["compliance"]),
        (["iv-cycling", "--set", "set_stop=4.6"], ["set_stop = 4.6 V on BL"]),
    ],
)
def test_bad_parameter_is_one_line_and_nothing_is_touched(capsys, labs, data_root, args, words):
    rc, out, err = _run(capsys, *args, "--die", "9,9", "--data", str(data_root))
    _assert_one_line(rc, out, err, *words)
    assert labs == []  # the bench was never opened
    assert _files(data_root) == []


def test_cycles_given_as_integral_float_text_is_accepted():
    from procedures.experiments.iv_cycling import IVCyclingProcedure

    proc = IVCyclingProcedure()
    set_parameters(proc, {"cycles": "1e3"})
    assert proc.cycles == 1000 and isinstance(proc.cycles, int)
    set_parameters(proc, {"cycles": 20.0})  # a TOML float that is integral
    assert proc.cycles == 20
    for bad in (1.5, True, "1.5", "nan", float("inf")):
        with pytest.raises(ValueError, match="cycles"):
            set_parameters(proc, {"cycles": bad})


def test_every_float_parameter_of_every_procedure_refuses_nan_and_inf():
    from pymeasure.experiment import FloatParameter

    from procedures.framework.registry import PROCEDURES

    n = 0
    for cls in PROCEDURES.values():
        for name, param in cls().parameter_objects().items():
            if not isinstance(param, FloatParameter):
                continue
            for bad in (float("nan"), float("inf"), float("-inf"), "nan", "-inf"):
                with pytest.raises(ValueError, match=name):
                    coerce_parameter(name, param, bad)
            n += 1
            # set directly (a script, a GUI widget): validate refuses it too
            proc = cls()
            setattr(proc, name, math.nan)
            with pytest.raises(ValueError, match=name):
                check_parameter_values(proc)
    assert n > 50


def test_validate_names_the_parameter_of_a_limit():
    from procedures.experiments.forming import FormingProcedure

    limits = SafetyLimits(max_voltage={"BL": 4.5, "SL": 3.5, "WL": 3.5, "SUB": 1.0})
    proc = FormingProcedure()
    set_parameters(proc, {"v_stop": 4.6})
    with pytest.raises(LimitError, match=r"^v_stop = 4.6 V on BL exceeds the bench limit"):
        validate_procedure(proc, limits)
    proc = FormingProcedure()
    set_parameters(proc, {"v_wl": 3.9})
    with pytest.raises(LimitError, match=r"^v_wl = 3.9 V on WL"):
        validate_procedure(proc, limits)
    # a procedure whose checks name nothing: the parameter is found from its value
    from procedures.experiments.endurance import EnduranceProcedure

    proc = EnduranceProcedure()
    name = "set_amplitude"
    set_parameters(proc, {name: 4.4})
    with pytest.raises(LimitError, match=rf"{name}"):
        validate_procedure(proc, SafetyLimits(max_voltage={"BL": 4.0, "SL": 4.0, "WL": 4.0,
                                                           "SUB": 1.0}))


# ------------------------------------------------------------------------------------------------
# Targets refused before any motion
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args, words",
    [
        (["--die", "99,99"], ["die = 99,99", "not on the prober's wafer map"]),
        (["--die", "0,0"], ["die = 0,0", "not on"]),
        (["--die", "9,9", "--subsite", "7"], ["subsite = 7", "0..3"]),
        (["--subsite", "3"], ["subsite = 3", "give the die"]),
    ],
)
def test_bad_target_is_refused_before_any_motion(capsys, labs, data_root, args, words):
    rc, out, err = _run(capsys, "forming", *args, "--data", str(data_root), "--fresh")
    _assert_one_line(rc, out, err, *words)
    assert len(labs) == 1
    lab = labs[0]
    _assert_bench_untouched(lab)
    assert not [p for p in _files(data_root) if p.suffix == ".csv"]
    assert _catalog_entries(data_root) == 0


# ------------------------------------------------------------------------------------------------
# Data root
# ------------------------------------------------------------------------------------------------
def test_data_root_that_is_a_file_is_refused(capsys, labs, tmp_path):
    f = tmp_path / "root.txt"
    f.write_text("not a folder")
    rc, out, err = _run(capsys, "forming", "--die", "9,9", "--data", str(f))
    _assert_one_line(rc, out, err, "is a file")
    assert labs == []
    assert f.read_text() == "not a folder"


def test_data_root_under_a_file_cannot_be_created(capsys, labs, tmp_path):
    f = tmp_path / "root.txt"
    f.write_text("x")
    rc, out, err = _run(capsys, "forming", "--die", "9,9", "--data", str(f / "sub"))
    _assert_one_line(rc, out, err, "cannot be created")
    assert labs == []


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="root writes into read-only folders")
def test_unwritable_data_root_is_refused(capsys, labs, tmp_path):
    root = tmp_path / "ro"
    root.mkdir()
    root.chmod(0o500)
    try:
        rc, out, err = _run(capsys, "forming", "--die", "9,9", "--data", str(root))
    finally:
        root.chmod(0o700)
    _assert_one_line(rc, out, err, "not writable")
    assert labs == []


def test_missing_data_root_is_created(tmp_path):
    from instruments.datadir import resolve_data_root

    root = resolve_data_root(tmp_path / "a" / "b")
    assert root.is_dir() and _files(root) == []


def test_wafer_and_runs_commands_refuse_a_file_as_data_root(capsys, tmp_path):
    f = tmp_path / "root.txt"
    f.write_text("x")
    for argv in (["wafer", "demo-wafer", "--data", str(f)], ["runs", "--data", str(f)]):
        rc = main(argv)
        out, err = capsys.readouterr()
        assert rc == 2 and len(err.strip().splitlines()) == 1 and "is a file" in err


# ------------------------------------------------------------------------------------------------
# Names in paths
# ------------------------------------------------------------------------------------------------
NASTY = ["..", ".", "...", "../..", "../x", "/etc/passwd", "C:\\Windows", "C:x", "a/../../b",
         "\\\\server\\share", "CON", "nul.txt", "x\x00y", "line\nbreak", " .. ", "", "é/ü",
         ".hidden", "trailing.", "a" * 300]


@pytest.mark.parametrize("name", NASTY)
def test_safe_component_always_stays_in_its_folder(tmp_path, name):
    part = safe_component(name)
    assert part and part not in (".", "..")
    assert "/" not in part and "\\" not in part and ":" not in part
    assert not part.startswith(".") and not part.endswith(".")
    assert len(part) <= 64
    assert (tmp_path / part).resolve().parent == tmp_path.resolve()


@pytest.mark.parametrize("name", [n for n in NASTY if n not in (".hidden", "trailing.")])
def test_path_name_refuses_what_is_not_one_folder_name(name):
    with pytest.raises(ValueError, match="lot"):
        path_name(name, "lot")


def test_results_path_stays_inside_the_root_even_unvalidated(tmp_path):
    from procedures.experiments.forming import FormingProcedure
    from procedures.framework.runner import results_path

    proc = FormingProcedure()
    proc.lot, proc.wafer_id = "..", "../../outside"
    path = results_path(tmp_path, proc, (9, 9), 0)
    assert tmp_path.resolve() in path.resolve().parents


def test_one_sanitiser_in_the_code():
    """The folder-name sanitiser is written once (procedures.framework.validation)."""
    root = REPO
    copies = [p for p in [*root.glob("procedures/**/*.py"), *root.glob("gui/**/*.py"),
                          *root.glob("instruments/**/*.py")]
              if 'ch.isalnum() or ch in "-_."' in p.read_text()]
    assert copies == []


@pytest.mark.parametrize("extra", [["--time-scale=-1e6"], ["--time-scale", "nan"],
                                   ["--data", "FILE"]])
def test_sim_lab_refuses_bad_input_in_one_line(tmp_path, extra):
    import subprocess
    import sys

    f = tmp_path / "file.txt"
    f.write_text("x")
    args = [str(f) if a == "FILE" else a for a in extra]
    if "--data" not in args:
        args += ["--data", str(tmp_path / "d")]
    proc = subprocess.run([sys.executable, "-m", "gui.cli", "sim-lab", *args],
                          capture_output=True, text=True, timeout=120,
                          cwd=REPO)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""  # no resources printed: no server was started
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_every_voltage_parameter_over_a_limit_is_named_in_the_message():
    """For every procedure, a voltage parameter over the bench limit gives a message that names
    it (with the options that use it switched on)."""
    from pymeasure.experiment import FloatParameter

    from procedures.framework.registry import PROCEDURES
    from procedures.framework.validation import _parameters

    limits = SafetyLimits(max_voltage={"BL": 4.0, "SL": 4.0, "WL": 4.0, "SUB": 1.0},
                          max_compliance=1e-3, max_power=0.01)
    enable = {"form_first": True, "pattern": "checkerboard"}
    named = 0
    for cls in PROCEDURES.values():
        params = _parameters(cls())
        extra = {k: v for k, v in enable.items() if k in params}
        for name, p in params.items():
            if not (isinstance(p, FloatParameter) and p.units == "V" and p.maximum >= 4.4):
                continue
            proc = cls()
            set_parameters(proc, {**extra, name: 4.4})
            try:
                validate_procedure(proc, limits)
            except ValueError as exc:
                assert name in str(exc), f"{cls.NAME}: {exc}"
                named += 1
    assert named > 40
