"""Wafer runs on the simulated bench, headless: bins, outputs, pause/resume, abort, faults,
preflight, progressive contact, subsites and temperature steps."""

import threading
import time
import xml.etree.ElementTree as ET

import pandas as pd
import pytest
from pyvisa import constants
from pyvisa.errors import VisaIOError

from procedures.framework.catalog import Catalog
from procedures.framework.runner import RunCallbacks
from procedures.wafer import WaferCallbacks, WaferRun
from procedures.wafer.g85 import read_g85
from procedures.wafer.maps import MapGeometry, read_png
from procedures.wafer.palette import hex_rgb
from procedures.wafer.recipe import parse_recipe
from tests.wafer._wafer import aborted_in_second_die, bench_safe, counted, small_recipe

CYCLE = """
[[steps]]
name = "cycle"
procedure = "iv-cycling"
cells = "1,0-1"
params = { cycles = 3, steps = 10, form_first = true }
cycle_limits = { on_off = [5, inf] }

[[steps]]
name = "map"
procedure = "conductance-map"
cells = "0,0-15"
"""


def test_small_run_bins_outputs_maps_and_prober_bins(sim_bench, data_root):
    recipe = small_recipe("[[9, 9], [7, 2], [6, 2], [1, 9]]", extra=CYCLE)
    catalog = Catalog(data_root)
    finished = []
    run = WaferRun.create(recipe, sim_bench, data_root, catalog,
                          callbacks=WaferCallbacks(on_die_finished=finished.append))
    outcome = run.run()
    assert outcome.state == "completed", outcome.error
    assert outcome.dies_done == outcome.dies_total == 4
    bins = {d: run.die_record(d).bin for d in run.route}
    assert bins == {(9, 9): 1, (7, 2): 80, (6, 2): 81, (1, 9): 1}  # (7,2) dead, (6,2) short
    assert [r.die for r in finished] == run.route and finished[1].bin_name == "no contact"
    # the prober holds the same bins; its yield counts them
    assert {d: sim_bench.lab.prober.bins[d] for d in run.route} == bins
    # contact check: unformed-cell leakage (nA) vs noise floor vs short
    state = {d: run.die_record(d).contact[-1] for d in run.route}
    assert state[(7, 2)].state == "open" and state[(7, 2)].current_a < 1e-10
    assert state[(6, 2)].state == "short" and state[(6, 2)].g_max_siemens > 1e-4
    assert 3e-10 < state[(9, 9)].current_a < 1e-7
    # positions read back from the prober are recorded
    pos = run.die_record((1, 9)).positions[0]
    assert (pos["col"], pos["row"]) == (1, 9)
    # summary table: one row per die, split values kept, percentiles and cycling failure cycle
    out = outcome.out_dir
    df = pd.read_csv(out / "wafer_summary.csv")
    assert len(df) == 4 and not df.duplicated(["col", "row"]).any()
    for col in ("bin", "pass", "form.v_form", "form.v_form_p5", "form.v_form_p95",
                "form[compliance=5e-05].v_form", "form[compliance=0.0001].v_form",
                "cycle.on_off", "cycle.first_fail_cycle_n", "cycle.devices_survived", "map.g"):
        assert col in df.columns, col
    good = df.set_index(["col", "row"]).loc[[(9, 9), (1, 9)]]
    assert (good["form.cells_formed"] == 4).all()
    assert (good["cycle.devices_failed"] + good["cycle.devices_survived"] == 2).all()
    runs = pd.read_csv(out / "wafer_runs.csv")
    assert set(runs["split_value"].dropna()) == {5e-5, 1e-4}
    # SEMI G85 bin map parses, with the same bins and a definition per code
    root = ET.parse(out / "bins.xml").getroot()
    device = root.find("Map/Device")
    assert device is not None and device.get("Rows") == "20" and device.get("NullBin") == "255"
    g85 = read_g85(out / "bins.xml")
    assert g85["bins"] == bins
    assert g85["definitions"][1]["BinQuality"] == "Pass"
    assert g85["definitions"][80]["BinQuality"] == "Fail"
    # yield and catalog
    y = outcome.yield_counts
    assert (y["total"], y["tested"], y["passed"], y["failed"]) == (4, 4, 2, 2)
    entries = catalog.runs(wafer="W1")
    assert entries and all(e.status == "finished" for e in entries)
    assert all(e.summary["wafer_bin"] == bins[e.die] for e in entries)
    # wafer maps: the short die is painted in its bin colour on the value map
    img, text = read_png(out / "maps" / "form.v_form.png")
    assert text["Title"] == "form.v_form"
    wmap = recipe.wafer_map()
    y0, x0 = MapGeometry().die_center_px(wmap, (6, 2))
    assert tuple(img[y0, x0]) == hex_rgb(recipe.special_bin("short").color)
    assert (out / "maps" / "bins.png").is_file()
    assert bench_safe(sim_bench)


