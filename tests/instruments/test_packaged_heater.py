"""The ``[heater]`` of a packaged bench: schema errors in one line naming file, line and key;
the simulated bench serves the twin's ThermoStream; the bench reports it (capabilities,
status, board temperature); the set point goes back to the safe temperature at exit (read back
over a new connection after the bench is closed, while the twin still serves)."""

from __future__ import annotations

import tomllib

import pytest

from instruments.bench import Bench, BenchConfigError, load_bench_config
from instruments.bench_schema import BenchSchema
from instruments.limits import LimitError
from instruments.sim.remote_bench import sim_lab_bench_text
from instruments.tomlschema import validate_toml
from tests._toml import line_of
from tests.instruments.test_bench_schema import _refused as refused

PACKAGED = (load_bench_config("simulated-packaged-thermostream").source.read_text())


def _refused(tmp_path, text: str) -> str:
    return str(refused(tmp_path, text))  # one line, naming the file


def test_the_example_bench_loads_with_its_heater():
    cfg = load_bench_config("simulated-packaged-thermostream")
    assert cfg.packaged and cfg.heater.kind == "thermostream"
    assert cfg.heater.safe_temperature == 25.0 and "heater" not in cfg.resources


@pytest.mark.parametrize("edit, needle, text", [
    (("safe_temperature = 25.0", "safe_temperature = 160.0"), "[heater]",
     "safe_temperature = 160 C is outside [limits] -40..150 C"),
    (("window = 1.0", "window = 20.0"), "window = 20.0", "heater.window"),
    (("soak_s = 30.0", "soak_s = -1.0"), "soak_s = -1.0", "heater.soak_s"),
    (('kind = "thermostream"', 'kind = "oven"'), 'kind = "oven"', "heater.kind"),
    (("max_chuck_temperature = 150.0", "max_chuck_temperature = 250.0"), "[heater]",
     "max_chuck_temperature = 250 C is beyond the ThermoStream's range -99.9..225 C"),
    (('kind = "thermostream"', 'kind = "thermostream"\naddress = "GPIB0::24::INSTR"'),
     "[heater]", "serves its own ThermoStream"),
])
def test_bad_heater_sections_are_one_line_naming_the_line(tmp_path, edit, needle, text):
    bad = PACKAGED.replace(*edit)
    assert bad != PACKAGED
    message = _refused(tmp_path, bad)
    assert f":{line_of(bad, needle)}:" in message and text in message, message


def test_a_heater_on_a_wafer_bench_is_refused(tmp_path):
    wafer = load_bench_config("simulated").source.read_text()
    bad = wafer + '\n[heater]\nkind = "thermostream"\n'
    message = _refused(tmp_path, bad)
    assert f":{line_of(bad, '[heater]')}:" in message and "belongs to a packaged bench" in message


def test_a_lab_bench_heater_needs_its_address(tmp_path):
    text = sim_lab_bench_text({"b1500": "GPIB0::17::INSTR", "wgfmu": "GPIB0::17::INSTR",
                               "chip": "ASRL3::INSTR", "heater": "GPIB0::24::INSTR"},
                              {1: "BL", 2: "SL", 3: "WL", 4: "SUB"}, {501: "BL", 502: "SL"},
                              sockets=4)
    f = tmp_path / "lab.toml"
    f.write_text(text)
    cfg = load_bench_config(f)
    assert cfg.resources["heater"] == "GPIB0::24::INSTR"  # and so in the bench's ownership lock
    bad = text.replace('address = "GPIB0::24::INSTR"\n', "")
    message = _refused(tmp_path, bad)
    assert "needs the instrument's address" in message
    sch = validate_toml(BenchSchema, tomllib.loads(text), text, "lab.toml",
                        error=BenchConfigError)
    assert sch.heater.address == "GPIB0::24::INSTR"


def test_the_bench_opens_reports_and_leaves_the_heater_safe(data_root):
    import pyvisa

    bench = Bench.open("simulated-packaged-thermostream", data_dir=data_root, fresh=True)
    lab = bench.lab
    try:
        assert bench.capabilities.heater == "thermostream" and bench.heater is bench.thermostream
        status = bench.status()
        heater = [i for i in status.instruments if i.name == "heater"]
        assert heater and heater[0].ok and heater[0].identity.startswith("TEMPTRONIC")
        assert status.board.temperature_c == pytest.approx(25.0)
        assert status.board.heater == "flow off"  # nothing asked for yet: the air is still off
        with pytest.raises(LimitError):  # beyond the bench limits: nothing sent
            bench.heater.set_point(151.0)
        assert lab.thermostream.values["SETP"] == 25.0
        reached = bench.heater.set_temperature(110.0, timeout_s=3600.0)
        assert reached == pytest.approx(110.0, abs=1.0)
        board = bench.status().board
        assert board.heater == "ready" and board.temperature_c == pytest.approx(110.0, abs=1.0)
        assert lab.device_temperature_k() == pytest.approx(383.15, abs=1.0)
        resource = lab.resources()["heater"]
        # the bench's close sends the safe set point; keep the twin serving to read it back
        lab_stop, lab.stop = lab.stop, lambda: None
        bench.close()
        rm = pyvisa.ResourceManager("@py")
        inst = rm.open_resource(resource, read_termination="\n", write_termination="\n",
                                timeout=10_000)
        try:
            set_point, aux = inst.query("SETP?;AUXC?").split(";")
            assert set_point == "25.0" and int(aux) & 32  # the air still flows towards it
            lab.advance(1800.0)
            assert float(inst.query("TEMP?")) == pytest.approx(25.0, abs=0.5)
        finally:
            inst.close()
            lab.stop = lab_stop
    finally:
        bench.close()
        lab.stop()
