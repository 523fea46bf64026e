"""The parts of a headless long session (``memprobe wafer``, ``memprobe campaign``) that do not
depend on what is run: the catalog and the bench opened with the command line's exit codes, and
the session started in the background and waited for under the shutdown signals."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gui.cli_run import one_line
from instruments.bench import BenchConfigError
from procedures.framework.shutdown import ShutdownSignals

Err = Callable[[str], None]


def fresh_resume_conflict(args: argparse.Namespace, err: Err) -> bool:
    """True (after saying why) if ``--fresh`` and ``--resume`` are both given."""
    if args.fresh and args.resume:
        err("--fresh starts a new simulated wafer; it cannot be combined with --resume")
        return True
    return False


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
