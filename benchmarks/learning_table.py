"""Figures for the README's learning tables: metaplastic BNN across m, MCMC across seeds.

Usage::

    .venv/bin/python benchmarks/learning_table.py            # full tables (several minutes)
    .venv/bin/python benchmarks/learning_table.py --quick    # fewer seeds / iterations

BNN (``bnn-metaplastic``): 48 binary inputs (8x6 digits) -> 16 hidden -> 10, Adam lr 0.05,
batch 32, 2 permuted-digits tasks x 5 epochs. The statistics across m use the *ideal* (software)
synapses over many seeds; the *chip* rows run the procedure end to end on the simulated bench
(928 2T2R pairs of one die, every flip programmed and verified, weights read by the PCSA).

MCMC (``mcmc-bayes``): breast cancer, 8 PCA features + bias (9 devices per model), g_ref 60 uS,
10 uS per unit weight. *ideal*: proposals drawn from the nominal device law; *chip*: 1T1R cells
of the simulated die with an ``mcmc-calibration`` run first.
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
)

M_VALUES = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0)


def bnn_ideal(seeds: int, epochs: int) -> None:
    print(f"\n## BNN, ideal synapses: 2 permuted-digits tasks x {epochs} epochs, {seeds} seeds "
          "(mean +- sd)\n")
    print("| m | task 1 after task 1 | task 1 after task 2 | task 2 | mean | sign flips |")
    print("|---|---|---|---|---|---|")
    for m in M_VALUES:
        rows = []
        for seed in range(seeds):
            tasks = permuted_digits_tasks(2, seed, "8x6")
            r = train_continual_ideal(BNNConfig(meta=m, lr=0.05), tasks, epochs, 32, seed)
            rows.append([r.acc[0, 0], r.acc[1, 0], r.acc[1, 1], r.acc[1].mean(), r.flips])
        a = np.array(rows)
        mu, sd = a.mean(0), a.std(0)
        print(f"| {m:g} | {100 * mu[0]:.1f} +- {100 * sd[0]:.1f} % | "
              f"{100 * mu[1]:.1f} +- {100 * sd[1]:.1f} % | {100 * mu[2]:.1f} +- "
              f"{100 * sd[2]:.1f} % | {100 * mu[3]:.1f} % | {mu[4]:.0f} |")


def _runner(root: Path):
    from instruments.bench import Bench
    from procedures.catalog import Catalog

    bench = Bench.open("simulated", data_dir=root, fresh=True)
    return bench, Catalog(root)


def bnn_chip(m_values: tuple[float, ...], epochs: int, root: Path) -> None:
    from procedures.learning.bnn_procedure import BNNMetaplasticProcedure
    from procedures.runner import prepare_run

    print(f"\n## BNN on the simulated chip (seed 0, die 9,9, 2 tasks x {epochs} epochs)\n")
    print("| m | task 1 after task 2 | task 2 | mean | device programs | pair programs | "
          "bit errors | wear (cycles) | failures | run time |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    bench, catalog = _runner(root)
    try:
        for m in m_values:
            proc = BNNMetaplasticProcedure()
            proc.die, proc.meta, proc.epochs, proc.seed, proc.tasks = "9,9", m, epochs, 0, 2
            t0 = time.monotonic()
            out = prepare_run(proc, bench, root, catalog).run()
            s = out.summary
            if out.status != "finished":
                print(f"| {m:g} | {out.status}: {out.error} |")
                continue
            a = s["task_accuracies"]
            print(f"| {m:g} | {100 * a[0]:.1f} % | {100 * a[1]:.1f} % | "
                  f"{100 * s['test_accuracy']:.1f} % | {s['device_programs']} | "
                  f"{s['pair_programs']} | {s['bit_errors']} | {s['wear']} | "
                  f"{s['device_failures']} | {time.monotonic() - t0:.0f} s |")
    finally:
        bench.close()
        catalog.close()


def mcmc_ideal(seeds: int, iterations: int, burn_in: int) -> None:
    data = breast_cancer_data(8)
    cal = Calibration.nominal()
    acc, rate = [], []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        s = ConductanceSampler(IdealProposals(cal, rng), data, cal,
                               MCMCConfig(burn_in=burn_in), rng)
        s.start()
        for _ in range(iterations):
            row = s.step()
        acc.append(s.test_accuracy())
        rate.append(row.acceptance_rate)
    a = np.array(acc)
    print(f"\n## MCMC, ideal proposals ({seeds} seeds, {iterations} iterations, burn-in "
          f"{burn_in})\n")
    print(f"test accuracy {100 * a.mean():.1f} +- {100 * a.std():.1f} % (min "
          f"{100 * a.min():.1f}, max {100 * a.max():.1f}); acceptance "
          f"{100 * np.mean(rate):.1f} %")


def mcmc_chip(seeds: int, iterations: int, burn_in: int, root: Path) -> None:
    from procedures.learning.mcmc_procedure import MCMCBayesProcedure, MCMCCalibrationProcedure
    from procedures.runner import prepare_run

    bench, catalog = _runner(root)
    print(f"\n## MCMC on the simulated chip ({iterations} iterations, burn-in {burn_in}, "
          "cells 0-3,0-9 of die 9,9)\n")
    try:
        cal = MCMCCalibrationProcedure()
        cal.die = "9,9"
        c = prepare_run(cal, bench, root, catalog).run()
        print(f"calibration run {c.run_id}: levels {c.summary['cal_compliance']} A -> mean "
              f"{[round(g * 1e6, 1) for g in c.summary['cal_g_mean']]} uS, sd "
              f"{[round(g * 1e6, 1) for g in c.summary['cal_g_std']]} uS\n")
        print("| seed | test accuracy | acceptance | device programs | wear (cycles) | failures "
              "| run time |")
        print("|---|---|---|---|---|---|---|")
        accs = []
        for seed in range(seeds):
            proc = MCMCBayesProcedure()
            proc.die, proc.seed, proc.iterations, proc.burn_in = "9,9", seed, iterations, burn_in
            proc.calibration = str(c.run_id)
            t0 = time.monotonic()
            out = prepare_run(proc, bench, root, catalog).run()
            s = out.summary
            if out.status != "finished":
                print(f"| {seed} | {out.status}: {out.error} |")
                continue
            accs.append(s["test_accuracy"])
            print(f"| {seed} | {100 * s['test_accuracy']:.1f} % | "
                  f"{100 * s['acceptance_rate']:.1f} % | {s['device_programs']} | {s['wear']} | "
                  f"{s['device_failures']} | {time.monotonic() - t0:.0f} s |")
        a = np.array(accs)
        print(f"\nchip: test accuracy {100 * a.mean():.1f} +- {100 * a.std():.1f} % over "
              f"{a.size} seeds")
    finally:
        bench.close()
        catalog.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer seeds and iterations")
    ap.add_argument("--skip-chip", action="store_true", help="software (ideal) rows only")
    args = ap.parse_args()
    seeds = 4 if args.quick else 10
    bnn_ideal(seeds, 5)
    mcmc_ideal(seeds, 600 if args.quick else 1000, 200 if args.quick else 300)
    if args.skip_chip:
        return
    with tempfile.TemporaryDirectory() as tmp:
        bnn_chip((0.0, 2.0) if not args.quick else (2.0,), 5 if not args.quick else 1,
                 Path(tmp) / "bnn")
        mcmc_chip(3 if not args.quick else 1, 1000 if not args.quick else 200,
                  300 if not args.quick else 60, Path(tmp) / "mcmc")


if __name__ == "__main__":
    main()
