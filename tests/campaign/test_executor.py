"""Campaigns on the simulated bench, in process: temperature steps read back from the prober,
the heater back at the safe temperature and the chuck separated at the end (read back over the
wire), limits that stop or pause with their reason, abort then resume, dose tags from a
dosimeter, every run catalogued with its campaign and step."""

from __future__ import annotations

import threading

import pandas as pd
import pytest

from instruments.dosimetry import DoseReading
from procedures.campaign import CampaignCallbacks, CampaignRun, parse_campaign
from procedures.campaign.cursor import CampaignCursor
from procedures.framework.catalog import Catalog
from procedures.framework.runner import RunCallbacks
from tests._events import GUARD_S
from tests._toml import campaign_text, checkerboard_map, limit, measurement
from tests._visa import query_bench

CAMPAIGN = campaign_text(
    "steps", "CT", (9, 9),
    'kind = "temperature"\nset_points_c = [25, 150, 90]\nramp_c_per_min = 50\nsoak_s = 10',
    checkerboard_map("0,0-3"))


@pytest.fixture
def catalog(data_root):
    cat = Catalog(data_root)
    try:
        yield cat
    finally:
        cat.close()


def assert_safe_and_cool(bench, celsius: float = 25.0) -> None:
    """Read back: SMUs off, chuck at separation height, heater at ``celsius`` and ready."""
    assert query_bench(bench, "b1500", "*LRN? 0") == "CL"
    assert query_bench(bench, "prober", "ReadChuckStatus").split()[7] == "S"
    fields = query_bench(bench, "prober", "GetHeaterTemp C").split()
    assert fields[0] == "0:" and abs(float(fields[1]) - celsius) < 0.5 and fields[3] == "R", fields


def _spy_set_points(bench) -> list[tuple[float, str]]:
    """Every heater set point the campaign sends, with the chuck height read back just before."""
    sent: list[tuple[float, str]] = []
    original = bench.prober.set_heater_temp

    def spy(celsius):
        sent.append((float(celsius), bench.prober.chuck_status().preset_height))
        return original(celsius)

    bench.prober.set_heater_temp = spy
    return sent


def test_temperature_steps_read_back_heater_safe_and_catalogued(sim_bench, data_root, catalog):
    campaign = parse_campaign(CAMPAIGN, "steps.toml")
    sent = _spy_set_points(sim_bench)
    progress = []
    run = CampaignRun.create(campaign, sim_bench, data_root, catalog,
                             CampaignCallbacks(on_progress=progress.append))
    outcome = run.run()
    assert outcome.state == "completed", outcome.error
    assert outcome.done == outcome.total == 3
    # progress: units done, and the bench time left from the measurements' modeled time
    assert [p.done for p in progress] == [0, 1, 2, 3]
    assert progress[0].bench_left_s is None and progress[-1].bench_left_s == 0
    assert progress[1].bench_left_s > progress[2].bench_left_s > 0
    # the host ramp: 50 C/min in 60 s steps, every set point sent while separated (the first
    # step finds the chuck settled at 25 C: nothing sent, no soak)
    points = [t for t, _ in sent]
    assert points == [75.0, 125.0, 150.0, 100.0, 90.0, 25.0]
    assert {h for _, h in sent} == {"S"}
    assert_safe_and_cool(sim_bench)
    frame = pd.read_csv(outcome.out_dir / "campaign_summary.csv")
    assert list(frame["step"]) == [0, 1, 2] and list(frame["set_point_c"]) == [25, 150, 90]
    # the temperature of every measurement is the prober's, read back just before it
    assert (abs(frame["temperature_c"] - frame["set_point_c"]) <= 2.0).all()
    assert frame["elapsed_s"].is_monotonic_increasing and frame["elapsed_s"].iloc[0] > 0
    assert frame["dose_gy"].isna().all()  # no dosimeter on this bench
    assert (frame["window"] > 1).all()
    assert (outcome.out_dir / "campaign_window.png").stat().st_size > 1000
    runs = catalog.runs(tag=run.tag)
    assert [r.summary["campaign_step"] for r in runs] == [0, 1, 2]
    assert {r.summary["campaign"] for r in runs} == {outcome.out_dir.name}
    assert [r.temperature_c for r in runs] == pytest.approx([25, 150, 90], abs=2)
    cursor = CampaignCursor.load(outcome.out_dir)
    assert cursor.state == "completed" and cursor.safe_end["read_c"] == pytest.approx(25, abs=0.5)
    assert [s.state for s in cursor.steps] == ["done"] * 3


