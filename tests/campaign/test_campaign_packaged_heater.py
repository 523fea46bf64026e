"""A temperature campaign on packaged chips under the twin's ThermoStream (no prober): the host
ramp sends every set point to the instrument, each step soaks, every row is tagged with the DUT
temperature read back, the chips' physics follows it, and the heater goes back to the safe
temperature at the end (waited for), on abort (not waited for) and on a stop signal to
``memprobe campaign`` against a standalone ``memprobe sim-lab --packaged`` (read back over a new
connection: ``SETP?``, ``TEMP?``, SMUs off)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pandas as pd
import pytest

from instruments.bench import Bench
from procedures.campaign import CampaignCallbacks, CampaignRun, parse_campaign
from procedures.campaign.cursor import CampaignCursor
from procedures.campaign.model import CAMPAIGN_DIR
from procedures.framework.runner import RunCallbacks
from tests._events import GUARD_S, wait_for
from tests._paths import REPO
from tests._sim_lab import serve_sim_lab
from tests._visa import visa_query
from tests.campaign import test_executor

catalog = test_executor.catalog  # the fixture: a catalog on the data root, closed after

EXAMPLE = CAMPAIGN_DIR / "temperature-packaged.toml"


@pytest.fixture
def hot_bench(data_root):
    with Bench.open("simulated-packaged-thermostream", data_dir=data_root, fresh=True) as bench:
        yield bench


def _spy_set_points(bench) -> list[float]:
    sent: list[float] = []
    original = bench.heater.set_point

    def spy(celsius: float) -> None:
        sent.append(float(celsius))
        original(celsius)

    bench.heater.set_point = spy
    return sent


def test_the_example_runs_ramped_soaked_tagged_and_ends_cool(hot_bench, data_root, catalog):
    bench, lab = hot_bench, hot_bench.lab
    assert bench.prober is None and bench.capabilities.heater == "thermostream"
    sent = _spy_set_points(bench)
    campaign = parse_campaign(EXAMPLE.read_text(encoding="utf-8"), str(EXAMPLE))
    run = CampaignRun.create(campaign, bench, data_root, catalog)
    outcome = run.run()
    assert outcome.state == "completed", outcome.error
    # the host ramp, 20 C/min in 60 s steps: 25 C is already there (nothing but the set point
    # itself, no soak), then 45, 65, 85 and 105, 125; the safe end sends 25 C
    assert sent == [25.0, 45.0, 65.0, 85.0, 105.0, 125.0, 25.0, 25.0]
    frame = pd.read_csv(outcome.out_dir / "campaign_summary.csv")
    assert list(frame["measurement"]) == ["map", "map", "ber"] * 3
    assert list(frame["chip"]) == [0, 1, 0] * 3
    assert list(frame["set_point_c"]) == [25.0] * 3 + [85.0] * 3 + [125.0] * 3
    # every row carries the ThermoStream's DUT temperature, read back just before it
    assert (abs(frame["temperature_c"] - frame["set_point_c"]) <= 2.0).all()
    assert frame["elapsed_s"].is_monotonic_increasing
    events = [e for e in run.cursor.events if e["event"] == "temperature"]
    assert [e["reached_c"] for e in events] == pytest.approx([25.0, 85.0, 125.0], abs=2.0)
    # between steps: two 60 s ramp steps, the settling, then the 60 s soak of bench time
    first = frame.groupby("step")["elapsed_s"].min()
    last = frame.groupby("step")["elapsed_s"].max()
    assert first[1] - last[0] >= 2 * 60.0 + 60.0 and first[2] - last[1] >= 60.0 + 60.0
    ber = frame[frame["measurement"] == "ber"]
    assert list(ber["ber_2t2r"].notna()) == [True] * 3
    # the chips' physics follows the heater: the memory window narrows as they get hotter
    windows = frame[frame["measurement"] == "map"].groupby("step")["window"].median()
    assert windows[0] > windows[1] > windows[2]
    runs = catalog.runs(tag=run.tag)
    assert [r.temperature_c for r in runs] == pytest.approx(list(frame["temperature_c"]), abs=0.2)
    # the safe end, waited for (cool_down): read back over a new connection
    resource = lab.resources()["heater"]
    assert visa_query(resource, "SETP?") == "25.0"
    assert float(visa_query(resource, "TEMP?")) == pytest.approx(25.0, abs=2.0)
    assert visa_query(lab.resources()["b1500"], "*LRN? 0", "\r\n") == "CL"
    cursor = CampaignCursor.load(outcome.out_dir)
    assert cursor.state == "completed" and cursor.safe_end["waited"]
    assert cursor.safe_end["read_c"] == pytest.approx(25.0, abs=2.0)


def test_abort_sends_the_safe_set_point_without_waiting(hot_bench, data_root, catalog):
    bench, lab = hot_bench, hot_bench.lab
    campaign = parse_campaign(EXAMPLE.read_text(encoding="utf-8"), str(EXAMPLE))
    run: CampaignRun | None = None

    def row(_record) -> None:  # abort during the 85 C step
        if run is not None and run.cursor.units_done() >= 3:
            run.abort()

    run = CampaignRun.create(campaign, bench, data_root, catalog,
                             CampaignCallbacks(run=RunCallbacks(on_row=row)))
    outcome = run.run()
    assert outcome.state == "aborted"
    resource = lab.resources()["heater"]
    assert visa_query(resource, "SETP?") == "25.0"
    assert float(visa_query(resource, "TEMP?")) > 60.0  # cooling, not waited for
    assert visa_query(lab.resources()["b1500"], "*LRN? 0", "\r\n") == "CL"
    assert not CampaignCursor.load(outcome.out_dir).safe_end["waited"]
    bench.wait(1800.0)
    assert float(visa_query(resource, "TEMP?")) == pytest.approx(25.0, abs=0.5)


def test_a_set_point_beyond_the_heater_limits_is_refused_before_anything(hot_bench, data_root,
                                                                         catalog):
    text = EXAMPLE.read_text(encoding="utf-8").replace("125.0]", "175.0]")
    campaign = parse_campaign(text, str(EXAMPLE))
    with pytest.raises(Exception, match="175 C is outside the bench's"):
        CampaignRun.create(campaign, hot_bench, data_root, catalog).run()
    assert hot_bench.lab.thermostream.values["SETP"] == 25.0
    assert not hot_bench.lab.thermostream.flow  # nothing applied: the air never started


def test_sigterm_sets_the_thermostream_back_on_a_standalone_packaged_lab(tmp_path):
    with serve_sim_lab(tmp_path, "--seed", "4", "--packaged", "2", "--pace", "--time-scale",
                       "600") as (resources, bench_file):
        assert "heater" in resources and "prober" not in resources
        campaign = tmp_path / "hot.toml"
        # a lab bench waits in wall time: no host ramp, no soak (the paced twin settles fast)
        campaign.write_text(EXAMPLE.read_text(encoding="utf-8")
                            .replace("[25.0, 85.0, 125.0]", "[25.0, 100.0]")
                            .replace("ramp_c_per_min = 20.0", "# ramp_c_per_min")
                            .replace("soak_s = 60.0", "soak_s = 0.0"))
        root = tmp_path / "data"
        proc = subprocess.Popen(
            [sys.executable, "-m", "gui.cli", "campaign", str(campaign), "--bench",
             str(bench_file), "--data", str(root), "--quiet", "--no-figures"],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

        def hot_step() -> bool:  # the 100 C step measuring
            found = sorted(root.glob("CAMP/W01/campaigns/temperature-packaged_*/cursor.json"))
            try:
                c = json.loads(found[-1].read_text()) if found else None
            except (OSError, ValueError):
                return False
            return c is not None and (c.get("pending") or "").startswith("1/")

        wait_for(hot_step, proc, "a measurement at 100 C")
        assert float(visa_query(resources["heater"], "TEMP?")) > 95
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=GUARD_S)
        assert proc.returncode == 128 + signal.SIGTERM, err
        assert visa_query(resources["heater"], "SETP?") == "25.0"
        assert visa_query(resources["b1500"], "*LRN? 0", "\r\n") == "CL"

        def cooled() -> bool:  # the paced lab's ThermoStream brings the board back
            return abs(float(visa_query(resources["heater"], "TEMP?")) - 25.0) < 0.5

        wait_for(cooled, None, "the board back at 25 C")
