"""A radiation monitoring campaign on the twin's facility: every row tagged with the dose read
from the log the simulated facility writes, and the window closing beyond ~5e4 Gy (issue 16)."""

from __future__ import annotations

import pandas as pd

from instruments.bench import Bench
from instruments.bench_config import bench_path
from procedures.campaign import CampaignRun, parse_campaign
from procedures.framework.catalog import Catalog
from tests._toml import campaign_text, checkerboard_map

MONITOR = campaign_text("beam", "RAD", (8, 9), 'kind = "monitor"\nevery_min = 60\nduration_h = 4',
                        checkerboard_map("0,0-7"))


def test_monitor_campaign_in_the_twin_beam_tags_dose_from_the_facility_log(tmp_path):
    f = tmp_path / "beam.toml"
    f.write_text(bench_path("simulated").read_text(encoding="utf-8")
                 + '\n[dosimetry]\nkind = "simulated"\ndose_rate_gy_s = 10.0\n'
                 'log_period_s = 30.0\n')
    root = tmp_path / "data"
    with Bench.open(f, data_dir=root, fresh=True) as bench:
        catalog = Catalog(root)
        try:
            run = CampaignRun.create(parse_campaign(MONITOR, "beam.toml"), bench, root, catalog)
            outcome = run.run()
        finally:
            catalog.close()
    assert outcome.state == "completed"
    frame = pd.read_csv(outcome.out_dir / "campaign_summary.csv")
    assert len(frame) == 5  # t = 0, 1, 2, 3, 4 h
    # the dose is the facility log's last line before the measurement (30 s lines, 10 Gy/s)
    lag = 10.0 * frame["elapsed_s"] - frame["dose_gy"]
    assert ((lag >= -1e-6) & (lag <= 300.0 + 1e-6)).all()  # 1e-6 Gy: float rounding
    assert frame["beam_on"].all() and (frame["dose_rate_gy_s"] == 10.0).all()
    assert frame["dose_gy"].iloc[-1] > 1.4e5
    window = frame["window"].to_numpy()
    assert window[-1] < 0.7 * window[0]  # 1.4e5 Gy (14 Mrad): the window closed
    assert (root / "dosimetry" / "twin-dose-log.csv").is_file()
    assert (outcome.out_dir / "campaign_window.png").is_file()
