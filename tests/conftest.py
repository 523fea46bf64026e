"""Shared fixtures: a simulated bench per test, headless Qt."""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Qt settings (window layout, last parameters) of the tests never touch the user's own
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="memprobe-test-config-")
# bench ownership locks of the tests (and their subprocesses) never meet the user's own
os.environ["MEMPROBE_LOCK_DIR"] = tempfile.mkdtemp(prefix="memprobe-test-locks-")

import pytest  # noqa: E402


@pytest.fixture
def data_root(tmp_path):
    """A fresh data root for one test."""
    root = tmp_path / "data"
    root.mkdir()
    return root


@pytest.fixture
def sim_bench(data_root):
    """The simulated bench, on a fresh wafer (seed 1), closed (made safe) after the test."""
    from instruments.bench import Bench

    bench = Bench.open("simulated", data_dir=data_root, fresh=True)
    try:
        yield bench
    finally:
        bench.close()


@pytest.fixture(scope="module")
def module_bench(tmp_path_factory):
    """One simulated bench (fresh wafer) shared by a test module, with its data root."""
    from instruments.bench import Bench

    root = tmp_path_factory.mktemp("module-data")
    bench = Bench.open("simulated", data_dir=root, fresh=True)
    try:
        yield bench, root
    finally:
        bench.close()


@pytest.fixture(scope="session")
def pg_server():
    """A PostgreSQL server started for this test session (tests/pg_server.py says how, also as
    root); the tests using it are skipped, with the reason, only if no server binaries exist."""
    from tests import pg_server as pg

    bindir, origin = pg.find_bin()
    if bindir is None:
        pytest.skip(f"no PostgreSQL server binaries: {origin}")
    server = pg.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_url(request, tmp_path):
    """Where a catalog test's catalog lives: a data root (SQLite) or a new PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "catalog-root")
    return request.getfixturevalue("pg_server").new_database()


@pytest.fixture
def main_window(qtbot, sim_bench, data_root):
    """The main window on the simulated bench, default parameters, shown; closed after the test
    once its runs have ended (which also ends the bench I/O worker before the bench closes)."""
    from tests._gui import open_main_window

    with open_main_window(qtbot, sim_bench, data_root) as w:
        yield w

