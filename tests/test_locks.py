"""The session lock serves waiting threads first come, first served, and is re-entrant."""

import threading
import time

import pytest

from luq.locks import FairRLock


def test_reentrant_and_owned():
    lock = FairRLock()
    with lock, lock:
        assert lock.acquire(blocking=False)
        lock.release()
    with pytest.raises(RuntimeError):
        lock.release()


def test_a_thread_that_asks_again_at_once_queues_behind_the_waiters():
    lock, order, started = FairRLock(), [], threading.Event()

    def greedy():
        for i in range(3):
            with lock:
                started.set()
                order.append(f"greedy{i}")
                time.sleep(0.05)

    def short(name):
        with lock:
            order.append(name)

    g = threading.Thread(target=greedy)
    g.start()
    started.wait()
    waiters = [threading.Thread(target=short, args=(f"short{i}",)) for i in range(2)]
    for w in waiters:
        w.start()
        time.sleep(0.005)  # they queue in this order while greedy holds the lock
    for t in (g, *waiters):
        t.join()
    assert order[:3] == ["greedy0", "short0", "short1"], order


def test_a_timed_out_waiter_leaves_the_queue():
    lock, held, done = FairRLock(), threading.Event(), threading.Event()

    def hold():
        with lock:
            held.set()
            done.wait()

    t = threading.Thread(target=hold)
    t.start()
    held.wait()
    assert lock.acquire(timeout=0.05) is False
    done.set()
    t.join()
    assert lock.acquire(blocking=False)
    lock.release()


def test_foreground_waiters_go_before_background_ones(monkeypatch):
    import luq.locks

    monkeypatch.setattr(luq.locks, "AGING_S", 60.0)  # no aging within this test
    lock, order, held, go = FairRLock(), [], threading.Event(), threading.Event()

    def holder():
        with lock:
            held.set()
            go.wait()

    def background():
        with lock.background():
            order.append("background")

    def foreground():
        with lock:
            order.append("foreground")

    h = threading.Thread(target=holder)
    h.start()
    held.wait()
    b = threading.Thread(target=background)
    b.start()
    time.sleep(0.05)  # the background step asks first
    f = threading.Thread(target=foreground)
    f.start()
    time.sleep(0.05)
    go.set()
    for t in (h, b, f):
        t.join()
    assert order == ["foreground", "background"]


def test_a_background_waiter_is_served_in_its_turn_once_it_has_aged(monkeypatch):
    import luq.locks

    monkeypatch.setattr(luq.locks, "AGING_S", 0.0)  # aged at once: plain first come
    lock, order, held, go = FairRLock(), [], threading.Event(), threading.Event()

    def holder():
        with lock:
            held.set()
            go.wait()

    def ask(name, background):
        with lock.background() if background else lock:
            order.append(name)

    h = threading.Thread(target=holder)
    h.start()
    held.wait()
    b = threading.Thread(target=ask, args=("background", True))
    b.start()
    time.sleep(0.05)
    f = threading.Thread(target=ask, args=("foreground", False))
    f.start()
    time.sleep(0.05)
    go.set()
    for t in (h, b, f):
        t.join()
    assert order == ["background", "foreground"]