def test_a_stop_limit_ends_the_campaign_with_its_reason(sim_bench, data_root, catalog):
    text = CAMPAIGN + "\n" + limit("map.window", "max", 1.0, "stop")
    heard: list[str] = []
    run = CampaignRun.create(parse_campaign(text, "steps.toml"), sim_bench, data_root, catalog,
                             CampaignCallbacks(on_limit=heard.append))
    outcome = run.run()
    assert outcome.state == "stopped" and outcome.done == 1
    assert outcome.reason.startswith("limit map.window = ") and "> max 1" in outcome.reason
    assert "step 1 (25 C): stop" in outcome.reason and heard == [outcome.reason]
    cursor = CampaignCursor.load(outcome.out_dir)
    assert cursor.reason == outcome.reason and cursor.limit_hits[0]["action"] == "stop"
    assert_safe_and_cool(sim_bench)


def test_a_pause_limit_waits_for_resume_separated(sim_bench, data_root, catalog):
    text = CAMPAIGN + "\n" + limit("map.window", "max", 1.0, "pause")
    paused = threading.Event()
    heights: list[str] = []

    def status(text: str) -> None:
        if text.startswith("paused"):
            heights.append(sim_bench.prober.chuck_status().preset_height)
            paused.set()

    run = CampaignRun.create(parse_campaign(text, "steps.toml"), sim_bench, data_root, catalog,
                             CampaignCallbacks(on_status=status))
    run.start()
    for _ in range(2):  # every step's window is over the limit: paused before steps 2 and 3
        assert paused.wait(GUARD_S)
        paused.clear()
        assert run.state == "paused" and run.cursor.reason
        run.resume()
    outcome = run.wait(GUARD_S)
    assert outcome is not None and outcome.state == "completed", outcome
    # the third hit has nothing left to pause before: recorded, the campaign ends
    assert heights == ["S", "S"] and len(run.cursor.limit_hits) == 3
    assert_safe_and_cool(sim_bench)


def test_abort_sets_the_heater_back_then_resume_completes_each_unit_once(sim_bench, data_root,
                                                                           catalog):
    campaign = parse_campaign(CAMPAIGN, "steps.toml")
    run: CampaignRun | None = None
    rows = 0

    def row(_record) -> None:  # abort in the middle of the second step's map
        nonlocal rows
        rows += 1
        if run is not None and run.cursor.units_done() == 1 and rows > 6:
            run.abort()

    run = CampaignRun.create(campaign, sim_bench, data_root, catalog,
                             CampaignCallbacks(run=RunCallbacks(on_row=row)))
    outcome = run.run()
    assert outcome.state == "aborted" and outcome.done == 1
    assert query_bench(sim_bench, "prober", "ReadChuckStatus").split()[7] == "S"
    assert query_bench(sim_bench, "b1500", "*LRN? 0") == "CL"
    fields = query_bench(sim_bench, "prober", "GetHeaterTemp C").split()
    assert fields[3] == "C"  # cooling towards the safe set point (not waited for on abort)
    sim_bench.wait(3600.0)
    assert_safe_and_cool(sim_bench)

    again = CampaignRun.reopen(campaign, sim_bench, data_root, catalog, outcome.out_dir)
    final = again.run()
    assert final.state == "completed" and final.done == 3
    counted = [(e.step, e.index) for e in again.cursor.entries if e.counted]
    assert counted == [(0, 0), (1, 0), (2, 0)]
    aborted = [e for e in again.cursor.entries if not e.counted]
    assert len(aborted) == 1 and aborted[0].step == 1 and aborted[0].status == "aborted"
    assert len(again.cursor.sessions) == 2
    assert again.cursor.elapsed_s > run.cursor.elapsed_s  # elapsed spans both sessions
    assert_safe_and_cool(sim_bench)


class RampDosimeter:
    """A small in-test dosimeter: a beam of 0.01 Gy/s on the bench clock."""

    def __init__(self, bench) -> None:
        self.bench = bench
        self.t0 = bench.clock()

    def read(self) -> DoseReading:
        t = self.bench.clock() - self.t0
        return DoseReading(self.bench.clock(), 0.01 * t, 0.01, 1e6 * t, 1e6, True, "test")


MONITOR = campaign_text("mon", "CT", (8, 9), 'kind = "monitor"\nevery_min = 2\nduration_h = 0.1',
                        checkerboard_map("0,0-3"))