def test_wafer_map_shows_the_process_gradient(sim_bench, data_root):
    """V_form is higher at the edge of the simulated wafer: in the summary and on the PNG."""
    centre = [(9, 9), (10, 9), (9, 10), (10, 10)]
    edge = [(1, 9), (18, 10), (9, 1), (10, 18)]
    dies = "[" + ", ".join(f"[{c}, {r}]" for c, r in centre + edge) + "]"
    recipe = small_recipe(dies, replace={
        'cells = "0,0-3"': 'cells = "0,0-9"', "v_step = 0.1": "v_step = 0.05",
        'split = { param = "compliance", values = [5e-5, 1e-4] }': "",
    })
    recipe.maps = ["form.v_form"]
    run = WaferRun.create(recipe, sim_bench, data_root, Catalog(data_root))
    outcome = run.run()
    assert outcome.state == "completed", outcome.error
    df = pd.read_csv(outcome.out_dir / "wafer_summary.csv").set_index(["col", "row"])
    v_centre = df.loc[centre, "form.v_form"].to_numpy()
    v_edge = df.loc[edge, "form.v_form"].to_numpy()
    assert (df.loc[centre + edge, "form.v_form_n"] == 10).all()
    assert v_edge.mean() - v_centre.mean() > 0.08  # radial shift ~0.2 V at r ~ 0.85
    # on the map, brighter (higher on the viridis-like scale) at the edge
    img, text = read_png(outcome.out_dir / "maps" / "form.v_form.png")
    wmap = recipe.wafer_map()
    g = MapGeometry()

    def brightness(die):
        y, x = g.die_center_px(wmap, die)
        return float(img[y, x].astype(float).sum())

    assert sum(map(brightness, edge)) > sum(map(brightness, centre))
    assert float(text["vmin"]) < float(text["vmax"])


def test_pause_then_resume_separates_and_continues(sim_bench, data_root):
    recipe = small_recipe("[[9, 9], [10, 9], [11, 9]]")
    catalog = Catalog(data_root)
    run = WaferRun.create(recipe, sim_bench, data_root, catalog)
    run.draw_maps = False
    run.callbacks.on_die_finished = lambda r: run.pause() if r.die == (9, 9) else None
    resumed = threading.Event()
    started: list[tuple[tuple[int, int], bool]] = []  # (die, resume() called before it)
    run.callbacks.on_die_started = lambda die, i, n: started.append((die, resumed.is_set()))
    run.start()
    deadline = time.monotonic() + 30
    while run.state != "paused" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert run.state == "paused"
    assert run.dies_done() == 1 and bench_safe(sim_bench)  # outputs off, separated
    resumed.set()
    run.resume()
    outcome = run.wait(60)
    assert outcome is not None and outcome.state == "completed"
    events = [e["event"] for e in run.cursor.events]
    assert events.index("paused") < events.index("resumed")
    resumed = next(e for e in run.cursor.events if e["event"] == "resumed")
    assert (resumed["position"]["col"], resumed["position"]["row"]) == (9, 9)  # re-read
    assert all(len(counted(run, d)) == 2 for d in run.route)
    # nothing was started while paused: every die after the first began after resume()
    assert [d for d, _ in started] == [(9, 9), (10, 9), (11, 9)]
    assert [after for _, after in started] == [False, True, True]


