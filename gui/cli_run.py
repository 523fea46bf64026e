"""``memprobe run`` and ``memprobe runs``: procedures and the catalog from the command line.

No Qt here. Parameters are validated against the bench file's limits before the bench is even
opened, so a bad value exits non-zero with a message naming the parameter and its allowed range
and nothing is applied.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gui.progress import ProgressBar
from instruments.bench import BenchConfigError, load_bench_config
from instruments.datadir import resolve_data_root
from instruments.limits import LimitError
from procedures.framework.base import BenchProcedure, set_parameters
from procedures.framework.eta import BenchEta
from procedures.framework.registry import PROCEDURES, procedure_class
from procedures.framework.shutdown import ShutdownSignals
from procedures.framework.validation import validate_procedure

QUIET_HELP = "no progress bar and no log lines but warnings and errors"
"""``--quiet`` of run, wafer and campaign (the log level is set in :mod:`gui.cli`)."""


def one_line(exc: BaseException) -> str:
    """An exception's text on one line (drivers' messages may span several)."""
    return " ".join(str(exc).split())


def quiet_runs(record: logging.LogRecord) -> bool:
    """Log filter: drop INFO and DEBUG records of pymeasure and the procedures (pymeasure's
    worker resets its own logger level on every run, so a level alone would not do)."""
    return record.levelno >= logging.WARNING or not record.name.startswith(
        ("pymeasure", "procedures"))


@contextmanager
def quiet_run_logs(verbose: bool) -> Iterator[None]:
    """While active (unless ``verbose``): :func:`quiet_runs` on the root logger's handlers."""
    handlers = [] if verbose else list(logging.getLogger().handlers)
    for handler in handlers:
        handler.addFilter(quiet_runs)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(quiet_runs)


def describe_parameters(cls: type[BenchProcedure]) -> str:
    """Human-readable table of a procedure's parameters: name, units, default, range."""
    lines = [f"{cls.NAME}: {(cls.__doc__ or '').strip().splitlines()[0]}", "",
             f"{'parameter':<18} {'default':>12} {'units':<14} allowed / description"]
    for name, param in cls().parameter_objects().items():
        units = getattr(param, "units", None) or ""
        allowed = ""
        if hasattr(param, "minimum") and hasattr(param, "maximum"):
            allowed = f"{param.minimum:g} .. {param.maximum:g}"
        elif hasattr(param, "choices") and param.choices:
            allowed = " | ".join(str(c) for c in param.choices)
        desc = param.description or param.name
        default = "" if param.default is None else str(param.default)
        lines.append(f"{name:<18} {default:>12} {units:<14} {allowed}  {desc}".rstrip())
    return "\n".join(lines)


def apply_settings(proc: BenchProcedure, settings: dict[str, str]) -> None:
    """Set parameters from text; ValueError naming the parameter and its allowed range."""
    set_parameters(proc, settings)


