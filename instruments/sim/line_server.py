"""A small threaded, line-based TCP server used by every simulated instrument.

Each simulated instrument is a :class:`LineServer` bound to 127.0.0.1 (an ephemeral port by default)
that serves in its own thread; every client connection gets a thread of its own. Incoming bytes are
split into lines at ``\\n`` (a trailing ``\\r`` is dropped), each line is handed to the handler,
and the handler's reply (if not ``None``) is sent back followed by the write terminator.

The handler is any callable ``handler(line: str) -> str | None``. It must never raise for bad input;
should it raise anyway, the exception is logged, the connection stays open and nothing is replied,
like an instrument that ignores a garbled command (the driver then times out).
"""

from __future__ import annotations

import logging
import socket
import socketserver
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

Handler = Callable[[str], "str | None"]

_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)  # Linux only


class _ThreadingServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False


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
    """

    def __init__(
        self,
        name: str,
        handler_factory: Callable[[], Handler],
        host: str = "127.0.0.1",
        port: int = 0,
        terminator: str = "\n",
    ) -> None:
        if not (host.startswith("127.") or host in ("localhost", "::1")):
            raise ValueError(f"simulated instruments only listen on loopback, not {host!r}")
        self.name = name
        self.terminator = terminator.encode()
        self._factory = handler_factory
        outer = self

        class _Request(socketserver.BaseRequestHandler):
            def handle(self) -> None:  # noqa: D401 - socketserver API
                outer._serve_connection(self.request)

        self._server = _ThreadingServer((host, port), _Request)
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()

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

    def _serve_connection(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.add(conn)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        handler = self._factory()
        buffer = b""
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
                while b"\n" in buffer:
                    raw, buffer = buffer.split(b"\n", 1)
                    line = raw.rstrip(b"\r").decode("ascii", errors="replace")
                    try:
                        reply = handler(line)
                    except Exception:  # a simulator bug must not kill the connection
                        log.exception("simulated %s failed on %r", self.name, line)
                        reply = None
                    if reply is not None:
                        try:
                            conn.sendall(reply.encode("ascii", errors="replace") + self.terminator)
                        except OSError:
                            return
        finally:
            with self._lock:
                self._connections.discard(conn)
            conn.close()
