"""How the outbox's sender threads share work: one due read for all of them, one woken per wake-up.

Each thread used to read what is due itself, and every wake-up (a commit in the server, a
timer) woke all eight: eight reads of the same rows, then eight threads racing to lease
them, a third of the leases finding every row taken by another (pg_stat_statements over
the ack benchmark, issue 17). Now a wake-up wakes one idle thread; the thread that reads
what is due queues it in batches here, wakes as many idle threads as there are batches for
them, and whoever is free takes the next batch. A batch queued is only a hint: the lease
still decides who sends a row (storage/outbox_store.py).
"""
from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class WakeUps:
    """Which sender threads are idle, and waking them one at a time.

    A wake-up while every thread is busy is not lost: the first to finish drains once more
    (a drain reads what is due afresh, so it sees whatever was committed before the wake-up)."""

    def __init__(self, workers: int) -> None:
        self._events = [threading.Event() for _ in range(workers)]
        self._idle: list[int] = []
        self._lock = threading.Lock()
        self._again = False

    def wait(self, worker: int, timeout: float) -> None:
        """Idle until woken, or for ``timeout`` seconds; at once if a wake-up found nobody idle."""
        event = self._events[worker]
        with self._lock:
            if self._again:
                self._again = False
                return
            self._idle.append(worker)
        event.wait(timeout)
        with self._lock:
            if worker in self._idle:
                self._idle.remove(worker)
            event.clear()

    def wake(self) -> None:
        """Something new may be due: one idle thread reads it (or the next to be free)."""
        if not self.helpers(1):
            with self._lock:
                self._again = True

    def helpers(self, wanted: int) -> int:
        """Wake up to ``wanted`` idle threads to take queued batches; returns how many woke."""
        with self._lock:
            woken = self._idle[:wanted]
            del self._idle[:wanted]
        for worker in woken:
            self._events[worker].set()
        return len(woken)

    def all(self) -> None:
        """Stopping: every thread looks up at once."""
        with self._lock:
            self._idle.clear()
        for event in self._events:
            event.set()


class DueBatches(Generic[T]):
    """Batches of due rows read once, taken by whichever sender thread is free. One thread
    reads at a time: the others wait for its batches rather than read the same rows again."""

    def __init__(self) -> None:
        self._batches: deque[list[T]] = deque()
        self._lock = threading.Lock()
        self._reading = threading.Lock()

    def take(self, read: Callable[[], Sequence[list[T]]] | None, *,
             on_queued: Callable[[int], None]) -> tuple[list[T], bool] | None:
        """The next batch queued; else the first batch of a new read (``read``; none without
        it), the rest queued for others (``on_queued`` is told how many). With whether the
        batch is from a read of this call's. None: nothing is due."""
        batch = self._pop()
        if batch is not None:
            return batch, False
        if read is None:
            return None
        with self._reading:
            batch = self._pop()  # queued by whoever read while this thread waited to
            if batch is not None:
                return batch, False
            batches = list(read())
            if not batches:
                return None
            with self._lock:
                self._batches.extend(batches[1:])
        if len(batches) > 1:
            on_queued(len(batches) - 1)
        return batches[0], True

    def clear(self) -> None:
        with self._lock:
            self._batches.clear()

    def _pop(self) -> list[T] | None:
        with self._lock:
            return self._batches.popleft() if self._batches else None
