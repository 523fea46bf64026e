"""Helpers shared by the procedure tests: a procedure with its parameters set, a run prepared on
a bench, a run stopped at its first progress report, a refused parameter set."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from instruments.limits import LimitError
from procedures.framework.catalog import Catalog
from procedures.framework.runner import RunCallbacks, RunHandle, RunOutcome, prepare_run

#: s; hang guard of a stopped run's end (it ends on its event long before)
STOP_GUARD_S = 120.0


def with_params(proc: Any, **params: Any) -> Any:
    """``proc`` (a procedure instance) with ``params`` set as attributes, as written (no
    conversion: a wrong value reaches the procedure's own checks)."""
    for k, v in params.items():
        setattr(proc, k, v)
    return proc


def prepare(cls: type, bench, root: Path, callbacks: RunCallbacks | None = None,
            **params: Any) -> RunHandle:
    """A run of a new ``cls`` procedure with ``params`` prepared on ``bench`` (results under the
    data root ``root``, catalogued there), not started."""
    return prepare_run(with_params(cls(), **params), bench, root, Catalog(root), callbacks)


def stopped_at_first_progress(
        make: Callable[[RunCallbacks], RunHandle]) -> RunOutcome | None:
    """Prepare a run with ``make(callbacks)`` whose progress callback stops it at its first
    report above 0 %; start it and return its outcome once it has ended (None: the hang guard
    :data:`STOP_GUARD_S` passed first)."""
    holder: dict = {}
    fired = threading.Event()

    def on_progress(pct: float) -> None:
        if pct > 0 and not fired.is_set():
            fired.set()
            holder["handle"].stop()

    handle = make(RunCallbacks(on_progress=on_progress))
    holder["handle"] = handle
    return handle.start().wait(timeout=STOP_GUARD_S)


def assert_refused(proc: Any, params: dict[str, Any], words: list[str] | tuple[str, ...]) -> None:
    """Setting ``params`` on ``proc`` and validating it against the simulated bench's limits
    raises a ValueError or LimitError whose message holds every one of ``words``."""
    from instruments.bench import load_bench_config

    with pytest.raises((ValueError, LimitError)) as info:
        with_params(proc, **params)
        proc.validate(load_bench_config("simulated").limits)
    for w in words:
        assert w in str(info.value)
