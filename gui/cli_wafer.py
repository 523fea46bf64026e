"""``memprobe wafer``: run (or resume) a wafer recipe headless.

``memprobe wafer RECIPE [--bench B] [--data DIR] [--resume] [--dies COL,ROW;...] [--fresh]
[--quiet]``. The recipe (a file or a name in ``resources/recipes``) is checked against the bench
file's limits before the bench is opened. A progress bar (dies done / total, ETA) goes to
stderr; the last line printed on stdout is the wafer output folder (``wafer_summary.csv``,
``bins.xml``, maps, ``cursor.json``). SIGINT (Ctrl-C), SIGTERM or SIGHUP aborts after making the
bench safe; ``--resume`` continues the newest run of the recipe (nothing to do if it is complete;
a new run if there is none).

Exit codes: 0 completed, 1 aborted or failed, 2 bad recipe or arguments, a bench owned by another
process or a damaged catalog (nothing moved), 3 bench not available, 4 preflight failed (nothing
moved), 128 + N stopped by signal N (130 SIGINT, 143 SIGTERM, 129 SIGHUP).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from gui.cli_run import QUIET_HELP, quiet_run_logs
from gui.cli_session import fresh_resume_conflict, open_bench, open_catalog, start_and_wait
from gui.progress import WaferProgressBar
from instruments.bench import BenchConfigError, load_bench_config
from instruments.datadir import resolve_data_root
from procedures.framework.shutdown import ShutdownSignals


def add_wafer_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``wafer`` to the ``memprobe`` parser."""
    p = sub.add_parser("wafer", help="run a wafer recipe (route of dies, binning, resume)")
    p.add_argument("recipe", help="recipe TOML file or name in resources/recipes (demo-wafer)")
    p.add_argument("--bench", default="simulated", help="bench name or TOML file")
    p.add_argument("--data", type=Path, default=None, help="data root")
    p.add_argument("--resume", action="store_true",
                   help="continue the newest run of this recipe (after a kill or abort)")
    p.add_argument("--dies", default=None, metavar="COL,ROW;...",
                   help="only these dies (recipe indices), in route order")
    p.add_argument("--fresh", action="store_true", help="simulated bench: start a new wafer")
    p.add_argument("--seed", type=int, default=None, help="simulated bench: wafer seed")
    p.add_argument("--no-maps", action="store_true", help="skip the PNG wafer maps")
    p.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    p.set_defaults(func=cmd_wafer)


def _err(text: str) -> None:
    print(f"memprobe wafer: {text}", file=sys.stderr, flush=True)


def cmd_wafer(args: argparse.Namespace) -> int:
    """``memprobe wafer``."""
    # per-run INFO lines would drown the progress bar
    with quiet_run_logs(getattr(args, "verbose", False)):
        return _checked_wafer(args)


def _checked_wafer(args: argparse.Namespace) -> int:
    from procedures.wafer import RecipeError, load_recipe, parse_dies

    if fresh_resume_conflict(args, _err):
        return 2
    try:
        recipe = load_recipe(args.recipe)
        config = load_bench_config(args.bench)
        if config.packaged:  # before the bench is opened
            raise ValueError(f"bench {config.name} has no prober (packaged chips on a board): "
                             "a wafer run needs one; run procedures with --chip K instead")
        recipe.validate(config.limits)  # before the bench is opened: nothing can be applied
        dies = parse_dies(args.dies) if args.dies else None
        if dies is not None:
            recipe.plan_route(dies)
        root = resolve_data_root(args.data)  # a writable folder, before anything moves
    except (RecipeError, BenchConfigError, ValueError) as exc:
        _err(str(exc))
        return 2
    return _execute(recipe, config, dies, root, args)


def _execute(recipe: Any, config: Any, dies: Any, root: Path, args: argparse.Namespace) -> int:
    from procedures.wafer import (
        WaferCallbacks,
        WaferRun,
        WaferRunError,
        latest_run,
        load_cursor,
    )

    out_dir = latest_run(root, recipe) if args.resume else None
    if out_dir is not None and load_cursor(out_dir).state == "completed":
        _err(f"the last run of {recipe.name} is already complete; nothing to resume")
        print(out_dir, flush=True)
        return 0
    if args.resume and out_dir is None:
        _err(f"no run of {recipe.name} on {recipe.wafer.lot}/{recipe.wafer.wafer_id} to resume; "
             "starting a new one")
    catalog = open_catalog(config, root, _err)
    if catalog is None:
        return 2
    if out_dir is not None and dies is not None:
        route = list(load_cursor(out_dir).route)
        if route != recipe.plan_route(dies):
            _err(f"--dies differs from the route of the run being resumed ({out_dir})")
            catalog.close()
            return 2
    bar: WaferProgressBar | None = None
    bench, code = open_bench(config, root, args, catalog, _err)
    if bench is None:
        return code
    run = None
    stopper = ShutdownSignals.of(args)
    # from here on SIGINT/SIGTERM/SIGHUP only abort the run (which makes the bench safe): the
    # safe end and bench.close below are never cut short by a KeyboardInterrupt
    with stopper.on_stop(lambda: run.abort() if run is not None else None):
        try:
            callbacks = WaferCallbacks()
            if out_dir is not None:
                run = WaferRun.reopen(recipe, bench, root, catalog, out_dir, callbacks)
            else:
                run = WaferRun.create(recipe, bench, root, catalog, dies, callbacks)
            run.draw_maps = not args.no_maps
            if not args.quiet:
                bar = WaferProgressBar(len(run.route))
                b = bar
                callbacks.on_progress = lambda p: b.show(p.dies_done, p.fraction, p.eta_s)
            outcome = start_and_wait(run, stopper, _err, "the wafer run")
            if outcome is None:
                return 1
        except (WaferRunError, ValueError) as exc:
            _err(str(exc))
            if run is not None:
                print(run.out_dir)
            return 2
        finally:
            bench.close()
            catalog.close()
    if bar is not None:
        bar.finish(outcome.state)
    y = outcome.yield_counts
    print(f"memprobe wafer: {outcome.state}: {outcome.dies_done}/{outcome.dies_total} dies; "
          f"tested {y.get('tested')}, passed {y.get('passed')}, failed {y.get('failed')}"
          + (f"; {outcome.error}" if outcome.error else ""), file=sys.stderr, flush=True)
    print(outcome.out_dir, flush=True)
    if outcome.state == "completed":
        return 0
    if outcome.preflight_failed:
        return 4
    return 1


__all__ = ["add_wafer_parser", "cmd_wafer"]
