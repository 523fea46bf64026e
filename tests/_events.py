"""Waiting on events in tests: rows in results files, a condition on a running process.

Tests wait for something to happen (N rows on disk, a state in a file), never for a time; the
only clock here is a hang guard that turns a process that never gets there into a failure.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

GUARD_S = 90.0  # hang guard only: every wait ends on its event long before


def results_files(root: Path) -> list[Path]:
    """Procedure results files under a data root (``<lot>/<wafer>/<die>/<subsite>/*.csv``)."""
    return sorted(Path(root).glob("*/*/c*r*/s*/*.csv"))


def data_rows(path: Path) -> int:
    """Data rows written so far to a pymeasure results file (header and labels not counted)."""
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return 0
    return max(0, sum(1 for ln in lines if ln and not ln.startswith("#")) - 1)


def total_rows(root: Path) -> int:
    """Data rows in every results file under ``root``."""
    return sum(data_rows(f) for f in results_files(root))


def last_json(root: Path, pattern: str) -> dict | None:
    """The last (in name order) file under ``root`` matching the glob ``pattern``, parsed as
    JSON; None while there is none, or while it cannot be read or parsed (being replaced)."""
    found = sorted(Path(root).glob(pattern))
    if not found:
        return None
    try:
        return json.loads(found[-1].read_text())
    except (OSError, ValueError):
        return None


def wait_for(condition: Callable[[], bool], proc: subprocess.Popen | None, what: str,
             guard_s: float = GUARD_S) -> None:
    """Poll until ``condition()``; fail if ``proc`` ended first (or at the hang guard)."""
    end = time.monotonic() + guard_s
    while not condition():
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the process ended (rc {proc.returncode}) before {what}")
        if time.monotonic() > end:
            if proc is not None:
                proc.kill()
                proc.wait()
            pytest.fail(f"hang guard: never saw {what}")
        time.sleep(0.02)
