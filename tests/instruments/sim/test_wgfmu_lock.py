"""A long WGFMU execute does not stall the other instruments (issue: one request held the lab lock).

The execute yields the lab lock between chunks of lab calls; the test checks the *order* of
events on the server side (the prober and the B1500 are served while the execute is still in its
first chunks), never a duration.
"""

from __future__ import annotations

import socket
import threading

import pytest

from instruments.sim.lab import LabConfig, SimLab
from instruments.sim.lab_lock import LabLock
from instruments.sim.wgfmu_server import CALLS_PER_CHUNK
from tests.instruments._wgfmu import measured_reads_on


def _ask(resource: str, line: str, terminator: str = "\n") -> str:
    _, host, port, _ = resource.split("::")
    with socket.create_connection((host, int(port)), timeout=120) as sock:
        sock.sendall((line + terminator).encode())
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            buf += chunk
    return buf.decode().strip()


def test_lab_lock_is_fifo_and_yields_to_waiters() -> None:
    lock = LabLock()
    order: list[str] = []
    lock.acquire()
    lock.acquire()  # reentrant
    arrived = threading.Event()

    def waiter(name: str) -> None:
        arrived.set()
        with lock:
            order.append(name)

    threads = [threading.Thread(target=waiter, args=(n,)) for n in ("a", "b")]
    for t in threads:
        arrived.clear()
        t.start()
        arrived.wait(10)
        while lock.waiting() < len(order) + threads.index(t) + 1:
            threading.Event().wait(0.001)
    assert lock.yield_to_waiters() is True  # both served, in arrival order, then back to us
    assert order == ["a", "b"] and lock.held()
    assert lock.yield_to_waiters() is False  # nobody waits: nothing happens
    lock.release()
    lock.release()
    assert not lock.held()
    with pytest.raises(RuntimeError):
        lock.release()
    for t in threads:
        t.join(10)


def test_prober_and_b1500_answer_while_a_long_execute_runs() -> None:
    lab = SimLab(LabConfig(seed=3)).start()
    try:
        res = lab.resources()
        repeats = 3000
        wg = measured_reads_on(res["wgfmu"], repeats)  # measured: no fast path

        calls = 0
        wgfmu_thread: list[int] = []
        queued = threading.Event()
        served: dict[str, int] = {}  # which request was served at which WGFMU call
        replies: dict[str, str] = {}
        clients: list[threading.Thread] = []
        real_bias = lab.bias_selected

        def bias(*args, **kwargs):
            nonlocal calls
            calls += 1
            if calls == 1:  # the execute runs: now the others ask, and are queued at the lock
                wgfmu_thread.append(threading.get_ident())
                for name, line, term in (("prober", "ReadChuckStatus", "\n"),
                                         ("b1500", "*IDN?", "\r\n")):
                    client = threading.Thread(
                        target=lambda n=name, q=line, t=term: replies.__setitem__(
                            n, _ask(res[n], q, t)), daemon=True)
                    clients.append(client)
                    client.start()
                for _ in range(10_000):
                    if lab.lock.waiting() >= 2:
                        queued.set()
                        break
                    threading.Event().wait(0.005)
            return real_bias(*args, **kwargs)

        real_acquire = lab.lock.acquire

        def acquire(*args, **kwargs):
            ok = real_acquire(*args, **kwargs)
            me = threading.get_ident()
            if ok and wgfmu_thread and me != wgfmu_thread[0]:
                served.setdefault(str(me), calls)
            return ok

        lab.bias_selected = bias
        lab.lock.acquire = acquire
        wg.execute()
        total = calls
        assert queued.is_set(), "the prober and B1500 requests never reached the lab lock"
        assert total > 10 * CALLS_PER_CHUNK
        # both were served at the first chunk boundary, long before the execute ended
        assert len(served) >= 2
        assert all(0 < at <= CALLS_PER_CHUNK + 20 for at in served.values()), served
        measured, expected = wg.get_measure_value_size(501)
        assert measured == expected == repeats
        for client in clients:
            client.join(60)
        lab.lock.acquire = real_acquire
        wg.close()
    finally:
        lab.stop()
    assert replies.get("prober", "").startswith("0:")
    assert "B1500" in replies.get("b1500", "")
