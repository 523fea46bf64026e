"""The lab-wide lock of the simulated lab: reentrant, first come first served, and yieldable.

Every simulated instrument serves its clients in its own threads and does its physics under one
lock (:attr:`instruments.sim.lab.SimLab.lock`) so that all of them see one consistent bench. A
request that does a lot of work (a long WGFMU execute, a long chain of sweeps) must not stall the
other instruments: it calls :meth:`LabLock.yield_to_waiters` between chunks of its work, which
lets every thread waiting for the lock at that moment have it once, in arrival order, and then
takes it back at the same recursion depth. A plain ``threading.RLock`` cannot do that: a thread
that releases and re-acquires it at once usually gets it back before a waiting thread wakes up.

Use it like an ``RLock`` (``with lab.lock: ...``).
"""

from __future__ import annotations

import threading
import time
from collections import deque


class LabLock:
    """A reentrant FIFO lock with :meth:`yield_to_waiters` (see the module docstring)."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._owner: int | None = None
        self._depth = 0
        self._queue: deque[int] = deque()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        """Take the lock (reentrant); waiters are served in arrival order."""
        me = threading.get_ident()
        if self._owner == me:  # only this thread can set the owner to itself: no race
            self._depth += 1
            return True
        with self._cond:
            if self._owner is None and not self._queue:
                self._owner, self._depth = me, 1
                return True
            if not blocking:
                return False
            self._queue.append(me)
            deadline = None if timeout is None or timeout < 0 else time.monotonic() + timeout
            try:
                while not (self._owner is None and self._queue[0] == me):
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        return False
                    self._cond.wait(left)
                self._owner, self._depth = me, 1
                return True
            finally:
                if self._owner == me:
                    self._queue.popleft()
                else:  # timed out: leave the queue, the next in line may go
                    self._queue.remove(me)
                    self._cond.notify_all()

    def release(self) -> None:
        """Release one level; the last one hands the lock to the next waiter."""
        if self._owner != threading.get_ident():
            raise RuntimeError("cannot release a LabLock this thread does not hold")
        self._depth -= 1
        if self._depth == 0:
            with self._cond:
                self._owner = None
                self._cond.notify_all()

    def yield_to_waiters(self) -> bool:
        """Let every thread waiting now have the lock once, then take it back.

        Called by the holder between chunks of a long piece of work (the lock may be held at
        any depth; it is restored). Returns True if anyone was let in; costs nothing when
        nobody waits.
        """
        me = threading.get_ident()
        if self._owner != me:
            raise RuntimeError("yield_to_waiters needs the LabLock held by this thread")
        if not self._queue:
            return False
        depth = self._depth
        with self._cond:
            self._owner, self._depth = None, 0
            self._queue.append(me)  # behind everyone waiting now
            self._cond.notify_all()
            while not (self._owner is None and self._queue[0] == me):
                self._cond.wait()
            self._queue.popleft()
            self._owner, self._depth = me, depth
        return True

    def waiting(self) -> int:
        """Number of threads waiting for the lock."""
        return len(self._queue)

    def held(self) -> bool:
        """True if the calling thread holds the lock."""
        return self._owner == threading.get_ident()

    def __enter__(self) -> LabLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
