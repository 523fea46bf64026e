"""The simulated bench as a whole: connect, status, limits, safe state."""

import pytest

from instruments.bench import Bench
from instruments.limits import LimitError


def test_status_lists_every_instrument_and_the_chuck(sim_bench):
    st = sim_bench.status()
    assert [i.name for i in st.instruments] == ["b1500", "wgfmu", "prober", "chip"]
    assert all(i.ok for i in st.instruments), st.instruments
    idents = {i.name: i.identity for i in st.instruments}
    assert "B1500A" in idents["b1500"] and "Velox" in idents["prober"]
    assert "B1530A" in idents["wgfmu"]
    assert st.chuck is not None and st.chuck.height == "separation"
    assert st.chuck.die in sim_bench.lab.config.layout.die_set


def test_limits_refuse_before_anything_is_applied(sim_bench):
    b = sim_bench.b1500
    b.enable(1, 2, 3)
    with pytest.raises(LimitError, match="BL"):
        b.force_voltage(1, 4.6, 1e-4)  # simulated bench: BL limit 4.5 V
    with pytest.raises(LimitError, match="compliance"):
        b.force_voltage(1, 1.0, 5e-3)  # compliance limit 1 mA
    b.check_errors()  # nothing reached the instrument, no error queued
    assert sim_bench.lab.dc_bias["BL"] == 0.0


def test_safe_state_turns_everything_off_and_separates(sim_bench):
    sim_bench.prober.contact()
    assert sim_bench.lab.prober.in_contact
    b = sim_bench.b1500
    b.enable(1, 2, 3)
    b.force_voltage(3, 2.0, 1e-4)
    b.force_voltage(1, 0.5, 1e-4)
    assert sim_bench.lab.dc_bias["BL"] == 0.5
    assert sim_bench.safe_state() == []
    assert all(v == 0.0 for v in sim_bench.lab.dc_bias.values())
    assert not sim_bench.lab.prober.in_contact


def test_closing_saves_the_wafer_and_reopening_resumes_it(data_root):
    with Bench.open("simulated", data_dir=data_root, fresh=True) as bench:
        bench.prober.contact()
        die = bench.lab.prober.die_under_chuck()
        bench.lab.bias_selected(4.0, 0.0, 1.5, 1e-3, i_comp_bl=100e-6)  # form cell (0,0)
        g = bench.lab.wafer.chip(*die).conductance("1T1R")[0, 0]
    assert g > 10e-6
    with Bench.open("simulated", data_dir=data_root) as bench:
        assert bench.lab.wafer.chip(*die).conductance("1T1R")[0, 0] == pytest.approx(g)
    with Bench.open("simulated", data_dir=data_root, fresh=True) as bench:
        assert bench.lab.wafer.chip(*die).conductance("1T1R")[0, 0] < 0.1e-6
