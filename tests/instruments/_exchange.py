"""Helpers of the exchange tests: a relay that holds an instrument's replies until released (a
reply that comes after its request timed out), and a race of two threads on one driver that
puts the second request between the first one's write and read whenever the driver allows it.

Both are deterministic: they wait on events, never on wall-clock offsets.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Any

WAIT_S = 10.0  #: bound of every wait on an event (a failing driver must not hang the suite)


def address_of(resource: str) -> tuple[str, int]:
    """(host, port) of a ``TCPIP::host::port::SOCKET`` resource."""
    parts = resource.split("::")
    return parts[1], int(parts[2])


class HeldRelay:
    """A TCP relay between one client and an instrument server on 127.0.0.1.

    Requests pass at once; replies pass while the relay is open and wait (in order) while it
    is held: ``hold()``, a query times out, ``release()`` and its reply arrives late.
    """

    def __init__(self, server: tuple[str, int]) -> None:
        self._server = server
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._open = threading.Event()
        self._open.set()
        self._socks: list[socket.socket] = [self._listener]
        self._thread = threading.Thread(target=self._accept, name="held-relay", daemon=True)
        self._thread.start()

    @property
    def resource(self) -> str:
        """The VISA resource a driver connects to."""
        host, port = self._listener.getsockname()[:2]
        return f"TCPIP::{host}::{port}::SOCKET"

    def hold(self) -> None:
        """Keep every reply from now on until :meth:`release`."""
        self._open.clear()

    def release(self) -> None:
        """Let the held replies (and the next ones) through."""
        self._open.set()

    def _accept(self) -> None:
        try:
            client, _ = self._listener.accept()
        except OSError:
            return
        upstream = socket.create_connection(self._server)
        self._socks += [client, upstream]
        threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
        self._pump(upstream, client, True)

    def _pump(self, src: socket.socket, dst: socket.socket, gated: bool) -> None:
        try:
            while chunk := src.recv(65536):
                if gated:
                    self._open.wait()
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        """Stop relaying (both connections closed)."""
        self._open.set()
        for s in self._socks:
            s.close()


class _ObservedLock:
    """A re-entrant lock that tells when a thread has to wait for it."""

    def __init__(self, contended: threading.Event) -> None:
        self._lock = threading.RLock()
        self._contended = contended

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if self._lock.acquire(blocking=False):
            return True
        self._contended.set()
        return self._lock.acquire(blocking, timeout)

    def release(self) -> None:
        self._lock.release()

    __enter__ = acquire

    def __exit__(self, *exc: object) -> None:
        self.release()


def race(driver: Any, first: Callable[[], Any], first_line: str,
         second: Callable[[], Any]) -> tuple[Any, Any]:
    """Run ``first`` and ``second`` on ``driver`` in two threads, the second started while the
    first has written ``first_line`` and not yet read its reply. Returns (first's result,
    second's result); an exception of either is raised here.

    The driver's adapter is wrapped so that the thread writing ``first_line`` waits, after the
    write, until the other thread has either done its whole query (a driver without a lock:
    it then reads the first one's reply) or waits for the driver's connection lock
    (``_exchange_lock``, replaced by one that reports it)."""
    first_wrote, second_in = threading.Event(), threading.Event()
    driver._exchange_lock = _ObservedLock(second_in)
    adapter = driver.adapter
    real_write = adapter.write

    def write(command: str, **kwargs: Any) -> None:
        real_write(command, **kwargs)
        if command.strip() == first_line and not first_wrote.is_set():
            first_wrote.set()
            assert second_in.wait(WAIT_S), "the second request never came"

    adapter.write = write
    results: dict[str, Any] = {}

    def run(key: str, fn: Callable[[], Any], after: threading.Event | None) -> None:
        try:
            if after is not None:
                assert after.wait(WAIT_S), "the first request was never written"
            results[key] = fn()
        except BaseException as exc:  # reported in the test's thread
            results[key + " error"] = exc
        finally:
            second_in.set()  # the second is done (or failed): the first reads on

    threads = [threading.Thread(target=run, args=("first", first, None)),
               threading.Thread(target=run, args=("second", second, first_wrote))]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(WAIT_S * 3)
    finally:
        adapter.write = real_write
    for key in ("first", "second"):
        if key + " error" in results:
            raise results[key + " error"]
    return results["first"], results["second"]
