"""``memprobe campaign``: run (or resume) an environment campaign headless.

``memprobe campaign FILE [--bench B] [--data DIR] [--resume] [--fresh] [--seed N] [--no-figures]
[--quiet]``. The campaign (a file or a name in ``resources/campaigns``) is checked against the
bench file's limits before the bench is opened (one line, exit 2, nothing applied). A progress
bar (units done / total, ETA from this session's rate, and the bench time left: modeled on the
twin, from the bench time of the measurements done, at least a monitor schedule's time left)
goes to stderr; every limit that fires is printed with its reason; the last line on stdout is
the campaign output folder. SIGINT, SIGTERM or SIGHUP abort: outputs off, chuck separated,
heater set back to the safe temperature, cursor kept (``--resume`` continues at the first
measurement not completed). A limit with ``action = "pause"`` ends the session as ``paused``
(make the decision, then ``--resume``).

Exit codes: 0 completed, 1 aborted, failed, paused or stopped by a limit, 2 bad campaign or
arguments (or the bench is owned by another process, or a damaged catalog), 3 bench not
available, 128 + N stopped by signal N.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from gui.cli_session import (
    add_session_options,
    printer,
    resume_target,
    run_command,
    run_headless,
)
from instruments.bench import load_bench_config
from instruments.datadir import resolve_data_root

if TYPE_CHECKING:
    from instruments.bench_config import BenchConfig
    from instruments.bench_types import BenchInterface
    from procedures.campaign import Campaign
    from procedures.framework.catalog import Catalog


def add_campaign_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``campaign`` to the ``memprobe`` parser."""
    p = sub.add_parser("campaign", help="run an environment campaign (temperature steps, "
                       "monitoring; resumable)")
    p.add_argument("campaign", help="campaign TOML file or name in resources/campaigns "
                   "(temperature-demo)")
    add_session_options(p, "campaign", "a kill, abort, pause")
    p.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    p.set_defaults(func=cmd_campaign)


_err = printer("memprobe campaign")


def _clock(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds < 0:
        return "--:--"
    return tqdm.format_interval(int(seconds))


class CampaignBar:
    """tqdm bar on stderr: units done, the step's condition, ETA (and bench time left)."""

    def __init__(self, total: int) -> None:
        self.t0 = time.monotonic()
        self._bar = tqdm(total=float(total), desc="campaign", file=sys.stderr, leave=True,
                         mininterval=0.1, dynamic_ncols=True, unit="",
                         bar_format="{desc} |{bar:30}| {percentage:5.1f} %  {unit}")

    def show(self, p: Any) -> None:
        self._bar.set_description_str(f"campaign {p.done}/{p.total}"
                                      + (f" [{p.label}]" if p.label else ""), refresh=False)
        left = f", bench {_clock(p.bench_left_s)} left" if p.bench_left_s is not None else ""
        self._bar.unit = f"ETA {_clock(p.eta_s)}{left}"
        self._bar.n = p.fraction * self._bar.total
        self._bar.refresh()

    def write(self, text: str) -> None:
        self._bar.write(text, file=sys.stderr)

    def finish(self, state: str) -> None:
        self._bar.refresh()
        self._bar.close()
        print(f"campaign: {state} in {time.monotonic() - self.t0:.1f} s", file=sys.stderr,
              flush=True)


def cmd_campaign(args: argparse.Namespace) -> int:
    """``memprobe campaign``."""
    from procedures.campaign import CampaignError

    return run_command(args, _err, lambda: _checked(args), (CampaignError,))


def _checked(args: argparse.Namespace) -> Callable[[], int]:
    """Every check before the bench is opened (nothing can be applied); the execution."""
    from procedures.campaign import load_campaign

    campaign = load_campaign(args.campaign)
    config = load_bench_config(args.bench)
    campaign.validate(config.limits)
    root = resolve_data_root(args.data)
    return partial(_execute, campaign, config, root, args)


def _execute(campaign: Campaign, config: BenchConfig, root: Path, args: argparse.Namespace) -> int:
    from procedures.campaign import (
        CampaignCallbacks,
        CampaignRun,
        CampaignRunError,
        latest_campaign,
    )
    from procedures.campaign.cursor import peek

    out_dir, done = resume_target(
        args.resume, lambda: latest_campaign(root, campaign),
        lambda folder: (peek(folder) or {}).get("state") == "completed", campaign.name,
        campaign.name, _err)
    if done:
        return 0
    bar: CampaignBar | None = None

    def build(bench: BenchInterface, catalog: Catalog) -> CampaignRun:
        nonlocal bar
        callbacks = CampaignCallbacks()
        if out_dir is not None:
            run = CampaignRun.reopen(campaign, bench, root, catalog, out_dir, callbacks)
        else:
            run = CampaignRun.create(campaign, bench, root, catalog, callbacks)
        run.exit_on_pause = True
        run.draw_figures = not args.no_figures
        if not args.quiet:
            bar = CampaignBar(len(campaign.units()))
            callbacks.on_progress = bar.show
        callbacks.on_limit = (bar.write if bar is not None else _err)
        return run

    outcome, code = run_headless(config, root, args, _err, "the campaign", build,
                                 (CampaignRunError,))
    if outcome is None:
        return code
    if bar is not None:
        bar.finish(outcome.state)
    fit = outcome.outputs.get("arrhenius")
    if fit:
        err = fit.get("ea_err_ev")
        _err(f"Arrhenius fit over {fit['n_temperatures']} temperatures: E_a = "
             f"{fit['ea_ev']:.3f}" + (f" +- {err:.2g}" if err is not None else "") + " eV")
    _err(f"{outcome.state}: {outcome.done}/{outcome.total} measurements"
         + (f"; {outcome.reason}" if outcome.reason else "")
         + (f"; {outcome.error}" if outcome.error else ""))
    print(outcome.out_dir, flush=True)
    return 0 if outcome.state == "completed" else 1


__all__ = ["add_campaign_parser", "cmd_campaign"]
