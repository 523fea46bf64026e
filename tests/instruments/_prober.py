"""Test doubles of the prober tests: a clock that moves only when told, the part of SimLab the
prober server uses, a small wafer served on 127.0.0.1, a raw line client."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from instruments.sim import prober_server
from instruments.sim.line_server import LineServer
from instruments.sim.prober import ProberConfig, ProberModel
from instruments.wafermap import WaferMap


class FakeClock:
    """Simulated seconds that only move when told to."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@dataclass
class ProberLab:
    """The part of SimLab the prober server uses (and the clock its model runs on, if any)."""

    prober: ProberModel
    lock: threading.RLock = field(default_factory=threading.RLock)
    clock: FakeClock | None = None


def small_wafer() -> WaferMap:
    """A 100 mm wafer of 20 mm dies: it keeps a die walk short."""
    return WaferMap(diameter_mm=100.0, die_width_um=20_000.0, die_height_um=20_000.0)


@contextmanager
def served_prober(make: Callable[[ProberLab], LineServer] = prober_server.make_server,
                  clock: FakeClock | None = None, config: ProberConfig | None = None,
                  ) -> Iterator[tuple[ProberLab, LineServer]]:
    """A prober model on :func:`small_wafer` served by ``make(lab)`` (the command port by
    default) until the end of the block. With ``clock`` the model's time moves as the model
    advances it (and as the test does); without, it stands at 0 s."""
    if clock is None:
        model = ProberModel(small_wafer(), clock=lambda: 0.0, config=config)
    else:
        model = ProberModel(small_wafer(), clock=clock, config=config, advance=clock.advance)
    lab = ProberLab(model, clock=clock)
    server = make(lab).start()
    try:
        yield lab, server
    finally:
        server.stop()


class LineClient:
    """A raw socket client that sends lines and reads one reply line each."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.sock = socket.create_connection(address, timeout=5)
        self.buffer = b""

    def ask(self, line: str) -> str:
        self.sock.sendall(line.encode() + b"\n")
        while b"\n" not in self.buffer:
            chunk = self.sock.recv(4096)
            assert chunk, "server closed the connection"
            self.buffer += chunk
        reply, self.buffer = self.buffer.split(b"\n", 1)
        return reply.decode()

    def close(self) -> None:
        self.sock.close()
