"""A small threaded, line-based TCP server used by every simulated instrument.

Each simulated instrument is a :class:`LineServer` bound to 127.0.0.1 (an ephemeral port by default)
that serves in its own thread; every client connection gets a thread of its own. Incoming bytes are
split into lines at ``\\n`` (a trailing ``\\r`` is dropped), each line is handed to the handler,
and the handler's reply (if not ``None``) is sent back followed by the write terminator.

The handler is any callable ``handler(line: str) -> str | None``. It must never raise for bad input;
should it raise anyway, the exception is logged, the connection stays open and nothing is replied,
like an instrument that ignores a garbled command (the driver then times out).

The servers stay up for every client (issue #9):

* the listen backlog is :data:`LISTEN_BACKLOG` (socketserver's default of 5 reset 9-15 of 150
  connections opened in bursts of 50);
* a line longer than ``max_line`` bytes (:data:`MAX_LINE`, 64 KiB by default) is not buffered: the
  bytes up to its end are dropped and the handler gets ``overflow_line`` instead (an instrument's
  own error, e.g. a FLEX header it does not know), so a client that never sends a newline cannot
  make the server's memory grow;
* every connection has its own thread, and no handler may hold the lab-wide lock for long (each
  simulator bounds its work per request or releases the lock between chunks).
"""

from __future__ import annotations

import logging
import socket
import socketserver
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

Handler = Callable[[str], "str | None"]

LISTEN_BACKLOG = 256  #: pending connections the kernel queues before refusing more
MAX_LINE = 65536  #: bytes of one request line, terminator excluded

_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)  # Linux only


class _ThreadingServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False
    request_queue_size = LISTEN_BACKLOG


class LineServer:
    """Serve a line-based protocol on ``host:port`` in a background thread.

    Args:
        name: instrument name, used in logs and thread names.
        handler_factory: called once per client connection; returns the line handler for it.
            Per-connection state (e.g. a pending query) lives in the handler; instrument state lives
            in the object the factory closes over.
        host: address to bind; only loopback addresses are accepted.
        port: TCP port, 0 for an ephemeral one.
        terminator: appended to every reply (``"\\r\\n"`` for FLEX, ``"\\n"`` elsewhere).
        max_line: longest accepted line in bytes; a longer one is discarded.
        overflow_line: what the handler receives instead of a discarded line (None: nothing);
            the default is a command no instrument knows, so each answers its own
            unknown-command error.

    Attribute ``latency_s`` (s, default 0): a delay before each line is handled, so that the
    simulated bench feels like a real GPIB/socket bench (``latency_ms`` in a bench file).
    """

    def __init__(
        self,
        name: str,
        handler_factory: Callable[[], Handler],
        host: str = "127.0.0.1",
        port: int = 0,
        terminator: str = "\n",
        max_line: int = MAX_LINE,
        overflow_line: str | None = "LINE_TOO_LONG",
    ) -> None:
        if not (host.startswith("127.") or host in ("localhost", "::1")):
            raise ValueError(f"simulated instruments only listen on loopback, not {host!r}")
        self.name = name
        self.terminator = terminator.encode()
        self.max_line = int(max_line)
        self.overflow_line = overflow_line
        self._factory = handler_factory
        outer = self

        class _Request(socketserver.BaseRequestHandler):
            def handle(self) -> None:  # noqa: D401 - socketserver API
                outer._serve_connection(self.request)

        self._server = _ThreadingServer((host, port), _Request)
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        #: per-command delay (s) of a slow bench; 0 = answer at once
        self.latency_s = 0.0
        #: wall seconds spent handling lines (the simulation's own compute, for benchmarks/)
        self.compute_s = 0.0
        #: called with each line before it is handled (the lab charges its modeled time)
        self.on_request: Callable[[str], None] | None = None
        #: called after each line is handled, before its reply (the lab's pacing sleeps there)
        self.after_request: Callable[[], None] | None = None

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) actually bound."""
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def resource(self) -> str:
        """VISA resource string of this server (raw socket)."""
        host, port = self.address
        return f"TCPIP::{host}::{port}::SOCKET"

    def start(self) -> LineServer:
        """Start serving in a daemon thread; returns self."""
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # stop() returns within 50 ms
            name=f"sim-{self.name}",
            daemon=True,
        )
        self._thread.start()
        log.info("simulated %s listening on %s", self.name, self.resource)
        return self

    def stop(self) -> None:
        """Stop serving and close every client connection."""
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            for conn in list(self._connections):
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                conn.close()
            self._connections.clear()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def _answer(self, conn: socket.socket, handler: Handler, line: str | None) -> bool:
        """Hand ``line`` to the handler and send its reply; False when the client is gone."""
        if line is None:
            return True
        if self.latency_s > 0:
            time.sleep(self.latency_s)
        t0 = time.perf_counter()
        try:
            if self.on_request is not None:
                self.on_request(line)
            reply = handler(line)
        except Exception:  # a simulator bug must not kill the connection
            log.exception("simulated %s failed on %r", self.name, line)
            reply = None
        self.compute_s += time.perf_counter() - t0  # the twin's own work (benchmarks/)
        if self.after_request is not None:  # the reply leaves when its modeled time is due
            self.after_request()
        if reply is not None:
            try:
                conn.sendall(reply.encode("ascii", errors="replace") + self.terminator)
            except OSError:
                return False
        return True

    def _serve_connection(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.add(conn)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        handler = self._factory()
        buffer = b""
        discarding = False  # inside a line longer than max_line: drop bytes up to its end
        try:
            while True:
                try:
                    chunk = conn.recv(65536)
                except OSError:
                    return
                if not chunk:
                    return
                if _QUICKACK is not None:
                    # Acknowledge at once: a client that writes a command and then a query
                    # (e.g. "DV ..." then "ERRX?") would otherwise have its second write held
                    # by Nagle's algorithm until our delayed ACK, ~40 ms per exchange.
                    try:
                        conn.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
                    except OSError:
                        pass
                buffer += chunk
                while True:
                    end = buffer.find(b"\n")
                    if discarding:
                        if end < 0:
                            buffer = b""
                            break
                        buffer = buffer[end + 1:]
                        discarding = False
                        if not self._answer(conn, handler, self.overflow_line):
                            return
                        continue
                    if end < 0:
                        if len(buffer) > self.max_line:
                            log.warning("simulated %s: line over %d bytes discarded",
                                        self.name, self.max_line)
                            buffer, discarding = b"", True
                        break
                    raw, buffer = buffer[:end], buffer[end + 1:]
                    if len(raw) > self.max_line + 1:
                        log.warning("simulated %s: line over %d bytes discarded",
                                    self.name, self.max_line)
                        line: str | None = self.overflow_line
                    else:
                        line = raw.rstrip(b"\r").decode("ascii", errors="replace")
                    if not self._answer(conn, handler, line):
                        return
        finally:
            with self._lock:
                self._connections.discard(conn)
            conn.close()
