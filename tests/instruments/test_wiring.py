"""The default wiring is one fact (instruments.wiring): a bench file without ``[wiring]``, the
drivers and the twin's servers all use it, and nobody can change it by accident."""

from __future__ import annotations

import pytest

from instruments.bench import Bench
from instruments.bench_config import bench_path, load_bench_config
from instruments.limits import LimitError
from instruments.wiring import SMU_WIRING, WGFMU_WIRING, smu_wiring


def _without_wiring() -> str:
    """The shipped simulated bench file with its ``[wiring]`` table taken out."""
    text = bench_path("simulated").read_text(encoding="utf-8")
    head, _, rest = text.partition("\n[wiring]\n")
    assert rest, "the simulated bench file names its wiring"
    return head + "\n" + rest[rest.index("\n["):]


def test_a_bench_without_wiring_drives_the_default_terminals(tmp_path) -> None:
    path = tmp_path / "no-wiring.toml"
    path.write_text(_without_wiring(), encoding="utf-8")
    cfg = load_bench_config(path)
    assert "[wiring]" not in path.read_text(encoding="utf-8")
    assert cfg.smu_terminals == dict(SMU_WIRING)
    assert cfg.wgfmu_terminals == dict(WGFMU_WIRING)
    data = tmp_path / "data"
    data.mkdir()
    bench = Bench.open(path, data_dir=data, fresh=True)
    try:
        # the driver, the twin's lab and its B1500 server agree on who drives what
        assert bench.b1500.channel_map == dict(SMU_WIRING)
        assert bench.wgfmu.channel_terminals == dict(WGFMU_WIRING)
        assert bench.lab.config.smu_wiring == dict(SMU_WIRING)
        assert bench.lab.config.wgfmu_wiring == dict(WGFMU_WIRING)
        # and the driver picks each terminal's limit by that wiring: SMU 4 is SUB (1 V)
        bench.b1500.check_voltage_request(1, 2.0, 1e-4)
        with pytest.raises(LimitError, match="SUB"):
            bench.b1500.check_voltage_request(4, 2.0, 1e-4)
    finally:
        bench.close()


def test_the_default_cannot_be_changed_through_a_copy() -> None:
    mine = smu_wiring()
    mine[1] = "SL"
    assert SMU_WIRING[1] == "BL"
    with pytest.raises(TypeError):
        SMU_WIRING[1] = "SL"  # type: ignore[index]