def _parse_sets(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--set expects NAME=VALUE, not {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def add_run_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``run`` and ``runs`` to the ``memprobe`` parser."""
    p = sub.add_parser("run", help="run one procedure headless", add_help=False)
    p.add_argument("procedure", nargs="?", help="procedure name (see --list)")
    p.add_argument("--list", action="store_true", help="list the procedures")
    p.add_argument("-h", "--help", action="store_true", help="show help (of a procedure)")
    p.add_argument("--bench", default="simulated", help="bench name or TOML file")
    p.add_argument("--die", default=None, help="die as COL,ROW (default: the die under the chuck)")
    p.add_argument("--subsite", type=int, default=None, help="subsite index")
    p.add_argument("--chip", type=int, default=None, metavar="K",
                   help="packaged bench (no prober): the socket of the chip to measure "
                        "(default: the chip selected now)")
    p.add_argument("--array", default=None, choices=["1T1R", "2T2R"], help="array")
    p.add_argument("--cell", "--cells", dest="cells", default=None,
                   help="cell(s): ROW,COL or 'r0-r1,c0-c1' or 'all'")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="NAME=VALUE",
                   help="set a parameter (repeatable)")
    p.add_argument("--data", type=Path, default=None, help="data root")
    p.add_argument("--fresh", action="store_true", help="simulated bench: new wafer")
    p.add_argument("--seed", type=int, default=None, help="simulated bench: wafer seed")
    p.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    p.add_argument("--operator", default=None,
                   help="who runs it (default: bench file, $MEMPROBE_OPERATOR, login name)")
    p.add_argument("--catalog", default=None,
                   help="catalog URL, e.g. postgresql+psycopg://host/memprobe (default: the "
                        "bench file's catalog, else <data>/catalog.sqlite)")
    p.set_defaults(func=cmd_run, parser=p)

    q = sub.add_parser("runs", help="list catalog entries")
    q.add_argument("--data", type=Path, default=None, help="data root")
    q.add_argument("--procedure", default=None, help="only this procedure")
    q.add_argument("--die", default=None, help="only this die (COL,ROW)")
    q.add_argument("--status", default=None, help="only this status")
    q.add_argument("--station", default=None, help="only runs measured on this station")
    q.add_argument("--operator", default=None, help="only runs of this operator")
    q.add_argument("--catalog", default=None, help="catalog URL (default: <data>/catalog.sqlite)")
    q.add_argument("--json", action="store_true", help="print a JSON list")
    q.set_defaults(func=cmd_runs)


def build_procedure(args: argparse.Namespace) -> BenchProcedure:
    """A procedure instance with the command line's target and settings applied."""
    cls = procedure_class(args.procedure)
    proc = cls()
    settings = _parse_sets(args.sets)
    if args.die is not None:
        settings["die"] = args.die
    if args.subsite is not None:
        settings["subsite"] = str(args.subsite)
    if getattr(args, "chip", None) is not None:
        settings["chip"] = str(args.chip)
    if args.array is not None:
        settings["array"] = args.array
    if args.cells is not None:
        settings["cells"] = args.cells
    if getattr(args, "operator", None):
        settings["operator"] = args.operator
    apply_settings(proc, settings)
    return proc


def cmd_run(args: argparse.Namespace) -> int:
    """``memprobe run``."""
    if args.list:
        for name, cls in sorted(PROCEDURES.items()):
            print(f"{name:<18} {(cls.__doc__ or '').strip().splitlines()[0]}")
        return 0
    if args.procedure is None:
        args.parser.print_help()
        return 0 if args.help else 2
    try:
        cls = procedure_class(args.procedure)
    except KeyError as exc:
        print(f"memprobe run: {exc.args[0]}", file=sys.stderr)
        return 2
    if args.help:
        print(describe_parameters(cls))
        return 0
    with quiet_run_logs(getattr(args, "verbose", False)):  # a bad input is one line
        return _checked_run(cls, args)


def _checked_run(cls: type[BenchProcedure], args: argparse.Namespace) -> int:
    try:
        config = load_bench_config(args.bench)
        proc = build_procedure(args)
        # before the bench is opened: nothing can be applied
        validate_procedure(proc, config.limits)
        root = resolve_data_root(args.data)
    except (ValueError, LimitError, BenchConfigError) as exc:
        print(f"memprobe run {args.procedure}: {exc}", file=sys.stderr)
        return 2
    return _execute(proc, config, root, args)


def _execute(proc: BenchProcedure, config: Any, root: Path, args: argparse.Namespace) -> int:
    from instruments.bench import Bench
    from instruments.ownership import BusyError
    from procedures.framework.catalog import Catalog, CatalogError
    from procedures.framework.runner import RunCallbacks, prepare_run

    try:  # a damaged catalog stops here, before the bench is opened
        catalog = Catalog(args.catalog or config.catalog or root)
    except CatalogError as exc:
        print(f"memprobe run: {exc}", file=sys.stderr)
        return 2
    bar = None if args.quiet else ProgressBar(proc.NAME)
    try:
        bench = Bench.open(config, data_dir=root, fresh=args.fresh, seed=args.seed)
    except BusyError as exc:  # another process owns the bench: nothing was touched
        print(f"memprobe run: {exc}", file=sys.stderr)
        catalog.close()
        return 2
    except (OSError, ValueError, BenchConfigError) as exc:  # e.g. no GPIB driver
        print(f"memprobe run: cannot open bench {config.name}: {one_line(exc)}", file=sys.stderr)
        catalog.close()
        return 3
    shutdown = ShutdownSignals.of(args)
    handles: list[Any] = []
    # from here on SIGINT/SIGTERM/SIGHUP only abort the run (the runner then turns outputs off,
    # separates and marks the entry aborted): the safe end and bench.close are never cut short
    with shutdown.on_stop(lambda: [h.stop(shutdown.reason) for h in handles]):
        try:
            if bar is not None:
                bar.use_eta(BenchEta(bench))  # bench time left, from the run's start
            callbacks = RunCallbacks(on_progress=bar.update if bar else None)
            try:  # the target against the prober's map: queries only, nothing has moved
                handle = prepare_run(proc, bench, root, catalog, callbacks)
            except ValueError as exc:
                print(f"memprobe run {proc.NAME}: {exc}", file=sys.stderr)
                return 2
            handles.append(handle)
            if shutdown.requested.is_set():
                print(f"memprobe run {proc.NAME}: stopped before it started", file=sys.stderr)
                return 1
            handle.start()
            while handle.wait(0.2) is None:
                pass
            outcome = handle.outcome
            assert outcome is not None
        finally:
            bench.close()  # outputs off, chuck separated (again), connections closed
            catalog.close()
    if bar:
        bar.finish(outcome.status)
    if outcome.error:
        print(f"memprobe run {proc.NAME}: {outcome.status}: {outcome.error}", file=sys.stderr)
    print(outcome.file)
    return {"finished": 0, "aborted": 1}.get(outcome.status, 1)


def cmd_runs(args: argparse.Namespace) -> int:
    """``memprobe runs``."""
    from gui.cli_catalog import open_data_catalog
    from procedures.framework.targets import parse_die

    try:
        die = parse_die(args.die) if args.die else None
    except ValueError as exc:
        print(f"memprobe runs: {exc}", file=sys.stderr)
        return 2
    opened = open_data_catalog(args, "memprobe runs")
    if opened is None:
        return 2
    _root, catalog = opened
    try:
        runs = catalog.runs(procedure=args.procedure, die=die, status=args.status,
                            station=args.station, operator=args.operator)
    finally:
        catalog.close()
    if args.json:
        print(json.dumps([r.to_json() for r in runs], indent=1))
        return 0
    print(f"{'id':>5} {'procedure':<16} {'status':<9} {'die':<8} {'sub':>3} {'array':<5} "
          f"{'station':<12} {'operator':<10} {'started':<20} file")
    for r in runs:
        die_text = f"{r.die[0]},{r.die[1]}" if r.die else "-"
        sub = "-" if r.subsite is None else str(r.subsite)
        print(f"{r.id:>5} {r.procedure:<16} {r.status:<9} {die_text:<8} {sub:>3} {r.array:<5} "
              f"{r.station or '-':<12} {r.operator or '-':<10} {r.started_at[:19]:<20} {r.file}")
    return 0
