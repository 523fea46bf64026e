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
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from gui.cli_session import (
    add_session_options,
    printer,
    resume_target,
    run_command,
    run_headless,
)
from gui.progress import WaferProgressBar
from instruments.bench import load_bench_config
from instruments.datadir import resolve_data_root

if TYPE_CHECKING:
    from instruments.bench_config import BenchConfig
    from instruments.bench_types import BenchInterface
    from instruments.wafermap import DieIndex
    from procedures.framework.catalog import Catalog
    from procedures.wafer import Recipe


def add_wafer_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``wafer`` to the ``memprobe`` parser."""
    p = sub.add_parser("wafer", help="run a wafer recipe (route of dies, binning, resume)")
    p.add_argument("recipe", help="recipe TOML file or name in resources/recipes (demo-wafer)")
    add_session_options(p, "recipe")
    p.add_argument("--dies", default=None, metavar="COL,ROW;...",
                   help="only these dies (recipe indices), in route order")
    p.add_argument("--no-maps", action="store_true", help="skip the PNG wafer maps")
    p.set_defaults(func=cmd_wafer)


_err = printer("memprobe wafer")


def cmd_wafer(args: argparse.Namespace) -> int:
    """``memprobe wafer``."""
    from procedures.wafer import RecipeError

    return run_command(args, _err, lambda: _checked(args), (RecipeError,))


def _checked(args: argparse.Namespace) -> Callable[[], int]:
    """Every check before the bench is opened (nothing can be applied); the execution."""
    from procedures.wafer import load_recipe, parse_dies

    recipe = load_recipe(args.recipe)
    config = load_bench_config(args.bench)
    if config.packaged:
        raise ValueError(f"bench {config.name} has no prober (packaged chips on a board): "
                         "a wafer run needs one; run procedures with --chip K instead")
    recipe.validate(config.limits)
    dies = parse_dies(args.dies) if args.dies else None
    if dies is not None:
        recipe.plan_route(dies)
    root = resolve_data_root(args.data)  # a writable folder, before anything moves
    return partial(_execute, recipe, config, dies, root, args)


def _execute(recipe: Recipe, config: BenchConfig, dies: list[DieIndex] | None, root: Path,
             args: argparse.Namespace) -> int:
    from procedures.wafer import (
        WaferCallbacks,
        WaferRun,
        WaferRunError,
        latest_run,
        load_cursor,
    )

    out_dir, done = resume_target(
        args.resume, lambda: latest_run(root, recipe),
        lambda folder: load_cursor(folder).state == "completed", recipe.name,
        f"{recipe.name} on {recipe.wafer.lot}/{recipe.wafer.wafer_id}", _err)
    if done:
        return 0
    if out_dir is not None and dies is not None:
        route = list(load_cursor(out_dir).route)
        if route != recipe.plan_route(dies):
            _err(f"--dies differs from the route of the run being resumed ({out_dir})")
            return 2
    bar: WaferProgressBar | None = None

    def build(bench: BenchInterface, catalog: Catalog) -> WaferRun:
        nonlocal bar
        callbacks = WaferCallbacks()
        if out_dir is not None:
            run = WaferRun.reopen(recipe, bench, root, catalog, out_dir, callbacks)
        else:
            run = WaferRun.create(recipe, bench, root, catalog, dies, callbacks)
        run.draw_maps = not args.no_maps
        if not args.quiet:
            bar = b = WaferProgressBar(len(run.route))
            callbacks.on_progress = lambda p: b.show(p.dies_done, p.fraction, p.eta_s)
        return run

    outcome, code = run_headless(config, root, args, _err, "the wafer run", build,
                                 (WaferRunError,))
    if outcome is None:
        return code
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
