"""Benchmark: a campaign on the simulated bench, wall time vs modeled bench time.

Runs a campaign (default ``temperature-demo``: 4 set points 25-200 C with a host ramp of 20 C/min
and 60 s soaks, an 8-cell checkerboard map and a 4-pair 2T2R BER per step) on a fresh simulated
wafer in a temporary data root and prints one JSON line: wall time of the campaign, the modeled
bench time it represents (heater ramps and soaks included), the bench time of the measurements
alone, and the wall time of the outputs (summary, figures, Arrhenius fit). Run:
``.venv/bin/python benchmarks/bench_campaign.py [--campaign temperature-demo]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

from _quiet import quiet_logging

from instruments.bench import Bench
from procedures.campaign import CampaignRun, load_campaign
from procedures.campaign.outputs import write_outputs
from procedures.framework.catalog import Catalog


def main() -> None:
    """Run the benchmark and print a JSON line."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--campaign", default="temperature-demo", help="campaign name or file")
    args = ap.parse_args()
    quiet_logging(logging.WARNING)
    campaign = load_campaign(args.campaign)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        catalog = Catalog(root)
        bench = Bench.open("simulated", data_dir=root, fresh=True)
        try:
            run = CampaignRun.create(campaign, bench, root, catalog)
            run.draw_figures = False
            t0, b0 = time.perf_counter(), bench.clock()
            outcome = run.run()
            wall, modeled = time.perf_counter() - t0, bench.clock() - b0
            t1 = time.perf_counter()
            write_outputs(outcome.out_dir, campaign, run.cursor, draw=True)
            outputs = time.perf_counter() - t1
        finally:
            bench.close()
            catalog.close()
    measured = sum(e.bench_time_s or 0.0 for e in run.cursor.entries if e.counted)
    print(json.dumps({
        "benchmark": "campaign", "campaign": campaign.name, "state": outcome.state,
        "measurements": outcome.done, "wall_s": round(wall, 2),
        "bench_time_s": round(modeled, 1), "measurement_bench_time_s": round(measured, 1),
        "outputs_wall_s": round(outputs, 2),
    }))


if __name__ == "__main__":
    main()
