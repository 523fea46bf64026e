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
from pathlib import Path
from typing import Any

from tqdm import tqdm

from gui.cli_run import QUIET_HELP, quiet_run_logs
from gui.cli_session import fresh_resume_conflict, open_bench, open_catalog, start_and_wait
from instruments.bench import BenchConfigError, load_bench_config
from instruments.datadir import resolve_data_root
from procedures.framework.shutdown import ShutdownSignals


def add_campaign_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``campaign`` to the ``memprobe`` parser."""
    p = sub.add_parser("campaign", help="run an environment campaign (temperature steps, "
                       "monitoring; resumable)")
    p.add_argument("campaign", help="campaign TOML file or name in resources/campaigns "
                   "(temperature-demo)")
    p.add_argument("--bench", default="simulated", help="bench name or TOML file")
    p.add_argument("--data", type=Path, default=None, help="data root")
    p.add_argument("--resume", action="store_true",
                   help="continue the newest run of this campaign (after a kill, abort, pause)")
    p.add_argument("--fresh", action="store_true", help="simulated bench: start a new wafer")
    p.add_argument("--seed", type=int, default=None, help="simulated bench: wafer seed")
    p.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    p.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    p.set_defaults(func=cmd_campaign)


def _err(text: str) -> None:
    print(f"memprobe campaign: {text}", file=sys.stderr, flush=True)


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
    with quiet_run_logs(getattr(args, "verbose", False)):
        return _checked(args)


def _checked(args: argparse.Namespace) -> int:
    from procedures.campaign import CampaignError, load_campaign

    if fresh_resume_conflict(args, _err):
        return 2
    try:
        campaign = load_campaign(args.campaign)
        config = load_bench_config(args.bench)
        campaign.validate(config.limits)  # before the bench is opened: nothing applied
        root = resolve_data_root(args.data)
    except (CampaignError, BenchConfigError, ValueError) as exc:
        _err(str(exc))
        return 2
    return _execute(campaign, config, root, args)


def _execute(campaign: Any, config: Any, root: Path, args: argparse.Namespace) -> int:
    from procedures.campaign import (
        CampaignCallbacks,
        CampaignRun,
        CampaignRunError,
        latest_campaign,
    )
    from procedures.campaign.cursor import peek

    out_dir = latest_campaign(root, campaign) if args.resume else None
    if out_dir is not None and (peek(out_dir) or {}).get("state") == "completed":
        _err(f"the last run of {campaign.name} is already complete; nothing to resume")
        print(out_dir, flush=True)
        return 0
    if args.resume and out_dir is None:
        _err(f"no run of {campaign.name} to resume; starting a new one")
    catalog = open_catalog(config, root, _err)
    if catalog is None:
        return 2
    bench, code = open_bench(config, root, args, catalog, _err)
    if bench is None:
        return code
    run = None
    bar: CampaignBar | None = None
    stopper = ShutdownSignals.of(args)
    with stopper.on_stop(lambda: run.abort() if run is not None else None):
        try:
            callbacks = CampaignCallbacks()
            if out_dir is not None:
                run = CampaignRun.reopen(campaign, bench, root, catalog, out_dir, callbacks)
            else:
                run = CampaignRun.create(campaign, bench, root, catalog, callbacks)
            run.exit_on_pause = True
            run.draw_figures = not args.no_figures
            if not args.quiet:
                bar = CampaignBar(len(campaign.units()))
                b = bar
                callbacks.on_progress = b.show
            callbacks.on_limit = (bar.write if bar is not None else _err)
            outcome = start_and_wait(run, stopper, _err, "the campaign")
            if outcome is None:
                return 1
        except (CampaignRunError, ValueError) as exc:
            _err(str(exc))
            if run is not None:
                print(run.out_dir)
            return 2
        finally:
            bench.close()
            catalog.close()
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
