"""Pause / resume / abort of a long session run in a background thread.

Shared by the wafer run (:class:`procedures.wafer.executor.WaferRun`) and the campaign
(:class:`procedures.campaign.executor.CampaignRun`): both check :attr:`_pause` and :attr:`_abort`
between measurements, and :meth:`abort` also stops the procedure run in progress (``_handle``,
any object with a ``stop()`` method, held by :meth:`BackgroundSession._run_stoppable` while a
run is going).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from instruments.bench_types import BenchInterface
    from procedures.framework.catalog import Catalog

OutcomeT = TypeVar("OutcomeT")


class BackgroundSession(Generic[OutcomeT]):
    """Control of a session from any thread; the subclass runs it and sets :attr:`outcome`."""

    outcome: OutcomeT | None

    def _init_session(self, bench: BenchInterface, data_root: Path, catalog: Catalog,
                      out_dir: Path, cursor: Any) -> None:
        """Keep what every session runs with (the open bench, the data root and catalog the
        runs are written to, the session's output folder and its persisted cursor) and make
        the control events (call from the subclass ``__init__``)."""
        self.bench = bench
        self.data_root = Path(data_root)
        self.catalog = catalog
        self.out_dir = Path(out_dir)
        self.cursor = cursor
        self._pause = threading.Event()
        self._abort = threading.Event()
        self._wake = threading.Event()
        self._handle: Any = None
        self._thread: threading.Thread | None = None

    def pause(self) -> None:
        """Pause after the current measurement (the subclass makes the bench safe meanwhile)."""
        self._pause.set()
        self._wake.set()

    def resume(self) -> None:
        """Continue a paused session."""
        self._pause.clear()
        self._wake.set()

    def abort(self) -> None:
        """Stop now: the current measurement is aborted (redone on a later resume)."""
        self._abort.set()
        self._wake.set()
        handle = self._handle
        if handle is not None:
            handle.stop()

    def _start_thread(self, target: Callable[..., Any], name: str,
                      args: tuple[Any, ...] = ()) -> None:
        """Run ``target(*args)`` in a daemon thread; an :meth:`abort` made after this call is
        honoured even before the thread gets going."""
        self._abort.clear()
        self._thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._thread.start()

    def wait(self, timeout: float | None = None) -> OutcomeT | None:
        """Wait for a session started in the background; the outcome (None if still running)."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.outcome

    def _run_stoppable(self, handle: Any) -> Any:
        """Run a prepared procedure run (:class:`~procedures.framework.runner.RunHandle`) to its
        end, held as :attr:`_handle` meanwhile so that :meth:`abort` stops it; its outcome."""
        self._handle = handle
        try:
            return handle.run_until_done(self._abort.is_set)
        finally:
            self._handle = None

    def make_safe(self) -> list[str]:
        """Outputs off, chuck separated (``bench.safe_state()``); the problems, if any."""
        try:
            return list(self.bench.safe_state())
        except Exception as exc:
            return [str(exc)]

    def _set_state(self, state: str, error: str = "") -> None:
        """Record ``state`` in the cursor (saved) and report it (the subclass)."""
        raise NotImplementedError

    def _pause_point(self, aborted: type[Exception], **info: Any) -> bool:
        """A checkpoint between measurements: raise ``aborted`` after an :meth:`abort`; False
        if not paused; else the bench made safe, state ``paused`` and a ``paused`` event
        (``info``) in the cursor, and True (the caller then waits, :meth:`_wait_while_paused`,
        or ends the session)."""
        if self._abort.is_set():
            raise aborted()
        if not self._pause.is_set():
            return False
        self.make_safe()
        self._set_state("paused")
        self.cursor.event("paused", **info)
        return True

    def _wait_while_paused(self) -> bool:
        """Block while paused (until resumed or aborted); True if aborted."""
        while self._pause.is_set() and not self._abort.is_set():
            self._wake.wait(0.2)
            self._wake.clear()
        return self._abort.is_set()
