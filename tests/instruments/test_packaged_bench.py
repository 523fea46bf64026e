"""A bench of packaged chips: the typed Bench interface, the board multiplexer, the twin."""

import pytest

from instruments.bench import Bench, BenchConfigError, load_bench_config
from instruments.bench_types import BenchInterface, ChuckHeater
from instruments.chip.controller import ChipControllerError
from instruments.keysight.wgfmu_limits import OperationMode
from instruments.sim.lab import LabConfig, SimLab
from instruments.sim.packaged import choose_dies

LIMITS = """
[limits]
max_voltage = { BL = 4.0, SL = 3.5, WL = 3.5, SUB = 0.5 }
max_compliance = 1e-3
max_power = 0.005
max_chuck_temperature = 200.0
min_chuck_temperature = 20.0
"""


@pytest.fixture
def packaged(tmp_path):
    # its own data folder: the same seed as `sim_bench`, whose wafer state it would share
    with Bench.open("simulated-packaged", data_dir=tmp_path / "packaged", fresh=True) as bench:
        yield bench


def test_both_benches_implement_the_typed_interface(sim_bench, packaged):
    for bench in (sim_bench, packaged):
        assert isinstance(bench, BenchInterface)
        assert bench.dosimeter is None
    caps = sim_bench.capabilities
    assert caps.prober and not caps.packaged and caps.heater == "chuck" and caps.sockets == 0
    assert isinstance(sim_bench.heater, ChuckHeater)
    assert sim_bench.heater.temperature() == pytest.approx(25.0, abs=1.0)
    caps = packaged.capabilities
    assert caps.packaged and caps.sockets == 8 and caps.heater == "none"
    assert packaged.prober is None and packaged.heater is None


def test_packaged_bench_has_no_prober_anywhere(packaged):
    assert set(packaged.config.resources) == {"b1500", "wgfmu", "chip"}  # no prober served
    st = packaged.status()
    assert [i.name for i in st.instruments] == ["b1500", "wgfmu", "chip"]
    assert all(i.ok for i in st.instruments) and st.chuck is None
    assert packaged.safe_state() == []


def test_the_board_holds_the_first_good_dies_and_says_which(packaged):
    lab = packaged.lab
    good = [d for d in lab.config.layout.dies if lab.wafer.die_kind(*d) == "good"]
    assert lab.board.dies == good[:8]
    assert packaged.chip.board_count() == 8
    assert [packaged.chip_die(n) for n in range(8)] == good[:8]  # BOARD:ID? read back


def test_selecting_a_chip_routes_the_instruments_to_its_die(packaged):
    lab = packaged.lab
    assert packaged.select_chip(5) == lab.board.dies[5]
    assert packaged.chip.board_socket == 5 and lab.board.selected == 5
    # a bias reaches the chip in socket 5 and no other
    lab.bias_selected(4.0, 0.0, 1.5, 1e-3, i_comp_bl=100e-6)  # form cell (0,0)
    g = {n: lab.wafer.chip(*d).conductance("1T1R")[0, 0] for n, d in enumerate(lab.board.dies)}
    assert g[5] > 10e-6
    assert all(v < 0.1e-6 for n, v in g.items() if n != 5)


def test_switching_with_an_smu_output_on_is_refused(packaged):
    lab = packaged.lab
    packaged.select_chip(1)
    b = packaged.b1500
    b.enable(1, 2, 3)
    b.force_voltage(1, 0.2, 1e-4)
    switches = list(lab.board.switches)
    with pytest.raises(ChipControllerError, match="202.*Outputs on.*BL"):
        packaged.chip.board_socket = 2
    assert packaged.chip.board_socket == 1 and lab.board.switches == switches
    assert lab.dc_bias["BL"] == pytest.approx(0.2)  # nothing else changed either
    # the bench's select_chip turns every output off first, then switches
    assert packaged.select_chip(2) == lab.board.dies[2]
    assert packaged.chip.board_socket == 2
    assert all(v == 0.0 for v in lab.dc_bias.values())


def test_switching_with_a_wgfmu_channel_on_the_probe_is_refused(packaged):
    wg = packaged.wgfmu
    wg.set_operation_mode(501, int(OperationMode.PG))
    wg.update()
    assert packaged.lab.rsu_modes[501] == OperationMode.PG
    with pytest.raises(ChipControllerError, match="202.*WGFMU 501"):
        packaged.chip.board_socket = 3
    assert packaged.chip.board_socket == 0
    packaged.select_chip(3)  # safe_state of the WGFMU puts the RSUs back to SMU mode
    assert packaged.chip.board_socket == 3


