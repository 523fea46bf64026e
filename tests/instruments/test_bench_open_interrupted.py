"""A stop signal that lands while a bench is being opened (before a command has registered its
stop action, so it arrives as a KeyboardInterrupt) still leaves nothing behind: the instruments
the bench had reached are made safe and closed, the in-process lab is stopped and saved, and every
ownership (bench locks, the simulated wafer's state) is given back."""

from __future__ import annotations

import pytest

from instruments.bench import Bench
from instruments.keysight.b1500 import B1500
from instruments.ownership import BenchLock
from instruments.sim.lab import LabConfig, SimLab
from instruments.sim.remote_bench import write_sim_lab_bench


def _interrupt(*_args, **_kwargs):
    raise KeyboardInterrupt("SIGTERM")  # what ShutdownSignals raises with no stop action


def test_an_interrupted_open_of_the_simulated_bench_gives_its_wafer_back(data_root, monkeypatch):
    monkeypatch.setattr(B1500, "initialize", _interrupt)
    with pytest.raises(KeyboardInterrupt):
        Bench.open("simulated", data_dir=data_root, fresh=True)
    monkeypatch.undo()
    # the lab was stopped and its wafer state released: the next owner is not refused
    with Bench.open("simulated", data_dir=data_root) as bench:
        assert bench.prober.chuck_status() is not None


def test_an_interrupted_open_of_a_lab_bench_releases_its_locks(tmp_path, monkeypatch):
    with SimLab(LabConfig(seed=5)) as lab:
        bench_file = write_sim_lab_bench(tmp_path / "lab.toml", lab)
        lab.prober.move_contact()  # as a process killed with SIGKILL left it
        monkeypatch.setattr(B1500, "initialize", _interrupt)
        with pytest.raises(KeyboardInterrupt):
            Bench.open(bench_file)
        monkeypatch.undo()
        # the instruments it had reached were made safe, and nothing keeps them owned
        assert lab.prober.separated and not lab.prober.in_contact
        with BenchLock(lab.resources().values()) as lock:
            assert lock.took_over == []


def test_a_gui_stopped_before_its_window_exists_closes_its_bench(data_root, qapp, monkeypatch):
    import gui.app

    monkeypatch.setattr(gui.app, "MainWindow", _interrupt)
    with pytest.raises(KeyboardInterrupt):
        gui.app.run_app(bench="simulated", data_dir=data_root, fresh=True)
    monkeypatch.undo()
    with Bench.open("simulated", data_dir=data_root) as bench:  # its wafer was given back
        assert bench.prober.chuck_status() is not None