def test_abort_mid_step_then_reopen_redoes_only_that_step(sim_bench, data_root):
    recipe = small_recipe("[[9, 9], [10, 9]]")
    catalog = Catalog(data_root)
    run, outcome = aborted_in_second_die(recipe, sim_bench, data_root, catalog)
    assert outcome.state == "aborted" and outcome.dies_done == 1
    assert bench_safe(sim_bench)
    stopped = [e for e in run.die_record((10, 9)).runs if not e.counted]
    assert len(stopped) == 1 and stopped[0].status == "aborted"
    again = WaferRun.reopen(recipe, sim_bench, data_root, catalog, outcome.out_dir)
    again.draw_maps = False
    assert again.run().state == "completed"
    for die in again.route:
        units = [e.unit for e in counted(again, die)]
        assert sorted(units) == ["0/0/0", "0/0/1"]  # each step exactly once
    # the first die was not measured again: 2 runs in the catalog, the second die 3
    assert len(catalog.runs(die=(9, 9))) == 2
    statuses = sorted(e.status for e in catalog.runs(die=(10, 9)))
    assert statuses == ["aborted", "finished", "finished"]


def _flaky(bench, armed):
    """Make the B1500's spot measurement time out once, after ``armed`` is set."""
    original = bench.b1500.high_speed_spot_current
    fired = threading.Event()

    def flaky(*args, **kwargs):
        if armed.is_set() and not fired.is_set():
            fired.set()
            raise VisaIOError(constants.StatusCode.error_timeout)
        return original(*args, **kwargs)

    bench.b1500.high_speed_spot_current = flaky
    return fired


@pytest.mark.parametrize("on_fault", ["retry", "next-die"])
def test_instrument_timeout_mid_die_is_made_safe_and_retried_or_binned(sim_bench, data_root,
                                                                       on_fault):
    recipe = small_recipe("[[9, 9], [10, 9]]", on_fault=on_fault)
    catalog = Catalog(data_root)
    armed = threading.Event()
    fired = _flaky(sim_bench, armed)
    run = WaferRun.create(recipe, sim_bench, data_root, catalog)
    run.draw_maps = False
    # armed as the first step starts: its first read times out before any cell is formed
    run.callbacks.run = RunCallbacks(on_start=lambda proc: armed.set())
    outcome = run.run()
    assert fired.is_set() and outcome.state == "completed"
    rec = run.die_record((9, 9))
    assert len(rec.faults) == 1
    assert "VI_ERROR_TMO" in rec.faults[0]["error"], rec.faults[0]["error"]
    failed = [e for e in rec.runs if e.status == "failed"]
    assert len(failed) == 1
    assert catalog.get(failed[0].run_id).status == "failed"
    if on_fault == "retry":
        assert rec.bin == 1 and len(counted(run, (9, 9))) == 2
    else:
        assert rec.bin == 90 and rec.bin_name == "fault"
    assert run.die_record((10, 9)).bin == 1  # the run went on
    assert bench_safe(sim_bench)


def test_preflight_refuses_and_nothing_moves(sim_bench, data_root):
    prober = sim_bench.lab.prober
    catalog = Catalog(data_root)
    before = (prober.x_um, prober.y_um, prober.z_um)
    prober.vacuum_on = False
    run = WaferRun.create(small_recipe(), sim_bench, data_root, catalog)
    run.draw_maps = False
    outcome = run.run()
    assert outcome.preflight_failed and "vacuum" in outcome.error
    assert (prober.x_um, prober.y_um, prober.z_um) == before
    prober.vacuum_on = True
    prober.contact_um = None
    outcome = WaferRun.create(small_recipe(), sim_bench, data_root, catalog).run()
    assert outcome.preflight_failed and "contact height" in outcome.error
    prober.contact_um = 10_000.0
    wrong = small_recipe(replace={'wafer_id = "W1"': 'wafer_id = "W1"\ndie_width_um = 9000.0'})
    outcome = WaferRun.create(wrong, sim_bench, data_root, catalog).run()
    assert outcome.preflight_failed and "wafer.die_width_um" in outcome.error
    assert (prober.x_um, prober.y_um) == before[:2]
    assert catalog.runs() == []


