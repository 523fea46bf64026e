"""Campaigns on a packaged bench (no prober, no heater): the measurements target chips in the
sockets of the board, selected by the chip controller's multiplexer (which refuses to switch
while a terminal is driven: a campaign that switches chips proves the outputs were off), rows
tagged with the chip, its origin die and the dose; chips on a wafer bench, dies on a packaged
bench and a temperature schedule without a heater refused in one line before anything moves."""

from __future__ import annotations

import pandas as pd
import pytest

from instruments.bench import Bench
from procedures.campaign import CampaignError, CampaignRun, CampaignRunError, parse_campaign
from procedures.campaign.model import CAMPAIGN_DIR
from procedures.framework.catalog import Catalog
from tests._visa import query_bench

EXAMPLE = CAMPAIGN_DIR / "radiation-monitor-packaged.toml"


def _short(every_min: float = 60.0, duration_h: float = 1.0) -> str:
    """The example campaign, 2 steps long (the beam bench gives 9 kGy per hour)."""
    return (EXAMPLE.read_text(encoding="utf-8")
            .replace("every_min = 30.0", f"every_min = {every_min}")
            .replace("duration_h = 12.0", f"duration_h = {duration_h}"))


@pytest.fixture
def beam_bench(data_root):
    with Bench.open("simulated-packaged-radiation", data_dir=data_root, fresh=True) as bench:
        yield bench


def test_monitor_campaign_over_two_packaged_chips_tags_rows_with_chip_and_dose(beam_bench,
                                                                              data_root):
    bench, lab = beam_bench, beam_bench.lab
    assert bench.prober is None and bench.heater is None and bench.dosimeter is not None
    bench.select_chip(5)  # a chip the campaign does not measure
    catalog = Catalog(data_root)
    try:
        campaign = parse_campaign(_short(), str(EXAMPLE))
        run = CampaignRun.create(campaign, bench, data_root, catalog)
        outcome = run.run()
        assert outcome.state == "completed", outcome.error
        runs = {r.id: r for r in catalog.runs(tag=run.tag)}
    finally:
        catalog.close()
    frame = pd.read_csv(outcome.out_dir / "campaign_summary.csv")
    # 2 steps x (map on chips 0 and 1, ber on chip 0), in file order
    assert list(frame["measurement"]) == ["map", "map", "ber"] * 2
    assert list(frame["chip"]) == [0, 1, 0] * 2
    assert (frame["status"] == "finished").all()
    dies = lab.board.dies
    assert list(frame["die"]) == [f"{dies[c][0]},{dies[c][1]}" for c in frame["chip"]]
    assert frame["dose_gy"].notna().all() and frame["beam_on"].all()
    assert frame["dose_gy"].is_monotonic_increasing and frame["dose_gy"].iloc[-1] > 8e3
    assert frame["window"].notna().all()
    assert frame["temperature_c"].isna().all()  # no heater: not measured
    # every run recorded the socket it measured (read back from the controller) and the chip's
    # identity as its die; the catalog summary carries the campaign's chip
    assert len(runs) == 6
    for run_id, chip in zip(frame["run_id"], frame["chip"], strict=True):
        r = runs[int(run_id)]
        assert r.parameters["chip"] == chip and tuple(r.die) == tuple(dies[chip])
        assert r.summary["campaign_chip"] == chip
    # the chips measured were formed; the chip that stayed out of the campaign was not
    g = {n: lab.wafer.chip(*dies[n]).conductance("1T1R")[0, :8] for n in (0, 1, 5)}
    assert (g[0].max() > 10e-6) and (g[1].max() > 10e-6) and (g[5] < 0.1e-6).all()
    # bench left safe: read back over the wire by plain VISA clients
    assert query_bench(bench, "b1500", "*LRN? 0") == "CL"
    assert lab.driven_terminals() == []
    assert int(query_bench(bench, "chip", "BOARD:SEL?")) == 0  # the last measurement's chip
    assert (outcome.out_dir / "campaign_window.png").is_file()


def _refused(campaign_text: str, bench, data_root, source: str = "c.toml") -> str:
    """The one-line error of a campaign refused on ``bench``; nothing created or switched."""
    before = int(bench.chip.board_socket) if bench.prober is None else None
    catalog = Catalog(data_root)
    try:
        with pytest.raises((CampaignError, CampaignRunError)) as info:
            CampaignRun.create(parse_campaign(campaign_text, source), bench, data_root, catalog)
        assert catalog.runs() == []
    finally:
        catalog.close()
    assert not list(data_root.glob("*/*/campaigns/*"))
    if before is not None:
        assert int(bench.chip.board_socket) == before
    text = str(info.value)
    assert "\n" not in text
    return text


def test_chips_on_a_wafer_bench_are_refused_at_their_line(sim_bench, data_root):
    text = _short()
    err = _refused(text, sim_bench, data_root)
    line = text.splitlines().index("chips = [0, 1]                   # default chips (board "
                                   "sockets) of every measurement") + 1
    assert err.startswith(f"c.toml:{line}: target.chips[0]: "), err
    assert "has a prober" in err
    one = text.replace("chips = [0, 1]   ", "die = [9, 9]     ")  # ber keeps its chip = 0
    err = _refused(one, sim_bench, data_root)
    line = one.splitlines().index("chip = 0                         # this measurement on one "
                                  "chip only") + 1
    assert err.startswith(f"c.toml:{line}: measurements[1].chip: "), err


def test_dies_on_a_packaged_bench_are_refused_at_their_line(beam_bench, data_root):
    wafer_form = (CAMPAIGN_DIR / "radiation-monitor.toml").read_text(encoding="utf-8")
    err = _refused(wafer_form.replace("temperature_c = 25.0", "# no heater"), beam_bench,
                   data_root)
    line = wafer_form.splitlines().index("die = [8, 9]") + 1
    assert err.startswith(f"c.toml:{line}: target.die: "), err
    assert "no prober" in err and "chip = 0..7" in err
    err = _refused(_short().replace("chip = 0 ", "chip = 8 "), beam_bench, data_root)
    assert "measurements[1].chip" in err and "sockets 0..7" in err


def test_a_temperature_schedule_on_a_board_without_heater_is_refused(beam_bench, data_root):
    text = _short().replace('kind = "monitor"', 'kind = "temperature"\nset_points_c = [25, 85]')
    text = "\n".join(ln for ln in text.splitlines()
                     if not ln.startswith(("every_min", "duration_h")))
    err = _refused(text, beam_bench, data_root)
    assert "no heater" in err


@pytest.mark.parametrize("edit, key, message", [
    (("chips = [0, 1]", "chips = [0, 1]\nchip = 2"), "target.chips", "not both"),
    (("chips = [0, 1]", "chips = [1, 1]"), "target.chips", "listed twice"),
    (("chips = [0, 1]", "chips = [0, 64]"), "target.chips[1]", "63"),
    (("chip = 0 ", "die = [9, 9]\nchip = 0 "), "measurements[1].chip",
     "exclude each other"),
    (("params = { seed = 2 }", "params = { seed = 2, chip = 3 }"), "measurements[1].params.chip",
     "measurement level"),
])
def test_chip_targets_are_checked_in_the_file(edit, key, message):
    with pytest.raises(CampaignError) as info:
        parse_campaign(_short().replace(*edit), "c.toml")
    text = str(info.value)
    assert f": {key}: " in text and message in text and "\n" not in text, text
