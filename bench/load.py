"""Slack-signed requests, the loops that send them, and the arithmetic of their answers.

Closed loop: each worker sends its next request as soon as its last is answered, on a
keep-alive connection. Open loop: request i is due at start + i/rate whatever the answers
do, as Slack does not wait for us; ``due_at`` keeps the schedule, so a client falling
behind shows.
"""
from __future__ import annotations

import http.client
import itertools
import math
import queue
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, replace
from types import SimpleNamespace
from typing import Any

from slack_sdk.signature import SignatureVerifier

from bot.devkit.driver import SlackDriver
from bot.devkit.slack_double import Message

SIGNING_SECRET = "bench-signing-secret"
EVENTS_PATH = "/slack/events"
SLOW_SECONDS = 3.0  # Slack's ack deadline
STALE_SECONDS = 6 * 60  # Bolt refuses timestamps older than 5 minutes
FORGED_MODES = ("wrong_secret", "stale", "unsigned")


@dataclass(frozen=True, slots=True)
class Prepared:
    """A request body, signed only when sent (``mode``: ok, wrong_secret, stale or unsigned)."""

    kind: str
    body: str
    content_type: str
    headers: tuple[tuple[str, str], ...] = ()
    mode: str = "ok"


class _Capture(SlackDriver):
    """SlackDriver's payloads (the shapes the tests use), captured instead of sent."""

    def __init__(self, response_url_base: str) -> None:
        # The double runs in another process: its response URLs are named, not handed out
        # (the benchmarks' requests are answered in the ack, or their answers not waited for).
        super().__init__(url="", signing_secret="", fake=SimpleNamespace(
            response_url_base=response_url_base,
            response_url=lambda url_id, **_: response_url_base + url_id))

    def post(self, body: str, *, content_type: str, headers: dict[str, str] | None = None,  # type: ignore[override]
             **_: Any) -> Prepared:
        return Prepared(kind="", body=body, content_type=content_type, headers=tuple((headers or {}).items()))


class Requests:
    """The benchmarks' Slack requests, in ``channel`` unless told otherwise."""

    def __init__(self, response_url_base: str, *, channel: str = "C1") -> None:
        self._driver = _Capture(response_url_base)
        self.channel = channel
        self._unused = itertools.count(1)

    def command(self, text: str, *, kind: str, channel: str | None = None, user: str = "U1") -> Prepared:
        return replace(self._driver.command(text, user=user, channel=channel or self.channel), kind=kind)

    def react(self, ts: str, *, channel: str | None = None) -> Prepared:
        return replace(self._driver.react(channel=channel or self.channel, ts=ts), kind="react")

    def claim(self, card: dict[str, Any]) -> Prepared:
        message = Message(channel=card["channel"], ts=card["ts"], text=card["text"], blocks=card["blocks"])
        return replace(self._driver.click(message, "Claim"), kind="claim")

    def unused_ts(self) -> str:
        """A message ts no one has used, for targets that never look messages up."""
        micros = 1_800_000_000_000_000 + next(self._unused) * 100
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"


def signed_headers(prepared: Prepared) -> dict[str, str]:
    headers = {"Content-Type": prepared.content_type, **dict(prepared.headers)}
    if prepared.mode == "unsigned":
        return headers
    stamp = str(int(time.time()) - (STALE_SECONDS if prepared.mode == "stale" else 0))
    secret = "not-the-signing-secret" if prepared.mode == "wrong_secret" else SIGNING_SECRET
    signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=prepared.body)
    return headers | {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature}


@dataclass(slots=True)
class Result:
    index: int
    kind: str
    mode: str
    status: int  # 0: no answer (connection error or timeout)
    seconds: float  # send to full answer
    sent_at: float  # time.monotonic()
    due_at: float  # when it should have gone (open loop); sent_at in a closed loop
    error: str | None = None
    body: str = ""