SUBSITES = """\
name = "sub"

[wafer]
lot = "T"
wafer_id = "W2"

[route]
dies = [[7, 2], [9, 9]]

[contact]
z_step_um = 5.0
max_tries = 3

[[subsites]]
label = "A"
dx_um = -2000.0
dy_um = 2000.0

[[subsites]]
label = "B"
dx_um = 2000.0
dy_um = -2000.0

[[steps]]
name = "map"
procedure = "conductance-map"
cells = "0,0-3"

[[steps]]
name = "hot"
procedure = "conductance-map"
cells = "2,0-3"
temperature_c = 60.0
"""


def test_progressive_contact_subsites_and_temperature_step(sim_bench, data_root):
    prober = sim_bench.lab.prober
    prober.overtravel_enabled = True  # Z may go up to contact + 20 um
    recipe = parse_recipe(SUBSITES, "sub.toml")
    catalog = Catalog(data_root)
    run = WaferRun.create(recipe, sim_bench, data_root, catalog)
    run.draw_maps = False
    outcome = run.run()
    assert outcome.state == "completed", outcome.error
    dead = run.die_record((7, 2))
    assert dead.bin == 80
    check = dead.contact[-1]
    assert check.tries == 4 and check.state == "open"  # 1 touchdown + 3 Z steps
    assert check.z_um == pytest.approx(prober.contact_um + 15.0)
    good = run.die_record((9, 9))
    xs = {p["label"]: (p["x_from_home_um"], p["y_from_home_um"]) for p in good.positions}
    assert xs == {"A": (-2000.0, 2000.0), "B": (2000.0, -2000.0)}
    units = sorted(e.unit for e in counted(run, (9, 9)))
    assert units == ["0/0/0", "0/1/0", "1/0/0", "1/1/0"]
    entries = {e.unit: catalog.get(e.run_id) for e in counted(run, (9, 9))}
    assert abs(entries["0/0/0"].temperature_c - 25.0) < 0.5
    assert abs(entries["0/1/0"].temperature_c - 60.0) < 0.5
    assert {e.subsite for e in entries.values()} == {0, 1}
    assert "/s01/" in entries["1/0/0"].file
    assert sum(e["event"] == "temperature" for e in run.cursor.events) == 1


def test_resume_marks_an_unrecorded_run_and_stands_in_for_its_missing_file(sim_bench, data_root):
    """A run the cursor never recorded (process killed between the catalog entry and the
    results file) is kept, marked aborted, and gets a header-only file that pymeasure loads."""
    from pymeasure.experiment import Results

    recipe = small_recipe("[[9, 9]]")
    catalog = Catalog(data_root)
    run = WaferRun.create(recipe, sim_bench, data_root, catalog)
    ghost = data_root / "T" / "W1" / "c09r09" / "s00" / "forming_ghost.csv"
    params = recipe.build(recipe.step_runs()[0], (9, 9)).parameter_values()
    rid = catalog.start_run("forming", params, ghost, die=(9, 9), subsite=0, lot="T", wafer="W1")
    catalog.finish_run(rid, "aborted", {}, "process ended mid-run")  # as mark_orphans does
    again = WaferRun.reopen(recipe, sim_bench, data_root, catalog, run.out_dir)
    again.draw_maps = False
    assert again.run().state == "completed"
    entry = catalog.get(rid)
    assert entry.status == "aborted" and "interrupted" in entry.message
    assert "stands in" in entry.message
    assert Results.load(str(ghost)).data.empty
    assert [o["run_id"] for o in again.cursor.orphans] == [rid]
    assert len(counted(again, (9, 9))) == 2
