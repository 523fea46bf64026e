"""The parts of a headless long session (``memprobe wafer``, ``memprobe campaign``) that do not
depend on what is run: which folder ``--resume`` continues, the catalog and the bench opened with
the command line's exit codes, and the session started in the background and waited for under
the shutdown signals (:func:`run_command` checks, :func:`run_headless` runs)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gui.cli_run import QUIET_HELP, one_line, quiet_run_logs
from instruments.bench import BenchConfigError
from procedures.framework.shutdown import ShutdownSignals

Err = Callable[[str], None]


def add_session_options(p: argparse.ArgumentParser, what: str,
                        after: str = "a kill or abort") -> None:
    """The options every headless session command has: ``--bench``, ``--data``, ``--resume``
    (continue the newest run of this ``what``, ``after`` what), ``--fresh``, ``--seed`` and
    ``--quiet``."""
    p.add_argument("--bench", default="simulated", help="bench name or TOML file")
    p.add_argument("--data", type=Path, default=None, help="data root")
    p.add_argument("--resume", action="store_true",
                   help=f"continue the newest run of this {what} (after {after})")
    p.add_argument("--fresh", action="store_true", help="simulated bench: start a new wafer")
    p.add_argument("--seed", type=int, default=None, help="simulated bench: wafer seed")
    p.add_argument("--quiet", action="store_true", help=QUIET_HELP)


def printer(prog: str) -> Err:
    """A function printing ``<prog>: <text>`` on stderr (flushed)."""
    return lambda text: print(f"{prog}: {text}", file=sys.stderr, flush=True)


def run_command(args: argparse.Namespace, err: Err, checked: Callable[[], Callable[[], int]],
                errors: tuple[type[Exception], ...]) -> int:
    """A headless session command: per-run INFO log lines quieted (they would drown the progress
    bar), ``--fresh`` with ``--resume`` refused, then ``checked()``: every check made before
    the bench is opened (a failure, one of ``errors``, a bench file error or a ValueError, is
    said in one line: exit code 2, nothing applied), which returns the execution (its exit
    code is the command's)."""
    with quiet_run_logs(getattr(args, "verbose", False)):
        if fresh_resume_conflict(args, err):
            return 2
        try:
            execute = checked()
        except (*errors, BenchConfigError, ValueError) as exc:
            err(str(exc))
            return 2
        return execute()


def fresh_resume_conflict(args: argparse.Namespace, err: Err) -> bool:
    """True (after saying why) if ``--fresh`` and ``--resume`` are both given."""
    if args.fresh and args.resume:
        err("--fresh starts a new simulated wafer; it cannot be combined with --resume")
        return True
    return False


def resume_target(resume: bool, latest: Callable[[], Path | None],
                  complete: Callable[[Path], bool], name: str, none_text: str,
                  err: Err) -> tuple[Path | None, bool]:
    """What ``--resume`` continues: ``(folder, False)`` for the newest run (``latest()``),
    ``(None, False)`` for a new run (saying ``no run of <none_text> to resume`` when
    ``--resume`` found none), or ``(folder, True)`` when that run is ``complete`` already
    (said, and its folder printed on stdout: nothing to do, exit code 0)."""
    out_dir = latest() if resume else None
    if out_dir is not None and complete(out_dir):
        err(f"the last run of {name} is already complete; nothing to resume")
        print(out_dir, flush=True)
        return out_dir, True
    if resume and out_dir is None:
        err(f"no run of {none_text} to resume; starting a new one")
    return out_dir, False


def open_catalog(config: Any, root: Path, err: Err) -> Any | None:
    """The bench file's shared catalog (several stations), else ``<root>/catalog.sqlite``
    (opening marks runs of killed processes as aborted); None after saying why it cannot be
    opened (exit code 2, before the bench is opened: nothing moves)."""
    from procedures.framework.catalog import Catalog, CatalogError

    try:
        return Catalog(getattr(config, "catalog", "") or root)
    except CatalogError as exc:
        err(str(exc))
        return None


def open_bench(config: Any, root: Path, args: argparse.Namespace, catalog: Any,
               err: Err) -> tuple[Any, int]:
    """``(bench, 0)``, or ``(None, exit code)`` with ``catalog`` closed: 2 if another process owns
    the bench (nothing was touched), 3 if it cannot be opened (e.g. no GPIB driver)."""
    from instruments.bench import Bench
    from instruments.ownership import BusyError

    try:
        return Bench.open(config, data_dir=root, fresh=args.fresh, seed=args.seed), 0
    except BusyError as exc:
        err(str(exc))
        catalog.close()
        return None, 2
    except (OSError, ValueError, BenchConfigError) as exc:
        err(f"cannot open bench {config.name}: {one_line(exc)}")
        catalog.close()
        return None, 3


def start_and_wait(run: Any, stopper: ShutdownSignals, err: Err, what: str) -> Any | None:
    """Start ``run`` in the background and wait for its outcome; None (after saying so) if a
    stop was requested before it started. ``what`` names it (``the wafer run``)."""
    if stopper.requested.is_set():
        err(f"stopped before {what} started")
        return None
    run.start()
    if stopper.requested.is_set():  # arrived as start() cleared the abort flag
        run.abort()
    while run.wait(0.2) is None:
        pass
    outcome = run.outcome
    assert outcome is not None
    return outcome


def run_headless(config: Any, root: Path, args: argparse.Namespace, err: Err, what: str,
                 build: Callable[[Any, Any], Any],
                 errors: tuple[type[Exception], ...]) -> tuple[Any | None, int]:
    """Open the catalog and the bench, ``build(bench, catalog)`` the run, start it and wait for
    its outcome; the bench and the catalog are closed however it ends. From the build on,
    SIGINT/SIGTERM/SIGHUP only abort the run (which makes the bench safe): the safe end and the
    closing are never cut short by a KeyboardInterrupt.

    ``(outcome, 0)``, or ``(None, exit code)``: 2 catalog damaged, bench owned by another
    process, or the run refused (one of ``errors`` or a ValueError, said; the run's folder is
    printed if it was made), 3 bench not available, 1 stopped before the run started. ``what``
    names the run in messages (``the wafer run``)."""
    catalog = open_catalog(config, root, err)
    if catalog is None:
        return None, 2
    bench, code = open_bench(config, root, args, catalog, err)
    if bench is None:
        return None, code
    run = None
    stopper = ShutdownSignals.of(args)
    with stopper.on_stop(lambda: run.abort() if run is not None else None):
        try:
            run = build(bench, catalog)
            outcome = start_and_wait(run, stopper, err, what)
            return outcome, 0 if outcome is not None else 1
        except (*errors, ValueError) as exc:
            err(str(exc))
            if run is not None:
                print(run.out_dir)
            return None, 2
        finally:
            bench.close()
            catalog.close()