def test_bad_sockets_are_refused_with_one_line(packaged):
    with pytest.raises(ValueError, match="chip = 8 does not exist.*0..7"):
        packaged.select_chip(8)
    with pytest.raises(ChipControllerError, match="-222"):
        packaged.chip.board_socket = 9  # the controller checks too
    with pytest.raises(ValueError, match="integer"):
        packaged.chip.board_socket = 1.5
    assert packaged.chip.board_socket == 0


def test_a_wafer_bench_has_no_board(sim_bench):
    assert sim_bench.chip.board_count() == 0
    with pytest.raises(ChipControllerError, match="203"):
        sim_bench.chip.board_socket = 1
    with pytest.raises(ValueError, match="has a prober"):
        sim_bench.select_chip(0)


def test_the_bench_file_dies_are_mounted_and_recorded(tmp_path, data_root):
    path = tmp_path / "board.toml"
    path.write_text('kind = "simulated"\n[board]\nsockets = 2\ndies = [[9, 9], [3, 4]]\n'
                    + LIMITS)
    cfg = load_bench_config(path)
    assert cfg.packaged and cfg.board_dies == [(9, 9), (3, 4)]
    with Bench.open(cfg, data_dir=data_root, fresh=True) as bench:
        assert bench.lab.board.dies == [(9, 9), (3, 4)]
        assert bench.select_chip(1) == (3, 4)


def test_packaged_lab_bench_files(tmp_path):
    path = tmp_path / "lab.toml"
    inst = ('kind = "lab"\n[instruments]\nb1500 = "GPIB0::17::INSTR"\nwgfmu = "GPIB0::17::INSTR"\n'
            'chip = "ASRL3::INSTR"\n')
    path.write_text(inst + 'prober = "none"\n[board]\nsockets = 4\n' + LIMITS)
    cfg = load_bench_config(path)
    assert cfg.packaged and cfg.board_sockets == 4 and "prober" not in cfg.resources
    path.write_text(inst + LIMITS)  # neither a prober nor a board
    with pytest.raises(BenchConfigError, match=r"lacks prober \(no prober: give a \[board\]"):
        load_bench_config(path)
    path.write_text(inst + 'prober = "none"\n' + LIMITS)  # "none" needs a board
    with pytest.raises(BenchConfigError, match=r"lacks prober \(no prober"):
        load_bench_config(path)
    path.write_text(inst + 'prober = "TCPIP::p::1412::SOCKET"\n[board]\nsockets = 4\n' + LIMITS)
    with pytest.raises(BenchConfigError, match="exclude each other"):
        load_bench_config(path)
    path.write_text(inst + '[board]\nsockets = 1\ndies = [[1, 1], [2, 2]]\n' + LIMITS)
    with pytest.raises(BenchConfigError, match="2 dies for 1 sockets"):
        load_bench_config(path)
    path.write_text(inst + '[board]\nsockets = 0\n' + LIMITS)
    with pytest.raises(BenchConfigError, match="sockets"):
        load_bench_config(path)


def test_choose_dies_never_mounts_a_bad_die():
    dies = [(0, 0), (1, 0), (2, 0), (3, 0)]
    kinds = {(0, 0): "dead", (1, 0): "good", (2, 0): "short", (3, 0): "good"}
    assert choose_dies(dies, lambda c, r: kinds[(c, r)], 2) == [(1, 0), (3, 0)]
    with pytest.raises(ValueError, match="only 2 good dies for 3"):
        choose_dies(dies, lambda c, r: kinds[(c, r)], 3)
    with pytest.raises(ValueError, match="not on the wafer map"):
        choose_dies(dies, lambda c, r: kinds[(c, r)], 1, given=[(7, 7)])


def test_a_packaged_lab_serves_no_prober():
    with SimLab(LabConfig(seed=3, sockets=2)) as lab:
        assert "prober" not in lab.resources() and "chip" in lab.resources()
        assert lab.contacted_chip() is not None  # bonded: always connected


def test_the_packaged_lab_example_bench_file():
    cfg = load_bench_config("lab-packaged-example")
    assert cfg.packaged and not cfg.simulated and cfg.board_sockets == 4
    assert set(cfg.resources) == {"b1500", "wgfmu", "chip"}
    assert cfg.board_dies == [(7, 1), (8, 1), (9, 1), (10, 1)]
