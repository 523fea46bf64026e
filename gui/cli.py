"""The ``memprobe`` command line. No Qt is imported unless the GUI is started.

``memprobe`` alone starts the GUI (``memprobe gui``); subcommands run the simulated lab standalone
and, in later versions, procedures and wafer runs headless.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from gui.cli_campaign import add_campaign_parser
from gui.cli_catalog import add_catalog_parser
from gui.cli_run import add_run_parsers
from gui.cli_twin import add_twin_parser
from gui.cli_wafer import add_wafer_parser
from instruments.datadir import resolve_data_root
from procedures.framework.shutdown import ShutdownSignals

log = logging.getLogger("memprobe")


def _add_gui(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gui", help="start the application (default)")
    p.add_argument("--bench", default="simulated",
                   help="bench name or TOML file (default: simulated)")
    p.add_argument("--data", type=Path, default=None,
                   help="data root (default: $MEMPROBE_DATA or ~/memprobe-data)")
    p.add_argument("--fresh", action="store_true", help="simulated bench: start from a new wafer")
    p.add_argument("--screenshot", type=Path, default=None,
                   help="run a short demo session, save a PNG of the main window and exit")
    p.set_defaults(func=_cmd_gui)


def _add_sim_lab(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sim-lab", help="serve the simulated lab on loopback until interrupted")
    p.add_argument("--seed", type=int, default=1, help="virtual wafer seed (default 1)")
    p.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
    p.add_argument("--data", type=Path, default=None,
                   help="data root where the wafer state is kept")
    p.add_argument("--fresh", action="store_true", help="start from a new, unformed wafer")
    p.add_argument("--time-scale", type=float, default=1.0,
                   help="modeled s per wall-clock s when pacing (default 1)")
    p.add_argument("--pace", action="store_true",
                   help="also take the modeled bench time in wall-clock (realistic demos)")
    p.add_argument("--bench-file", type=Path, default=None, metavar="TOML",
                   help="also write a bench file for this lab (use it with --bench TOML)")
    p.add_argument("--packaged", type=int, default=0, metavar="N",
                   help="packaged lab: N chips on a socket board (the first N good dies of the "
                        "wafer) under a ThermoStream (served as 'heater'), no prober")
    p.add_argument("--latency-ms", type=float, default=0.0,
                   help="delay (ms) before each command, to feel a real bench (default 0)")
    p.set_defaults(func=_cmd_sim_lab)


def _cmd_gui(args: argparse.Namespace) -> int:
    from gui.app import run_app  # Qt is imported here only

    return run_app(bench=args.bench, data_dir=args.data, fresh=args.fresh,
                   screenshot=args.screenshot, shutdown=ShutdownSignals.of(args))


def _cmd_sim_lab(args: argparse.Namespace) -> int:
    from instruments.ownership import BusyError
    from instruments.sim.lab import LabConfig, SimLab
    from instruments.sim.thermostream import ThermalHeadParams

    stop = threading.Event()
    with ShutdownSignals.of(args).on_stop(stop.set):  # a stop signal: servers stopped, saved
        try:
            cfg = LabConfig(
                seed=args.seed, data_dir=resolve_data_root(args.data), fresh=args.fresh,
                host=args.host, time_scale=args.time_scale, latency_ms=args.latency_ms,
                pace=args.pace, sockets=max(0, args.packaged),
                thermostream=ThermalHeadParams() if args.packaged > 0 else None,
            )
            lab = SimLab(cfg).start()
        except (OSError, ValueError, BusyError) as exc:  # BusyError: its wafer is served elsewhere
            print(f"memprobe sim-lab: {exc}", file=sys.stderr)
            return 2
        try:
            if args.bench_file is not None:
                from instruments.sim.remote_bench import write_sim_lab_bench

                write_sim_lab_bench(args.bench_file, lab)
            print(json.dumps(lab.resources()), flush=True)
            while not stop.wait(10.0):
                lab.save(changed_only=True)  # the lab also autosaves every few seconds itself
        finally:
            lab.stop()
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``memprobe``."""
    parser = argparse.ArgumentParser(
        prog="memprobe", description="Probe-station application for RRAM neuromorphic chips."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command")
    _add_gui(sub)
    _add_sim_lab(sub)
    add_run_parsers(sub)
    add_wafer_parser(sub)
    add_campaign_parser(sub)
    add_catalog_parser(sub)
    add_twin_parser(sub)
    return parser


def _configure_logging(args: argparse.Namespace) -> None:
    """Log lines on stderr: DEBUG with ``--verbose``; with ``--quiet`` (run, wafer, campaign)
    only warnings and errors, of every logger (the simulated servers' "listening" lines too);
    INFO otherwise. The level is the handler's, so loggers that set their own (pymeasure's
    worker) are quiet too. Nothing changes when the root logger already has handlers (a
    caller in the same process, e.g. a test under pytest)."""
    handler = logging.StreamHandler()
    if getattr(args, "quiet", False) and not args.verbose:
        handler.setLevel(logging.WARNING)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=[handler],
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``memprobe`` console script."""
    parser = build_parser()
    process_entry = argv is None  # the console script, not a caller in the same process
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help", "-v", "--verbose"):
        argv = ["gui", *argv]
    if argv in (["-v"], ["--verbose"]):
        argv = [*argv, "gui"]
    args = parser.parse_args(argv)
    _configure_logging(args)
    if args.command is None:
        args = parser.parse_args([*argv, "gui"])
    # every command, also any added later: SIGINT/SIGTERM/SIGHUP (Windows: Ctrl+Break, console
    # close) stop it in order, never twice (procedures.framework.shutdown); exit code 128 + signal
    with ShutdownSignals() as shutdown:
        args.shutdown = shutdown
        try:
            code = int(args.func(args) or 0)
        except KeyboardInterrupt:
            if shutdown.signum is None:
                raise
            code = 1
    if shutdown.signum is not None and process_entry:
        # stopped by a signal: the bench is safe, files and catalog closed; skip the interpreter's
        # clean-up of every loaded module (a second or more on a loaded machine)
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(shutdown.exit_code(code))
    return shutdown.exit_code(code)


if __name__ == "__main__":
    raise SystemExit(main())
