"""Bench files checked by a pydantic schema: one line naming the file, line and key; bounds from
the instruments' ratings; the VISA library chosen by the bench file (issue 9, issue 10)."""

from __future__ import annotations

from pathlib import PureWindowsPath

import pytest

from gui.cli import main
from instruments.bench import Bench, BenchConfigError, load_bench_config
from instruments.bench_schema import SMU_MAX_V
from tests._toml import line_of

GOOD = """\
name = "t"
kind = "simulated"

[simulated]
seed = 3
time_scale = 1.0

[wiring]
smu = { 1 = "BL", 2 = "SL", 3 = "WL", 4 = "SUB" }
wgfmu = { 501 = "BL", 502 = "SL", 601 = "WL" }

[limits]
max_voltage = { BL = 4.5, SL = 4.0, WL = 4.0, SUB = 1.0 }
max_compliance = 1e-3
max_power = 0.01
max_chuck_temperature = 250.0
min_chuck_temperature = 20.0
"""


def _refused(tmp_path, text: str) -> BenchConfigError:
    f = tmp_path / "bench.toml"
    f.write_text(text)
    with pytest.raises(BenchConfigError) as info:
        load_bench_config(f)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(f))
    return info.value


def test_good_file_loads(tmp_path):
    f = tmp_path / "bench.toml"
    f.write_text(GOOD)
    cfg = load_bench_config(f)
    assert cfg.seed == 3 and cfg.limits.max_voltage["BL"] == 4.5
    assert cfg.wgfmu_terminals == {501: "BL", 502: "SL", 601: "WL"}
    assert cfg.visa_library == "@py"


@pytest.mark.parametrize("text", ["", "\n# only a comment\n", "   \n"])
def test_empty_bench_file_is_an_error_not_default_limits(tmp_path, text):
    err = _refused(tmp_path, text)
    assert "empty" in str(err)


@pytest.mark.parametrize(
    "old, new, key, words",
    [
        ("time_scale = 1.0", "time_scale = -1e6", "simulated.time_scale", ["> 0"]),
        ("time_scale = 1.0", 'time_scale = "fast"', "simulated.time_scale", ["number", "fast"]),
        ("time_scale = 1.0", "time_scale = nan", "simulated.time_scale", ["finite"]),
        ("seed = 3", "seed = true", "simulated.seed", ["integer"]),
        ("seed = 3", "seed = 1.5", "simulated.seed", ["integer"]),
        ("BL = 4.5", "BL = 1e9", "limits.max_voltage.BL", ["<= 100 V", "B1517A"]),
        ("BL = 4.5", "BL = -1", "limits.max_voltage.BL", ["> 0"]),
        ("BL = 4.5", 'BL = "4.5"', "limits.max_voltage.BL", ["number"]),
        ("max_compliance = 1e-3", "max_compliance = 1.0", "limits.max_compliance",
         ["<= 0.1 A", "100 mA"]),
        ("max_power = 0.01", "max_power = 50", "limits.max_power", ["<= 2 W"]),
        ("max_power = 0.01", "max_power = [1]", "limits.max_power", ["number"]),
        ("max_chuck_temperature = 250.0", "max_chuck_temperature = 1000.0",
         "limits.max_chuck_temperature", ["<= 300"]),
        ("min_chuck_temperature = 20.0", "min_chuck_temperature = 260.0", "limits",
         ["below"]),
        ("max_power = 0.01", "max_powr = 0.01", "limits.max_powr", ["unknown key",
                                                                     "max_power"]),
        ("max_power = 0.01\n", "", "limits.max_power", ["missing"]),
        (", SUB = 1.0 }", " }", "limits.max_voltage", ["SUB"]),
        ('kind = "simulated"', 'kind = "virtual"', "kind", ["simulated", "lab"]),
        ('smu = { 1 = "BL"', 'smu = { 1 = "GATE"', "wiring.smu", ["GATE"]),
        ('smu = { 1 = "BL"', 'smu = { 11 = "BL"', "wiring.smu", ["slot 1..10"]),
        ("601 = ", "603 = ", "wiring.wgfmu", ["channel"]),
    ],
)
def test_bad_value_names_key_and_line(tmp_path, old, new, key, words):
    assert old in GOOD
    text = GOOD.replace(old, new, 1)
    err = _refused(tmp_path, text)
    assert err.key == key, str(err)
    if new.strip() and key.split(".")[-1] in new:
        assert err.line == line_of(text, new.strip()), str(err)
    for w in words:
        assert w in str(err), str(err)


def test_missing_limits_table_is_refused(tmp_path):
    text = GOOD[: GOOD.index("[limits]")]
    err = _refused(tmp_path, text)
    assert err.key == "limits" and "missing" in str(err)


