"""The command line on a packaged bench: --chip K, wafer commands refused, a packaged sim-lab."""

from __future__ import annotations

import signal

from gui.cli import main
from instruments.bench import Bench
from procedures.framework.catalog import Catalog
from tests._sim_lab import end_process, start_sim_lab


def test_run_on_a_chip_of_the_packaged_bench(capsys, data_root):
    args = ["--bench", "simulated-packaged", "--data", str(data_root), "--quiet"]
    assert main(["run", "forming", "--chip", "3", "--cell", "0,0-1", "--fresh", *args]) == 0
    path = capsys.readouterr().out.strip().splitlines()[-1]
    catalog = Catalog(data_root)
    (entry,) = catalog.runs()
    catalog.close()
    assert entry.parameters["chip"] == 3 and entry.file == path and entry.status == "finished"
    with Bench.open("simulated-packaged", data_dir=data_root) as bench:  # the state was saved
        assert entry.die == bench.lab.board.dies[3]
        g = bench.lab.wafer.chip(*entry.die).conductance("1T1R")[0, :2]
        assert (g > 10e-6).all()


def test_wafer_targets_and_commands_are_refused_with_one_line(capsys, data_root):
    args = ["--bench", "simulated-packaged", "--data", str(data_root), "--quiet"]
    assert main(["run", "forming", "--die", "9,9", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no prober" in err and "chip = 0..7" in err
    assert main(["run", "forming", "--chip", "9", *args]) == 2
    assert "chip = 9 does not exist" in capsys.readouterr().err
    assert main(["wafer", "resources/recipes/demo-wafer.toml", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "has no prober" in err and "--chip K" in err
    # and a chip on a wafer bench
    assert main(["run", "forming", "--chip", "1", "--data", str(data_root), "--quiet"]) == 2
    assert "this bench has a prober" in capsys.readouterr().err


def test_a_packaged_sim_lab_serves_a_board_and_writes_its_bench_file(tmp_path):
    bench_file = tmp_path / "lab.toml"
    lab = start_sim_lab(tmp_path / "d", 3, "--packaged", "4", bench_file=bench_file)
    try:
        res = lab.resources
        assert "prober" not in res and "chip" in res
        with Bench.open(bench_file) as bench:  # a lab bench, packaged: no prober
            assert bench.prober is None and bench.capabilities.sockets == 4
            assert bench.chip.board_count() == 4
            assert bench.select_chip(2) is not None and bench.chip.board_socket == 2
    finally:
        assert end_process(lab.proc, signal.SIGINT) == 128 + signal.SIGINT
