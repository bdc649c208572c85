"""A re-entrant lock that serves waiting threads in the order they arrived.

``threading.RLock`` is not fair: a thread that releases it and asks again at once (a
sensitivity probe going block to block, a curve measured plan by plan) nearly always gets
it back before a waiting thread is even scheduled, so one long job starves every short
request behind it. Measured in the app: slider moves waited 44 s (median) behind one-time
work that released the lock after every step. :class:`FairRLock` hands the lock to the
longest waiter instead, so a short request waits at most one step of each job ahead of it.

Steps of long jobs can also ask with :meth:`FairRLock.background`: then every waiter asking
in the foreground goes first (for :data:`AGING_S` at most), so a probe or a measured curve
delays a slider move or an arena answer by little more than the step it is in.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

AGING_S = 0.1  # a background waiter is served in its turn after waiting this long


class FairRLock:
    """A re-entrant, first-come first-served lock (``with lock:`` or acquire / release)."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._owner: int | None = None
        self._depth = 0
        self._queue: list[tuple[int, int, float]] = []  # waiters: (priority, ticket, since)
        self._next = 0

    def acquire(self, blocking: bool = True, timeout: float = -1, priority: int = 0) -> bool:
        """Takes the lock; ``priority`` 0 (foreground) waiters go before 1 (background)
        ones, until a background waiter has waited :data:`AGING_S` (then it is served in
        its turn: a long job is slowed by foreground traffic, never stopped by it)."""
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
                return True
            if self._owner is None and not self._queue:
                self._owner, self._depth = me, 1
                return True
            if not blocking:
                return False
            entry = (priority, self._next, time.monotonic())
            self._next += 1
            self._queue.append(entry)
            end = None if timeout < 0 else time.monotonic() + timeout
            while not (self._owner is None and self._first() == entry):
                now = time.monotonic()
                if end is not None and now >= end:
                    self._queue.remove(entry)
                    self._cond.notify_all()  # the next in line may be free to go now
                    return False
                wait = max(0.01, AGING_S if end is None else min(AGING_S, end - now))
                self._cond.wait(wait)  # woken by a release, or to let waiters age
            self._queue.remove(entry)
            self._owner, self._depth = me, 1
            return True

    def _first(self) -> tuple[int, int, float]:
        now = time.monotonic()
        return min(self._queue, key=lambda e: (e[0] if now - e[2] < AGING_S else 0, e[1]))

    @contextmanager
    def background(self):
        """``with lock.background():`` holds the lock, after every foreground waiter."""
        self.acquire(priority=1)
        try:
            yield self
        finally:
            self.release()

    def release(self) -> None:
        with self._cond:
            if self._owner != threading.get_ident():
                raise RuntimeError("cannot release a lock held by another thread")
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
                self._cond.notify_all()

    def __enter__(self) -> FairRLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
