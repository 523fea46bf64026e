"""Figures for the README's learning tables: metaplastic BNN across m and seeds, MCMC across
train/test splits.

Usage::

    .venv/bin/python benchmarks/learning_table.py              # everything (long: chip runs)
    .venv/bin/python benchmarks/learning_table.py --skip-chip  # software (ideal) rows only
    .venv/bin/python benchmarks/learning_table.py --only bnn   # one part (bnn, mcmc,
                                                               # inference or hybrid)

BNN (``bnn-metaplastic`` defaults): 64 real-valued inputs (8x8 digits) -> 128 hidden -> 10
(9,472 binary weights), batch statistics, per-task batch-norm parameters off-chip, Adam lr 0.04,
batch 32, 2 permuted-digits tasks x 12 epochs. The statistics across m and seeds use the *ideal*
(software) synapses; the *chip* rows run the procedure end to end on a fresh simulated wafer
(the network tiled over ten dies' 2T2R arrays, every flip programmed and verified, the arrays
read back by the PCSA after every epoch, prober moves counted).

MCMC (``mcmc-bayes``): breast cancer, 8 PCA features + bias (9 devices per model), g_ref 60 uS,
10 uS per unit weight, over train/test splits (``split_seed``; the chain seed equals it). The
baseline is the MAP logistic regression with the same prior on the same features (unbounded, and
inside the conductance window of the calibration). Accuracy vs wear: ``precycle`` cycles per
cell through the endurance path first, wear counted (pre-cycling + the run's own RESETs).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from procedures.learning.bnn import BNNConfig, permuted_digits_tasks, train_continual_ideal
from procedures.learning.mcmc import (
    Calibration,
    ConductanceSampler,
    IdealProposals,
    MCMCConfig,
    breast_cancer_data,
    logistic_baseline,
)

M_VALUES = (0.0, 0.5, 1.0, 1.35, 2.0)


def _pm(a: np.ndarray) -> str:
    return f"{100 * a.mean():.1f} ± {100 * a.std():.1f} %"


def bnn_ideal(seeds: int) -> None:
    from procedures.learning.bnn_procedure import BNNMetaplasticProcedure

    proc = BNNMetaplasticProcedure()
    epochs, bs = int(proc.epochs), int(proc.batch_size)
    base = proc.network_config()
    print(f"\n## BNN, ideal synapses: 2 permuted-digits tasks x {epochs} epochs, {seeds} seeds "
          "(mean ± sd)\n")
    print("| m | task 1 after task 1 | task 1 after task 2 | task 2 | mean of both | "
          "weight flips |")
    print("|---|---|---|---|---|---|")
    for m in M_VALUES:
        rows = []
        for seed in range(seeds):
            cfg = BNNConfig(**{**base.__dict__, "meta": m})
            r = train_continual_ideal(cfg, permuted_digits_tasks(2, seed), epochs, bs, seed)
            rows.append([r.acc[0, 0], r.acc[1, 0], r.acc[1, 1], r.acc[1].mean(), r.flips])
        a = np.array(rows)
        print(f"| {m:g} | {_pm(a[:, 0])} | {_pm(a[:, 1])} | {_pm(a[:, 2])} | "
              f"{100 * a[:, 3].mean():.1f} % | {a[:, 4].mean():.0f} |", flush=True)


def bnn_chip(m_values: tuple[float, ...], root: Path) -> None:
    import sys

    from instruments.bench import Bench
    from procedures.framework.catalog import Catalog
    from procedures.framework.runner import RunCallbacks, prepare_run
    from procedures.learning.bnn_procedure import BNNMetaplasticProcedure

    print("\n## BNN on the simulated chip (defaults: seed 0, ten dies; one fresh wafer, the runs "
          "in this order on the same dies, formed by the first)\n")
    print("| m | task 1 after task 2 | task 2 | device programs | pair programs | "
          "prober moves | bit errors | failures | bench clock | wall time |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    bench = Bench.open("simulated", data_dir=root, fresh=True)
    catalog = Catalog(root)
    try:
        for m in m_values:
            proc = BNNMetaplasticProcedure()
            proc.die, proc.meta = "8,9", m
            t0 = time.monotonic()

            def row(r: dict, m: float = m, t0: float = t0) -> None:
                print(f"  m={m:g} task {r['Task']} epoch {r['Epoch']}: task 1 "
                      f"{100 * r['Task 1 accuracy']:.1f} %, {r['Device programs']} programs, "
                      f"{r['Prober moves']} moves, {time.monotonic() - t0:.0f} s",
                      file=sys.stderr, flush=True)

            out = prepare_run(proc, bench, root, catalog, RunCallbacks(on_row=row)).run()
            s = out.summary
            if out.status != "finished":
                print(f"| {m:g} | {out.status}: {out.error} |")
                continue
            a = s["task_accuracies"]
            print(f"| {m:g} | {100 * a[0]:.1f} % | {100 * a[1]:.1f} % | "
                  f"{s['device_programs']:,} | {s['pair_programs']:,} | {s['prober_moves']:,} | "
                  f"{s['bit_errors']} | {s['device_failures']} | "
                  f"{s['bench_time_s'] / 3600:.1f} h | {time.monotonic() - t0:.0f} s |",
                  flush=True)
    finally:
        bench.close()
        catalog.close()


def mcmc_ideal(splits: int, iterations: int, burn_in: int) -> None:
    cal = Calibration.nominal()
    rows = []
    for split in range(splits):
        data = breast_cancer_data(8, split)
        rng = np.random.default_rng(split)
        s = ConductanceSampler(IdealProposals(cal, rng), data, cal,
                               MCMCConfig(burn_in=burn_in), rng)
        s.start()
        for _ in range(iterations):
            s.step()
        b = logistic_baseline(data, 2.0, s.weight_bounds())
        rows.append([s.test_accuracy(), s.accepted / s.iteration, b["baseline_accuracy"],
                     b["baseline_window_accuracy"]])
    a = np.array(rows)
    print(f"\n## MCMC, ideal proposals ({splits} train/test splits, {iterations} iterations, "
          f"burn-in {burn_in}; mean ± sd)\n")
    print("| | MCMC test accuracy | acceptance | MAP baseline | MAP in the conductance window |")
    print("|---|---|---|---|---|")
    print(f"| ideal | {_pm(a[:, 0])} | {100 * a[:, 1].mean():.1f} % | {_pm(a[:, 2])} | "
          f"{_pm(a[:, 3])} |", flush=True)


def mcmc_chip(splits: int, iterations: int, burn_in: int, root: Path) -> None:
    from instruments.bench import Bench
    from procedures.framework.catalog import Catalog
    from procedures.framework.runner import prepare_run
    from procedures.learning.mcmc_procedure import MCMCBayesProcedure, MCMCCalibrationProcedure

    bench = Bench.open("simulated", data_dir=root, fresh=True)
    catalog = Catalog(root)
    print(f"\n## MCMC on the simulated chip ({iterations} iterations, burn-in {burn_in}, "
          "cells 0-3,0-9 of die 9,9, one calibration run first)\n")
    try:
        cal = MCMCCalibrationProcedure()
        cal.die = "9,9"
        c = prepare_run(cal, bench, root, catalog).run()
        print("| split | test accuracy | acceptance | software proposals, same calibration | "
              "MAP baseline | MAP in window | device programs | wear (cycles, counted) | "
              "failures | run time |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        rows = []
        for split in range(splits):
            proc = MCMCBayesProcedure()
            proc.die, proc.seed, proc.split_seed = "9,9", split, split
            proc.iterations, proc.burn_in = iterations, burn_in
            proc.calibration = str(c.run_id)
            t0 = time.monotonic()
            s = _row_run(proc, bench, root, catalog, f"{split}")
            if s is None:
                continue
            soft = MCMCBayesProcedure()  # like for like: the chip's calibration, in software
            soft.backend, soft.seed, soft.split_seed = "ideal", split, split
            soft.iterations, soft.burn_in, soft.calibration = iterations, burn_in, str(c.run_id)
            sw = prepare_run(soft, bench, root, catalog).run().summary["test_accuracy"]
            rows.append([s["test_accuracy"], s["acceptance"], s["baseline_accuracy"],
                         s["baseline_window_accuracy"], sw])
            print(f"| {split} | {100 * s['test_accuracy']:.1f} % | "
                  f"{100 * s['acceptance']:.1f} % | {100 * sw:.1f} % | "
                  f"{100 * s['baseline_accuracy']:.1f} % | "
                  f"{100 * s['baseline_window_accuracy']:.1f} % | {s['device_programs']:,} | "
                  f"{s['wear']:,} | {s['device_failures']} | {time.monotonic() - t0:.0f} s |",
                  flush=True)
        a = np.array(rows)
        print(f"\nchip over {len(a)} splits: MCMC {_pm(a[:, 0])}, acceptance "
              f"{100 * a[:, 1].mean():.1f} %, software proposals with the same calibration "
              f"{_pm(a[:, 4])}, MAP baseline {_pm(a[:, 2])}, in window {_pm(a[:, 3])}")
    finally:
        bench.close()
        catalog.close()


def mcmc_wear(precycles: tuple[int, ...], iterations: int, burn_in: int, root: Path) -> None:
    """Accuracy vs counted wear: each row pre-cycles fresh cells of its own die first."""
    from instruments.bench import Bench
    from procedures.framework.catalog import Catalog
    from procedures.learning.mcmc_procedure import MCMCBayesProcedure

    bench = Bench.open("simulated", data_dir=root, fresh=True)
    catalog = Catalog(root)
    print(f"\n## MCMC on the simulated chip vs pre-cycling ({iterations} iterations, burn-in "
          f"{burn_in}, split 0, inline calibration after the pre-cycling, cells 0-3,0-9)\n")
    print("| pre-cycling per cell | die | test accuracy | acceptance | wear (counted, total) | "
          "cells failed in pre-cycling | device failures | run time |")
    print("|---|---|---|---|---|---|---|---|")
    try:
        for k, n in enumerate(precycles):
            die = f"{9 + k},10"
            proc = MCMCBayesProcedure()
            proc.die, proc.precycle = die, int(n)
            proc.iterations, proc.burn_in = iterations, burn_in
            t0 = time.monotonic()
            s = _row_run(proc, bench, root, catalog, f"{n:.0e} | {die}")
            if s is None:
                continue
            print(f"| {n:.0e} | {die} | {100 * s['test_accuracy']:.1f} % | "
                  f"{100 * s['acceptance']:.1f} % | {s['wear_total']:,} | "
                  f"{len(s.get('precycle_failed_cells', []))} | {s['device_failures']} | "
                  f"{time.monotonic() - t0:.0f} s |", flush=True)
    finally:
        bench.close()
        catalog.close()


INFERENCE = {"inputs": "8x8", "n_hidden": 32, "strengths": "strong;weak", "epochs": 20}
"""bnn-inference rows of the README: 64 binary inputs -> 32 -> 10 (2,368 pairs, 74 rows)."""


def _row_run(proc: object, bench: object, root: Path, catalog: object, label: str) -> dict | None:
    """Run ``proc``; its summary, or None once the table row ``| label | status: error |`` is
    printed for a run that did not finish."""
    from procedures.framework.runner import prepare_run

    out = prepare_run(proc, bench, root, catalog).run()
    if out.status != "finished":
        print(f"| {label} | {out.status}: {out.error} |")
        return None
    return out.summary


def _run(proc: object, bench: object, root: Path, catalog: object) -> dict:
    from procedures.framework.runner import prepare_run

    out = prepare_run(proc, bench, root, catalog).run()
    if out.status != "finished":
        raise RuntimeError(f"{out.status}: {out.error}")
    return out.summary


def inference_chip(seeds: int, stress: str, root: Path) -> None:
    """bnn-inference over seeds (strong vs weak, 2T2R vs 1T1R-with-reference), then one run
    with cycling stress on other dies."""
    from instruments.bench import Bench
    from procedures.framework.catalog import Catalog
    from procedures.learning.inference_procedure import BNNInferenceProcedure

    bench = Bench.open("simulated", data_dir=root, fresh=True)
    catalog = Catalog(root)

    def proc(seed: int, dies: str, precycle: str) -> BNNInferenceProcedure:
        p = BNNInferenceProcedure()
        p.die, p.dies, p.seed, p.split_seed, p.precycle = dies.split(";")[0], dies, seed, \
            seed, precycle
        for k, v in INFERENCE.items():
            setattr(p, k, v)
        return p

    try:
        runs = []
        for seed in range(seeds):
            t0 = time.monotonic()
            runs.append(_run(proc(seed, "9,9;10,9;11,9", "0"), bench, root, catalog))
            print(f"  seed {seed}: {time.monotonic() - t0:.0f} s", flush=True)
        print(f"\n## bnn-inference on the simulated chip (64 binary pixels -> 32 -> 10, 2,368 "
              f"pairs on three dies, {seeds} seeds = training seed and split, mean ± sd)\n")
        print("| strength | software | in-memory 2T2R | 1T1R with reference | BER 2T2R | "
              "BER 1T1R |")
        print("|---|---|---|---|---|---|")
        for j, label in enumerate(("strong", "weak")):
            c = [r["conditions"][j] for r in runs]
            sw = np.array([r["software_accuracy"] for r in runs])
            a2 = np.array([x["accuracy_2t2r"] for x in c])
            a1 = np.array([x["accuracy_1t1r"] for x in c])
            b2 = np.array([x["ber_2t2r"] for x in c])
            b1 = np.array([x["ber_1t1r"] for x in c])
            print(f"| {label} | {_pm(sw)} | {_pm(a2)} | {_pm(a1)} | {b2.mean():.1e} | "
                  f"{b1.mean():.1e} |", flush=True)
        tol = {k: np.mean([r["ber_tolerance"][k] for r in runs]) for k in runs[0]["ber_tolerance"]}
        print("\nsoftware fault injection (random weight flips): " + ", ".join(
            f"BER {k}: {100 * v:.1f} %" for k, v in tol.items()))
        r0 = runs[0]
        print(f"per run: {r0['xnor_queries']:,} XNOR/popcount queries, {r0['prober_moves']} "
              f"prober moves, {r0['device_programs']:,} device programs", flush=True)
        t0 = time.monotonic()
        s = _run(proc(0, "9,10;10,10;11,10", stress), bench, root, catalog)
        print(f"\n### cycling stress (seed 0, dies 9-11,10; {time.monotonic() - t0:.0f} s)\n")
        print("| cycles per device | strength | in-memory 2T2R | 1T1R with reference | "
              "BER 2T2R | BER 1T1R |")
        print("|---|---|---|---|---|---|")
        for c in s["conditions"]:
            print(f"| {c['precycle']:.0e} | {c['strength']} | {100 * c['accuracy_2t2r']:.1f} % "
                  f"| {100 * c['accuracy_1t1r']:.1f} % | {c['ber_2t2r']:.1e} | "
                  f"{c['ber_1t1r']:.1e} |", flush=True)
    finally:
        bench.close()
        catalog.close()


HYBRID = {"inputs": "8x8", "n_hidden": 16, "tasks": 1, "epochs": 4, "dies": "9,11;10,11"}
"""bnn-hybrid vs bnn-metaplastic rows of the README (1,184 pairs on two dies)."""


def hybrid_chip(seeds: int, root: Path) -> None:
    """bnn-hybrid and bnn-metaplastic (m = 0 and 1.35) on the same task, same dies, per seed."""
    from instruments.bench import Bench
    from procedures.framework.catalog import Catalog
    from procedures.learning.bnn_procedure import BNNMetaplasticProcedure
    from procedures.learning.hybrid_procedure import BNNHybridProcedure

    bench = Bench.open("simulated", data_dir=root, fresh=True)
    catalog = Catalog(root)
    rows: dict[str, list] = {}
    try:
        for seed in range(seeds):
            for name, cls, extra in (("bnn-hybrid", BNNHybridProcedure, {}),
                                     ("bnn-hybrid steepest", BNNHybridProcedure,
                                      {"nudge_rule": "steepest", "nudge_decay": 1.0}),
                                     ("bnn-metaplastic m=1.35", BNNMetaplasticProcedure, {}),
                                     ("bnn-metaplastic m=0", BNNMetaplasticProcedure,
                                      {"meta": 0.0})):
                p = cls()
                p.die, p.seed = "9,11", seed
                for k, v in {**HYBRID, **extra}.items():
                    setattr(p, k, v)
                t0 = time.monotonic()
                s = _run(p, bench, root, catalog)
                rows.setdefault(name, []).append(
                    [s["test_accuracy"], s["device_programs"], s.get("pulses", 0),
                     s["energy_proxy_j"], time.monotonic() - t0])
                print(f"  {name} seed {seed}: {100 * s['test_accuracy']:.1f} %", flush=True)
        print(f"\n## bnn-hybrid vs bnn-metaplastic on the simulated chip (8x8 digits -> 16 -> "
              f"10, 1 task x {HYBRID['epochs']} epochs, two dies, {seeds} seeds, mean ± sd)\n")
        print("| procedure | test accuracy | DC device programs | gradual pulses | "
              "energy proxy | wall time |")
        print("|---|---|---|---|---|---|")
        for name, r in rows.items():
            a = np.array(r)
            print(f"| {name} | {_pm(a[:, 0])} | {a[:, 1].mean():,.0f} | {a[:, 2].mean():,.0f} "
                  f"| {1e9 * a[:, 3].mean():.0f} nJ | {a[:, 4].mean():.0f} s |", flush=True)
    finally:
        bench.close()
        catalog.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer seeds and iterations")
    ap.add_argument("--skip-chip", action="store_true", help="software (ideal) rows only")
    ap.add_argument("--only", choices=["bnn", "mcmc", "inference", "hybrid"], default=None,
                    help="one part only")
    ap.add_argument("--chip-only", action="store_true", help="chip rows only")
    args = ap.parse_args()
    seeds = 3 if args.quick else 10
    if args.only in (None, "bnn") and not args.chip_only:
        bnn_ideal(seeds)
    if args.only in (None, "mcmc") and not args.chip_only:
        mcmc_ideal(seeds, 600 if args.quick else 1000, 200 if args.quick else 300)
    if args.skip_chip:
        return
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "bnn"):
            bnn_chip((1.35,) if args.quick else (1.35, 0.0), Path(tmp) / "bnn")
        if args.only in (None, "inference"):
            inference_chip(1 if args.quick else 3, "0;1e4" if args.quick else "0;1e5",
                           Path(tmp) / "inference")
        if args.only in (None, "hybrid"):
            hybrid_chip(1 if args.quick else 3, Path(tmp) / "hybrid")
        if args.only in (None, "mcmc"):
            mcmc_chip(1 if args.quick else 3, 200 if args.quick else 1000,
                      60 if args.quick else 300, Path(tmp) / "mcmc")
            mcmc_wear((0, 10_000) if args.quick else (0, 100_000, 1_000_000, 10_000_000),
                      200 if args.quick else 1000, 60 if args.quick else 300,
                      Path(tmp) / "wear")


if __name__ == "__main__":
    main()