class Connection:
    """One keep-alive connection to a target on 127.0.0.1, reopened after an error."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self._port, self._timeout = port, timeout
        self._conn: http.client.HTTPConnection | None = None

    def open(self) -> Connection:
        if self._conn is None:
            self._conn = http.client.HTTPConnection("127.0.0.1", self._port, timeout=self._timeout)
        with suppress(OSError):
            self._conn.connect()
        return self

    def send(self, index: int, prepared: Prepared, *, due: float | None = None, keep_body: bool = False) -> Result:
        sent = time.monotonic()
        status, body, error = 0, "", None
        try:
            if self._conn is None:
                self.open()
            self._conn.request("POST", EVENTS_PATH, body=prepared.body.encode(), headers=signed_headers(prepared))
            response = self._conn.getresponse()
            status, data = response.status, response.read()
            body = data.decode(errors="replace") if keep_body else ""
            if response.will_close:
                self.close()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            error = f"{exc.__class__.__name__}: {exc}"
        return Result(index=index, kind=prepared.kind, mode=prepared.mode, status=status,
                      seconds=time.monotonic() - sent, sent_at=sent, due_at=sent if due is None else due,
                      error=error, body=body)

    def close(self) -> None:
        if self._conn is not None:
            with suppress(Exception):
                self._conn.close()
            self._conn = None


@dataclass
class LoadRun:
    results: list[Result]
    started: float
    finished: float

    @property
    def wall(self) -> float:
        return self.finished - self.started


def closed_loop(port: int, requests: Sequence[Prepared], *, concurrency: int, keep_body: bool = False) -> LoadRun:
    """``concurrency`` workers, each sending the next request as soon as its last is answered."""
    results: list[Result | None] = [None] * len(requests)
    indices = iter(range(len(requests)))
    lock = threading.Lock()
    ready = threading.Barrier(concurrency + 1)

    def worker() -> None:
        connection = Connection(port).open()
        ready.wait()
        while True:
            with lock:
                index = next(indices, None)
            if index is None:
                break
            results[index] = connection.send(index, requests[index], keep_body=keep_body)
        connection.close()

    def kickoff() -> float:
        ready.wait()
        return time.monotonic()

    return _run_workers(worker, concurrency, results, kickoff)


def open_loop(port: int, requests: Sequence[Prepared], *, rate: float, workers: int) -> LoadRun:
    """Request i goes at start + i/rate, sent by whichever of ``workers`` is free."""
    jobs: queue.SimpleQueue[tuple[int, float] | None] = queue.SimpleQueue()
    results: list[Result | None] = [None] * len(requests)

    def worker() -> None:
        connection = Connection(port).open()
        while (job := jobs.get()) is not None:
            results[job[0]] = connection.send(job[0], requests[job[0]], due=job[1])
        connection.close()

    def schedule() -> float:
        time.sleep(0.2)  # let the workers connect
        started = time.monotonic()
        for index in range(len(requests)):
            due = started + index / rate
            time.sleep(max(0.0, due - time.monotonic()))
            jobs.put((index, due))
        for _ in range(workers):
            jobs.put(None)
        return started

    return _run_workers(worker, workers, results, schedule)


def _run_workers(worker: Callable[[], None], count: int, results: list[Result | None],
                 kickoff: Callable[[], float]) -> LoadRun:
    """Start ``count`` workers; ``kickoff`` releases them and says when the load started."""
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    started = kickoff()
    for thread in threads:
        thread.join()
    return LoadRun(results=[r for r in results if r is not None], started=started, finished=time.monotonic())


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of unsorted values; nan when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(max(1, math.ceil(q / 100 * len(ordered))), len(ordered)) - 1]


def median(values: Iterable[float | None]) -> float:
    kept = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.median(kept) if kept else math.nan


def summarize(results: Sequence[Result], wall: float | None = None) -> dict[str, Any]:
    latencies = [r.seconds for r in results]
    return {
        "n": len(results),
        "ok_2xx": sum(1 for r in results if 200 <= r.status < 300),
        "non_2xx": sum(1 for r in results if r.status and not 200 <= r.status < 300),
        "errors": sum(1 for r in results if r.status == 0),
        "over_3s": sum(1 for r in results if r.seconds > SLOW_SECONDS),
        **{f"p{q}": percentile(latencies, q) for q in (50, 95, 99)},
        "max": max(latencies, default=math.nan),
        "rps": len(results) / wall if wall else math.nan,
        "statuses": dict(sorted(Counter(str(r.status) for r in results).items())),
        "first_error": next((r.error for r in results if r.error), None),
    }
