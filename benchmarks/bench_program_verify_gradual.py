"""Measurement: program-verify pulses to target, adaptive algorithm vs ISPP, gradual vs abrupt.

Runs ``program-verify`` (targets 20/40/60/80 uS, tolerance 5 uS, 12 cells of die 9,9 per row
from row 3, one run per row, reset_first unless ``--no-reset-first``, wafer seed 1) on a fresh
simulated bench with each algorithm (``adaptive``: coarse aimed SET + fine identical RESET
pulses; ``ispp``: the step staircase), with the default device model (gradual SET under
weak/short pulses, gradual RESET random walk) and again with an abrupt-switching setting of the
same model (``set_gradual_r`` = 1e-6: a SET pulse above threshold completes;
``reset_walk_fraction`` = 0: a RESET pulse reaches its level in one step). Prints one JSON line:
converged fraction and mean pulses to target (converged cells) per algorithm and setting. Run:
``.venv/bin/python benchmarks/bench_program_verify_gradual.py [--seed S] [--rows R]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from pathlib import Path
from typing import Any

ABRUPT = {"set_gradual_r": 1e-6, "reset_walk_fraction": 0.0}
"""Model overrides of the abrupt-switching setting."""


def measure(params: Any, seed: int, rows: int, reset_first: bool = True,
            algorithm: str = "adaptive") -> dict[str, Any]:
    """Program-verify on ``rows`` rows of 12 cells; converged fraction and pulses to target."""
    from instruments.bench import Bench
    from procedures.experiments.program_verify import ProgramVerifyProcedure
    from procedures.framework.catalog import Catalog
    from procedures.framework.runner import prepare_run

    pulses: list[tuple[int, float]] = []
    cells = conv = 0
    with tempfile.TemporaryDirectory(prefix="memprobe-pv-") as tmp:
        root = Path(tmp)
        with Bench.open("simulated", data_dir=root, fresh=True, seed=seed,
                        lab_overrides={"params": params}) as bench:
            for r in range(rows):
                proc = ProgramVerifyProcedure()
                proc.die = "9,9"
                proc.form_first = True
                proc.tolerance = 5e-6
                proc.cells = f"{3 + r},0-11"
                proc.targets = "20e-6,40e-6,60e-6,80e-6"
                proc.reset_first = reset_first
                proc.algorithm = algorithm
                out = prepare_run(proc, bench, root, Catalog(root)).run()
                if out.status != "finished":
                    raise RuntimeError(out.error)
                s = out.summary
                cells += s["cells"]
                conv += s["cells_converged"]
                pulses.append((s["cells_converged"], s["mean_pulses"] or 0.0))
    n = sum(k for k, _ in pulses)
    return {"cells": cells, "converged_fraction": conv / cells,
            "mean_pulses": sum(k * m for k, m in pulses) / n if n else None}


def main() -> None:
    """Measure both settings and print a JSON line."""
    from instruments.sim.rram_params import RRAMParams

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rows", type=int, default=2, help="rows of 12 cells per setting")
    ap.add_argument("--no-reset-first", action="store_true",
                    help="start from the formed LRS (reset_first off)")
    args = ap.parse_args()
    rf = not args.no_reset_first
    models = {"gradual": RRAMParams(), "abrupt": dataclasses.replace(RRAMParams(), **ABRUPT)}
    out: dict[str, Any] = {"reset_first": rf, "seed": args.seed, "abrupt_overrides": ABRUPT}
    for algorithm in ("adaptive", "ispp"):
        out[algorithm] = {name: measure(params, args.seed, args.rows, rf, algorithm)
                          for name, params in models.items()}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
