"""Safety limits and bench files."""

import pytest

from instruments.bench import BenchConfigError, load_bench_config
from instruments.limits import LimitError, SafetyLimits


def test_voltage_limit_per_terminal():
    lim = SafetyLimits(max_voltage={"BL": 3.0, "SL": 2.0, "WL": 4.0, "SUB": 0.5})
    assert lim.check_voltage("BL", -3.0) == -3.0
    with pytest.raises(LimitError, match=r"2.5 V on SL exceeds .*2 V"):
        lim.check_voltage("SL", 2.5)
    with pytest.raises(LimitError, match="unknown terminal"):
        lim.check_voltage("XX", 0.0)
    with pytest.raises(LimitError):
        lim.check_voltage("BL", float("nan"))


def test_compliance_and_power_limits():
    lim = SafetyLimits(max_compliance=1e-3, max_power=1e-3)
    assert lim.check_compliance(1e-4, 3.0) == 1e-4
    with pytest.raises(LimitError, match="compliance"):
        lim.check_compliance(2e-3)
    with pytest.raises(LimitError, match="W"):
        lim.check_compliance(1e-3, 2.0)


def test_temperature_limits():
    lim = SafetyLimits(max_chuck_temperature=150, min_chuck_temperature=20)
    assert lim.check_temperature(85) == 85
    with pytest.raises(LimitError, match="outside"):
        lim.check_temperature(200)


def test_simulated_bench_file():
    cfg = load_bench_config("simulated")
    assert cfg.simulated
    assert cfg.smu_terminals == {1: "BL", 2: "SL", 3: "WL", 4: "SUB"}
    assert cfg.wgfmu_terminals == {501: "BL", 502: "SL", 601: "WL"}
    assert cfg.limits.max_voltage["BL"] == 4.5
    assert cfg.resources == {}


def test_lab_example_bench_file():
    cfg = load_bench_config("lab-example")
    assert not cfg.simulated
    assert cfg.resources["b1500"] == "GPIB0::17::INSTR"
    assert set(cfg.resources) == {"b1500", "wgfmu", "prober", "chip"}


def test_bad_bench_files_are_refused_with_a_clear_message(tmp_path):
    with pytest.raises(BenchConfigError, match="known benches"):
        load_bench_config("no-such-bench")
    bad = tmp_path / "bad.toml"
    bad.write_text('kind = "lab"\n[instruments]\nb1500 = "GPIB0::1::INSTR"\n')
    with pytest.raises(BenchConfigError, match="lacks wgfmu, prober, chip"):
        load_bench_config(bad)
    bad.write_text('[limits]\nmax_volts = 3\n')
    with pytest.raises(BenchConfigError, match="max_volts"):
        load_bench_config(bad)
    bad.write_text('[wiring]\nsmu = { 1 = "GATE" }\n')
    with pytest.raises(BenchConfigError, match="GATE"):
        load_bench_config(bad)