def test_monitor_schedule_tags_dose_and_elapsed(sim_bench, data_root, catalog):
    sim_bench.dosimeter = RampDosimeter(sim_bench)
    campaign = parse_campaign(MONITOR, "mon.toml")
    assert campaign.schedule.n_steps() == 4  # t = 0, 2, 4, 6 min
    t_heater = query_bench(sim_bench, "prober", "GetHeaterTemp C").split()[1]
    outcome = CampaignRun.create(campaign, sim_bench, data_root, catalog).run()
    assert outcome.state == "completed"
    frame = pd.read_csv(outcome.out_dir / "campaign_summary.csv")
    due = [0.0, 120.0, 240.0, 360.0]
    assert all(e >= d - 1e-6 for e, d in zip(frame["elapsed_s"], due, strict=True))
    assert all(e < d + 60 for e, d in zip(frame["elapsed_s"][1:], due[1:], strict=True))
    assert frame["dose_gy"].is_monotonic_increasing and frame["dose_gy"].iloc[-1] > 3.6
    assert (frame["beam_on"]).all() and (frame["dose_rate_gy_s"] == 0.01).all()
    assert frame["set_point_c"].isna().all()
    # figures vs dose; the chuck temperature was never touched
    assert (outcome.out_dir / "campaign_window.png").is_file()
    assert query_bench(sim_bench, "prober", "GetHeaterTemp C").split()[1] == t_heater


def test_arrhenius_fit_of_retention_half_window_times(sim_bench, data_root, catalog):
    text = campaign_text(
        "arr", "CT", (10, 9), 'kind = "temperature"\nset_points_c = [200, 225, 250]',
        measurement("bake", "retention", "2,0-3",
                    "duration_s = 3e5, points = 10, form_first = true"))
    outcome = CampaignRun.create(parse_campaign(text, "arr.toml"), sim_bench, data_root,
                                 catalog).run()
    assert outcome.state == "completed", outcome.error
    fit = outcome.outputs["arrhenius"]
    assert fit["n_temperatures"] == 3
    # the twin's retention is Arrhenius with E_a 1.4-1.5 eV (rram_params)
    assert 1.0 < fit["ea_ev"] < 2.0 and 0 < fit["ea_err_ev"] < 0.5
    t = [fit["t_half_s"][k] for k in ("200", "225", "250")]
    assert t[0] > t[1] > t[2]
    assert (outcome.out_dir / "arrhenius.png").is_file()
    assert_safe_and_cool(sim_bench)


def test_a_temperature_schedule_is_refused_on_a_bench_without_heater(data_root, catalog):
    """A bench with neither a prober's hot chuck nor a bench heater (packaged chips on a plain
    board): refused before anything is applied or written."""
    from types import SimpleNamespace

    from instruments.bench import load_bench_config
    from procedures.campaign import CampaignRunError

    config = load_bench_config("simulated")
    bench = SimpleNamespace(config=config, limits=config.limits, prober=None, heater=None,
                            dosimeter=None)
    with pytest.raises(CampaignRunError, match="no heater"):
        CampaignRun.create(parse_campaign(CAMPAIGN, "steps.toml"), bench, data_root, catalog)
    assert not any(data_root.rglob("cursor.json"))


FAULTY = campaign_text(  # bake: unformed cells, form_first off: refused, the run fails
    "faulty", "CT", (11, 9), 'kind = "monitor"\nevery_min = 1\nduration_h = 0.0167',
    measurement("bake", "retention", "5,0-1", "temperature_c = 25, duration_s = 10, points = 2"),
    measurement("map", "conductance-map", "6,0-3"), head='on_fault = "continue"')


@pytest.mark.parametrize("on_fault", ["continue", "stop"])
def test_a_failed_measurement_stops_or_is_passed_over(sim_bench, data_root, catalog, on_fault):
    text = FAULTY.replace('on_fault = "continue"', f'on_fault = "{on_fault}"')
    campaign = parse_campaign(text, "faulty.toml")
    assert campaign.schedule.n_steps() == 2
    outcome = CampaignRun.create(campaign, sim_bench, data_root, catalog).run()
    cursor = CampaignCursor.load(outcome.out_dir)
    assert query_bench(sim_bench, "b1500", "*LRN? 0") == "CL"
    assert query_bench(sim_bench, "prober", "ReadChuckStatus").split()[7] == "S"
    if on_fault == "stop":
        assert outcome.state == "failed" and "bake (retention) at step 1 failed" in outcome.error
        assert [(e.step, e.status) for e in cursor.entries] == [(0, "failed")]
        return
    assert outcome.state == "completed" and outcome.done == outcome.total == 4
    assert [(e.step, e.measurement, e.status, e.skipped) for e in cursor.entries] == [
        (0, "bake", "failed", True), (0, "map", "finished", False),
        (1, "bake", "failed", True), (1, "map", "finished", False)]
    assert [ev["event"] for ev in cursor.events].count("fault") == 2
    frame = pd.read_csv(outcome.out_dir / "campaign_summary.csv")
    assert list(frame["status"]) == ["failed", "finished", "failed", "finished"]
