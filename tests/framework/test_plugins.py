"""Procedure plugins (entry-point group ``memprobe.procedures``): the example plugin installed
for real into the test venv, listed by the CLI, run headless, shown by the GUI, used by recipes;
broken plugins are skipped without breaking anything."""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from procedures.framework import registry
from tests._paths import REPO

EXAMPLE = REPO / "docs" / "examples" / "memprobe-plugin-example"
NAME = "example-read-row"


def _pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", *args, "--quiet", "--disable-pip-version-check"],
                   check=True)


@pytest.fixture(scope="module")
def installed_plugin(tmp_path_factory):
    """The example plugin pip-installed (offline, from a copy) into this venv for the module."""
    src = tmp_path_factory.mktemp("plugin") / "memprobe-plugin-example"
    shutil.copytree(EXAMPLE, src)  # the build writes into its folder: keep docs/ clean
    _pip("install", "--no-deps", "--no-build-isolation", "--no-index", str(src))
    importlib.invalidate_caches()
    try:
        registry.refresh_plugins()
        yield
    finally:
        _pip("uninstall", "-y", "memprobe-example-plugin")
        importlib.invalidate_caches()
        sys.modules.pop("memprobe_example_plugin", None)
        registry.refresh_plugins()


def _memprobe(*args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("memprobe")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=300)


def test_cli_lists_and_runs_the_installed_plugin(installed_plugin, tmp_path):
    assert registry.PLUGINS == {NAME: "memprobe-example-plugin"}
    assert NAME in registry.PROCEDURES and not registry.PLUGIN_ERRORS
    listed = _memprobe("run", "--list")  # a fresh process discovers it by its entry point
    assert listed.returncode == 0, listed.stderr
    assert any(line.split()[0] == NAME for line in listed.stdout.splitlines())
    assert "forming" in listed.stdout  # built-ins still there
    data = tmp_path / "data"
    run = _memprobe("run", NAME, "--die", "9,9", "--data", str(data), "--fresh", "--quiet",
                    "--set", "row=3")
    assert run.returncode == 0, run.stderr
    runs = _memprobe("runs", "--data", str(data), "--json")
    entry = json.loads(runs.stdout)[-1]
    assert entry["procedure"] == NAME and entry["status"] == "finished"
    assert entry["die"] == [9, 9] and entry["parameters"]["row"] == 3
    assert entry["summary"]["cells_read"] == 32


def test_gui_procedure_list_and_form_show_the_plugin(installed_plugin, qtbot, sim_bench,
                                                     data_root):
    from gui.main_window import MainWindow

    w = MainWindow(sim_bench, data_root, restore_layout=False)
    qtbot.addWidget(w)
    panel = w.procedure_panel
    names = [panel.combo.itemText(i) for i in range(panel.combo.count())]
    assert NAME in names and "forming" in names
    panel.set_procedure(NAME)
    assert {"row", "v_read", "v_wl"} <= set(panel.editors)


def test_recipes_accept_the_plugin(installed_plugin):
    from procedures.wafer.recipe import RECIPE_DIR, parse_recipe

    base = (RECIPE_DIR / "demo-wafer.toml").read_text()
    extra = f'\n[[steps]]\nname = "plugin-row"\nprocedure = "{NAME}"\ncells = "0,0"\n' \
            'params = { row = 2 }\n'
    recipe = parse_recipe(base + extra)
    assert recipe.steps[-1].procedure == NAME


def test_broken_plugins_are_skipped_with_a_reason(tmp_path, monkeypatch):
    dist = tmp_path / "broken_plugins-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugins\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[memprobe.procedures]\n"
        "missing-module = no_such_module_xyz:Proc\n"
        "forming = procedures.experiments.forming:FormingProcedure\n"
        "not-a-procedure = procedures.framework.registry:refresh_plugins\n"
        "wrong-name = procedures.experiments.forming:FormingProcedure\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    try:
        found = registry.refresh_plugins()
        assert not {"missing-module", "not-a-procedure", "wrong-name"} & set(found)
        errors = registry.PLUGIN_ERRORS
        assert "could not be loaded" in errors["missing-module"]
        assert "built-in" in errors["forming"]
        assert "not a BenchProcedure" in errors["not-a-procedure"]
        assert "NAME is 'forming'" in errors["wrong-name"]
        assert registry.PROCEDURES == {**registry.BUILTIN, **found}
        assert registry.PROCEDURES["forming"] is registry.BUILTIN["forming"]
    finally:
        monkeypatch.undo()
        importlib.invalidate_caches()
        registry.refresh_plugins()
    assert registry.PLUGIN_ERRORS == {}
