"""The wafer-run panel of the main window, on the simulated bench (pytest-qt)."""

from __future__ import annotations

import pytest

from tests._gui import pause_then_resume, start_in_window


@pytest.fixture
def window(main_window):
    return main_window


def test_recipe_route_bins_yield_and_pause_resume(qtbot, window, sim_bench):
    panel = window.wafer_panel
    assert panel.load("demo-wafer")
    assert len(window.wafer_map.route) == 12 and panel.start_button.isEnabled()
    finished_dies = []
    panel.signals.dieFinished.connect(lambda r: finished_dies.append(r.die))
    # three dies: a good one, the shorted (6,2) and the dead (7,2) one
    assert panel.start(dies=[(9, 9), (6, 2), (7, 2)])
    assert window.busy and not panel.start_button.isEnabled()
    # manual stepping and procedure runs are refused while the wafer run owns the bench
    assert not window.step_to_die(3, 8)
    assert not window.procedure_panel.queue_current()
    assert "wafer run owns the bench" in window.procedure_panel.error_label.text()
    assert not window.controller.busy and not window.controller.queue
    outcome = pause_then_resume(qtbot, panel, sim_bench, lambda: len(finished_dies) >= 1)
    bins = window.wafer_map.bins()
    assert set(bins) == {(9, 9), (6, 2), (7, 2)}
    table = panel.recipe.bin_table()
    assert table[bins[(6, 2)]].special == "short"
    assert table[bins[(7, 2)]].special == "no-contact"
    assert "tested 3" in panel.yield_label.text()
    assert (outcome.out_dir / "wafer_summary.csv").exists()
    # each step starts its own plots: the I-V plot shows the last die's cycling (cycles 0-9),
    # not its forming curves (one per cell, 12 cells)
    window.router.flush()
    assert window.iv_plot.cycles and max(window.iv_plot.cycles) <= 9
    assert (outcome.out_dir / "bins.xml").exists()
    assert not window.busy


def test_bad_recipe_is_refused_with_the_key(qtbot, window, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text((__import__("procedures.wafer.recipe", fromlist=["RECIPE_DIR"]).RECIPE_DIR
                    / "demo-wafer.toml").read_text().replace('procedure = "forming"',
                                                             'procedure = "teleport"'))
    assert not window.wafer_panel.load(bad)
    text = window.wafer_panel.status_label.text()
    assert "teleport" in text and "procedure" in text
    assert window.wafer_panel.recipe is None


def test_recipe_subsites_are_drawn_on_the_current_die(qtbot, window, tmp_path):
    from procedures.wafer.recipe import RECIPE_DIR

    text = (RECIPE_DIR / "demo-wafer.toml").read_text()
    text = text.replace("[contact]", "[[subsites]]\nlabel = \"A\"\ndx_um = 0\ndy_um = 0\n\n"
                        "[[subsites]]\nlabel = \"B\"\ndx_um = 2000\ndy_um = -1500\n\n"
                        "[contact]", 1)
    recipe = tmp_path / "subsites.toml"
    recipe.write_text(text)
    assert window.wafer_panel.load(recipe), window.wafer_panel.status_label.text()
    assert window.wafer_map._subsites == [("A", 0.0, 0.0), ("B", 2000.0, -1500.0)]


def test_wafer_run_refused_while_a_procedure_runs(qtbot, window):
    start_in_window(qtbot, window, "conductance-map", die="9,9", cells="all")
    assert window.wafer_panel.load("demo-wafer")
    assert not window.wafer_panel.start()
    assert "procedure run owns the bench" in window.wafer_panel.status_label.text()
    assert window.wafer_panel.run is None
    window.controller.abort()
    qtbot.waitUntil(lambda: not window.controller.busy, timeout=20_000)


def test_abort_while_the_start_waits_for_the_worker_starts_nothing(qtbot, window, sim_bench):
    import threading

    entered, gate = threading.Event(), threading.Event()

    def hold() -> None:  # a GUI job still talking to the bench when Start is clicked
        entered.set()
        gate.wait(30)

    assert window.io.submit(hold, name="hold")
    assert entered.wait(10)
    panel = window.wafer_panel
    assert panel.load("demo-wafer")
    assert panel.start(dies=[(9, 9)])
    assert window.busy  # launched, waiting for the worker
    panel.abort()
    assert not window.busy and "aborted before start" in panel.status_label.text()
    with qtbot.waitSignal(window.io.idle, timeout=20_000):
        gate.set()
    # the worker's idle did not start the aborted run: no die visited, nothing in the catalog
    assert panel.run is None and not window.busy
    assert window.catalog.runs() == []
    assert not sim_bench.lab.prober.in_contact
    assert panel.start_button.isEnabled()


def test_closing_while_the_start_waits_for_the_worker(qtbot, window, sim_bench):
    import threading

    gate = threading.Event()
    assert window.io.submit(lambda: gate.wait(30), name="hold")
    panel = window.wafer_panel
    assert panel.load("demo-wafer")
    assert panel.start(dies=[(9, 9)])
    gate.set()
    assert window.io.wait_drained(30)  # the worker is done; its idle is not delivered yet
    assert panel.busy
    window.close()  # aborts the run that never started, closes the bench cleanly
    assert panel.run is None and not window.busy
    assert window.catalog.runs() == []
