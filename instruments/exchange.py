"""One request, one reply: every exchange with an instrument is atomic, and in step after a timeout.

A query is a write and a read on one connection. Two threads on one driver (the GUI's bench I/O
worker reading the status while a run's thread measures, a file reader, a twin report...) must
never interleave them, or one thread reads the other's reply: a prober would report a wrong
position or a wrong contact state. And a request whose reply comes *after* its timeout leaves that
late reply in the connection, where the next request would take it for its own.

:class:`SerialExchange` goes first in a pymeasure driver's bases (it counts the lines sent too,
as :class:`~instruments.round_trips.RoundTripCounter`) and gives each driver instance one
re-entrant lock held by ``write``, ``read``, ``ask``, ``values`` and the byte reads, and by
:meth:`SerialExchange.exchange` for a driver's own write-then-read sequences (a trigger and its
data). pymeasure's channels (``prober.chuck``, the B1500's SMUs) write and read through their
parent, so a channel's query takes :class:`SerialChannel` to be atomic as well.

After a read times out the connection is marked out of step; the next exchange (even one
started in the same thread, e.g. an error query after the timeout) first resynchronises:
it sends the driver's ``resync_query`` (``*IDN?``, whose reply no other command's reply looks
like) and drops every line until the one that matches ``resync_reply``. The instrument answers
in order, so the late reply comes before the marker's and is dropped; if the marker's reply
does not come either (the instrument is still busy), :class:`ExchangeOutOfStepError` says so
and the connection stays marked. A plain write is sent even then (it reads no reply): the
safe state's commands reach the instrument whatever state the replies are in.
Drivers whose replies carry ids (the Velox message server) match them instead and set
``resync_query`` to None.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from instruments.round_trips import RoundTripCounter

log = logging.getLogger(__name__)

RESYNC_MAX_LINES = 64  #: stale lines dropped at most while resynchronising


class ExchangeOutOfStepError(ConnectionError):
    """A driver could not pair replies with its requests again (nothing was sent after it)."""


def is_timeout(exc: BaseException) -> bool:
    """``exc`` is a read timeout (pyvisa's VI_ERROR_TMO, a socket or Python timeout)."""
    if isinstance(exc, TimeoutError):  # socket.timeout too
        return True
    try:
        import pyvisa

        return (isinstance(exc, pyvisa.errors.VisaIOError)
                and exc.error_code == pyvisa.constants.StatusCode.error_timeout)
    except ImportError:  # pragma: no cover - pyvisa is a dependency
        return False


class SerialExchange(RoundTripCounter):
    """Mixin of a pymeasure ``Instrument``: one lock per connection around each exchange, and a
    resynchronisation after a timed-out read (see the module docstring).

    Class attributes a driver sets: ``resync_query`` (a query every state of the instrument
    answers; None, the default: no resynchronisation, e.g. a driver that matches reply ids
    itself) and ``resync_reply`` (a regular expression that matches the marker's reply line
    and no other reply).
    """

    resync_query: str | None = None
    resync_reply: str = r"^$"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._exchange_lock = threading.RLock()
        self._out_of_step = False
        self._markers_owed = 0  # replies of resynchronisation queries still to come
        super().__init__(*args, **kwargs)

    @contextmanager
    def exchange(self) -> Iterator[None]:
        """Hold the connection for a sequence of writes and reads (re-entrant); resynchronise
        first if an earlier read timed out; mark the connection out of step if one times out
        here."""
        with self._exchange_lock:
            if self._out_of_step:
                self._resync()
            try:
                yield
            except BaseException as exc:
                # a timed-out read leaves its reply in flight; so may an interrupted one
                # (KeyboardInterrupt from SIGINT/SIGTERM while waiting for a reply)
                if is_timeout(exc) or not isinstance(exc, Exception):
                    self.mark_out_of_step()
                raise

    def mark_out_of_step(self) -> None:
        """The replies may no longer pair with the requests (a driver that found a reply of
        the wrong form says so): the next exchange resynchronises first."""
        self._out_of_step = self.resync_query is not None

    def _resync(self) -> None:
        """Send the marker query and drop every line up to its reply (and up to the replies of
        the markers of earlier attempts that timed out)."""
        self._out_of_step = False  # the marker's own exchange must not resync again
        name = getattr(self, "name", type(self).__name__)
        marker = re.compile(self.resync_reply)
        self._markers_owed += 1
        try:
            self.adapter.write(self.resync_query)
            for _ in range(RESYNC_MAX_LINES + self._markers_owed):
                line = self.adapter.read()
                if not marker.search(line):
                    log.warning("%s: dropped a late reply %r", name, line.strip())
                    continue
                self._markers_owed -= 1
                if not self._markers_owed:
                    log.info("%s: replies in step again", name)
                    return
        except BaseException as exc:
            self._out_of_step = True
            if not isinstance(exc, Exception):  # interrupted: the marker may still answer
                raise
            raise ExchangeOutOfStepError(
                f"{name}: a reply came late and the connection could not be resynchronised "
                f"({exc}); nothing was sent") from exc
        self._out_of_step = True
        raise ExchangeOutOfStepError(f"{name}: no reply to {self.resync_query!r} among "
                                     f"{RESYNC_MAX_LINES} stale lines; nothing was sent")

    def write(self, command: str, **kwargs: Any) -> None:
        """Send ``command`` holding the connection, resynchronised first when an earlier read
        timed out (so a plain write and the plain read of its reply stay a pair). If the
        instrument does not answer the resynchronisation the command is sent all the same (a
        write reads no reply, so it cannot take another request's): the safe state's commands
        (a B1500's ``DZ``/``CL``) must reach the instrument; the next read tries again."""
        with self._exchange_lock:
            if self._out_of_step:
                try:
                    self._resync()
                except ExchangeOutOfStepError as exc:
                    log.warning("replies out of step, %r sent all the same: %s", command, exc)
            super().write(command, **kwargs)

    def read(self, **kwargs: Any) -> str:
        """Read a reply holding the connection."""
        with self.exchange():
            return super().read(**kwargs)  # type: ignore[misc]

    def read_bytes(self, count: int, **kwargs: Any) -> bytes:
        """Read ``count`` bytes holding the connection."""
        with self.exchange():
            return super().read_bytes(count, **kwargs)  # type: ignore[misc]

    def ask(self, command: str, query_delay: float | None = None) -> str:
        """Write ``command`` and read its reply as one exchange."""
        with self.exchange():
            return super().ask(command, query_delay)  # type: ignore[misc]

    def values(self, command: str, *args: Any, **kwargs: Any) -> Any:
        """pymeasure's ``values`` (a query and its parsing) as one exchange."""
        with self.exchange():
            return super().values(command, *args, **kwargs)  # type: ignore[misc]

    def binary_values(self, command: str, *args: Any, **kwargs: Any) -> Any:
        """pymeasure's ``binary_values`` as one exchange."""
        with self.exchange():
            return super().binary_values(command, *args, **kwargs)  # type: ignore[misc]


class SerialChannel:
    """Mixin of a pymeasure ``Channel`` of a :class:`SerialExchange` driver: its queries hold
    the parent's connection from the write to the read."""

    def ask(self, command: str, query_delay: float | None = None) -> str:
        """Write ``command`` and read its reply as one exchange of the parent."""
        with self.parent.exchange():  # type: ignore[attr-defined]
            return super().ask(command, query_delay)  # type: ignore[misc]

    def values(self, command: str, *args: Any, **kwargs: Any) -> Any:
        """pymeasure's ``values`` as one exchange of the parent."""
        with self.parent.exchange():  # type: ignore[attr-defined]
            return super().values(command, *args, **kwargs)  # type: ignore[misc]


__all__ = ["ExchangeOutOfStepError", "SerialChannel", "SerialExchange", "is_timeout"]