def test_wgfmu_only_terminal_limit_within_the_wgfmu_range(tmp_path):
    text = GOOD.replace('3 = "WL", ', "").replace("WL = 4.0", "WL = 12.0")
    err = _refused(tmp_path, text)
    assert "WL" in str(err) and "WGFMU" in str(err) and "10 V" in str(err)
    # an SMU on the same terminal can reach it: allowed up to the SMU rating
    f = tmp_path / "ok.toml"
    f.write_text(GOOD.replace("WL = 4.0", "WL = 12.0"))
    assert load_bench_config(f).limits.max_voltage["WL"] == 12.0
    assert SMU_MAX_V == 100.0


def test_bad_bench_on_the_command_line_is_one_line_exit_2(tmp_path, capsys):
    f = tmp_path / "bench.toml"
    f.write_text(GOOD.replace("time_scale = 1.0", "time_scale = -1e6"))
    rc = main(["run", "forming", "--bench", str(f), "--data", str(tmp_path / "d"), "--quiet"])
    out, err = capsys.readouterr()
    assert rc == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert f"bench.toml:{line_of(GOOD, 'time_scale')}: simulated.time_scale" in err
    assert not (tmp_path / "d").exists() or not any((tmp_path / "d").rglob("*.csv"))


# ------------------------------------------------------------------------------------------------
# VISA library and the Windows lab example
# ------------------------------------------------------------------------------------------------
def test_visa_library_defaults_per_kind_and_can_be_chosen(tmp_path):
    assert load_bench_config("simulated").visa_library == "@py"
    lab = load_bench_config("lab-example")
    assert lab.visa_library == ""  # the system VISA: Keysight IO Libraries / NI-VISA
    f = tmp_path / "bench.toml"
    f.write_text(GOOD.replace("[simulated]", '[instruments]\nvisa_library = "@ivi"\n\n'
                                             "[simulated]"))
    assert load_bench_config(f).visa_library == "@ivi"


def test_drivers_open_their_resources_with_the_bench_files_visa_library(tmp_path, data_root):
    f = tmp_path / "bench.toml"
    f.write_text(GOOD.replace("[simulated]", '[instruments]\nvisa_library = "@no-such-backend"'
                                             "\n\n[simulated]"))
    with pytest.raises(Exception, match="no-such-backend|no_such_backend"):
        Bench.open(f, data_dir=data_root, fresh=True)
    f.write_text(GOOD.replace("[simulated]", '[instruments]\nvisa_library = "@py"\n\n'
                                             "[simulated]"))
    with Bench.open(f, data_dir=data_root, fresh=True) as bench:
        for drv in (bench.b1500, bench.prober, bench.chip):
            assert type(drv.adapter.connection.visalib).__module__.startswith("pyvisa_py")
        assert bench.b1500.id  # connected and answering


def test_lab_example_is_a_windows_lab_pc():
    cfg = load_bench_config("lab-example")
    assert cfg.kind == "lab"
    assert cfg.resources["b1500"] == "GPIB0::17::INSTR"
    assert cfg.resources["chip"] == "ASRL3::INSTR"  # COM3
    assert cfg.resources["prober"].startswith("TCPIP::") and "::1412::" in cfg.resources["prober"]
    text = cfg.source.read_text()
    assert "/dev/" not in text and "ttyUSB" not in text


def test_bench_file_given_as_a_windows_path_is_read(tmp_path):
    """A path typed on Windows (backslashes, drive) reaches pathlib unchanged: nothing in
    bench_path splits on '/' or assumes a POSIX root."""
    import instruments.bench_config as bench_module

    src = bench_module.bench_path.__code__.co_consts
    assert not any(isinstance(c, str) and c.startswith("/") for c in src)
    win = PureWindowsPath(r"C:\memprobe\benches\station-1.toml")
    assert win.suffix == ".toml" and win.stem == "station-1"
    with pytest.raises(BenchConfigError, match="does not exist"):
        load_bench_config(r"C:\memprobe\benches\no-such-station.toml")


def test_lab_bench_without_its_hardware_is_one_line_exit_3(tmp_path, capsys):
    import importlib.util

    if any(importlib.util.find_spec(m) for m in ("gpib", "gpib_ctypes")):
        pytest.skip("a GPIB driver is installed: the lab bench would really be contacted")
    rc = main(["run", "forming", "--bench", "lab-example", "--die", "9,9", "--data",
               str(tmp_path / "d"), "--quiet"])
    out, err = capsys.readouterr()
    assert rc == 3 and out == ""
    assert len(err.strip().splitlines()) == 1 and "cannot open bench lab-station-1" in err
    assert not list((tmp_path / "d").rglob("*.csv"))
