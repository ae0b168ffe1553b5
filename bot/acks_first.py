"""Acks first: `serve`'s background holds the outbox back while the server answers Slack.

On a small deployment (and in CI) the server, the background and the database share two
cores. In a burst the background's sending (a card drawn, a Slack call, its records) took CPU
the acks were waiting for, though a card a moment later harms no one and an ack after 3
seconds is an error Slack shows the person. Niceness (bot/background.py) only settles who
runs when both are ready; this keeps the background out of the way altogether while acks
are in flight. Measured with the ack benchmark on PostgreSQL (issue 17), three spot checks
each way taken in turn: the bot's p99 at concurrency 16 against the durable floor, per round,
median 1.64x held and 2.01x not; the background's CPU per request during the burst 0.2-0.9 ms
against 0.8-1.0. Cards pay nothing measurable for it: at 100 flags a second for a minute a
card followed its flag by 89 ms at the median and 525 ms at p99 (98 and 424 ms before), and
with the same pass's other changes PostgreSQL's intake holds 125 flags a second
(docs/PERFORMANCE.md).

The server counts the Slack requests it is answering in memory it shares with the background
(made before the fork). A sender thread woken with work waits while any is in flight, for at
most HOLD_SECONDS, then sends everything due: a burst shorter than that is acked before its
cards go out, and under a sustained one the cards go out in rounds at most HOLD_SECONDS
apart, in bigger batches. The tick runs as ever (what it queues waits like the rest, at most
HOLD_SECONDS), and a replica's background yields to its own server only.
"""
from __future__ import annotations

import mmap
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

HOLD_SECONDS = 0.5
LOOK_EVERY_SECONDS = 0.01
_COUNT = struct.Struct("q")


class AcksInFlight:
    """How many Slack requests the server is answering, readable by its forked background."""

    def __init__(self) -> None:
        self._shared = mmap.mmap(-1, _COUNT.size)  # anonymous and shared: a fork sees the same bytes
        self._lock = threading.Lock()
        self._count = 0

    @contextmanager
    def answering(self) -> Iterator[None]:
        """Around one request, in the server."""
        self._add(1)
        try:
            yield
        finally:
            self._add(-1)

    def _add(self, change: int) -> None:
        with self._lock:
            self._count += change
            _COUNT.pack_into(self._shared, 0, self._count)

    def busy(self) -> bool:
        return _COUNT.unpack_from(self._shared, 0)[0] > 0

    def hold(self, stop: threading.Event, *, at_most: float = HOLD_SECONDS) -> None:
        """In the background: return once no request is in flight, after ``at_most`` seconds
        whatever the server does, or at once when ``stop`` is set."""
        deadline = time.monotonic() + at_most
        while self.busy() and not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            stop.wait(min(LOOK_EVERY_SECONDS, left))
