"""Scheduler tick and digest cost against the size of the database.

Tick: 1,000 / 10,000 / 100,000 open incidents, with none due and with 100 due (nudges
queued in the tick). Targets: at most 10 ms with 100,000 open and none due; with 100 due,
at most 2x the cost at 1,000. Digest: the figures for one channel holding 100,000
incidents, 10,000 of them in the last 14 days with their step records; target 1 s.

The tick is measured in-process (Timers over a real database; nothing is sent to Slack,
the outbox rows are only queued), medians of several rounds.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import insert, update

from bench.common import Databases, log, machine
from bot.devkit.clock import FakeClock
from bot.domain.playbook import DEFAULT_PLAYBOOK
from bot.domain.types import StepKey
from bot.service import RecoveryService
from bot.settings import Settings
from bot.timers import Timers
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Incident, StepRecord

NOW = datetime(2026, 11, 2, 8, 0, tzinfo=timezone.utc)  # before DIGEST_TIME: ticks post no digest
CHANNEL = "CBENCH"
STEPS = [key for key in StepKey]
NOT_RUN = "–"


def _incident_rows(start: int, count: int, *, now: datetime, recent: bool, open_: bool) -> list[dict]:
    rows = []
    for number in range(start, start + count):
        created = now - (timedelta(minutes=random.randint(10, 14 * 24 * 60)) if recent
                         else timedelta(days=random.randint(15, 400)))
        closed = not open_ and random.random() < 0.85
        rows.append({
            "workspace_id": "T1", "number": number, "origin_channel": CHANNEL, "origin_ts": f"{number}.000100",
            "excerpt": f"complaint {number}", "summary": f"complaint {number}", "flagged_by": "U1",
            "severity": "normal", "status": "open" if open_ else ("closed" if closed else "cancelled"),
            "version": 3, "owner_id": "U2", "current_step": "acknowledge" if open_ else "follow_up",
            "step_seq": 1 if open_ else 6, "step_started_at": created, "step_due_at": now + timedelta(days=1),
            "next_alert_at": now + timedelta(days=1) if open_ else None,
            "next_alert_kind": "nudge" if open_ else None, "card_channel": CHANNEL, "card_ts": f"{number}.1",
            "created_at": created, "updated_at": created, "claimed_at": created + timedelta(minutes=3),
            "closed_at": created + timedelta(days=4) if closed else None,
            "buy_in_at": created + timedelta(days=1) if closed else None,
            "root_cause": random.choice(DEFAULT_PLAYBOOK.root_causes) if closed else None,
            "remedy_kind": "refund" if closed else None, "remedy_amount": 20 if closed else None,
            "csat": random.randint(1, 10) if closed else None, "buy_again": "yes" if closed else None,
        })
    return rows


def seed(db: Database, *, open_count: int = 0, old_count: int = 0, recent_count: int = 0,
         now: datetime = NOW) -> None:
    """Bulk rows straight into the tables: the benchmark measures reading them, not making them."""
    batches = [(open_count, True, True), (old_count, False, False), (recent_count, True, False)]
    number = 1
    with db.engine.begin() as connection:
        for count, recent, open_ in batches:
            for offset in range(0, count, 5000):
                size = min(5000, count - offset)
                rows = _incident_rows(number, size, now=now, recent=recent, open_=open_)
                ids = connection.execute(insert(Incident).returning(Incident.id), rows).scalars().all()
                if recent and not open_:
                    connection.execute(insert(StepRecord), [
                        {"incident_id": incident_id, "seq": seq, "step": step.value, "status": "done",
                         "started_at": row["created_at"] + timedelta(hours=seq),
                         "due_at": row["created_at"] + timedelta(hours=seq, minutes=30),
                         "ended_at": row["created_at"] + timedelta(hours=seq, minutes=random.randint(5, 60))}
                        for incident_id, row in zip(ids, rows) for seq, step in enumerate(STEPS)])
                number += size


def _service(url: str, clock: FakeClock) -> RecoveryService:
    settings = replace(Settings(), database_url=url, lead_user_ids=frozenset({"ULEAD"}))
    return RecoveryService(db=Database.from_url(url), settings=settings, playbook=DEFAULT_PLAYBOOK, clock=clock)


def tick_cost(databases: Databases, *, sizes: tuple[int, ...], rounds: int) -> dict[int, dict[str, float]]:
    results: dict[int, dict[str, float]] = {}
    for size in sizes:
        url = databases.new(f"tick_{size}")
        clock = FakeClock(NOW)
        service = _service(url, clock)
        upgrade(service.db.engine)
        log(f"tick: seeding {size:,} open incidents")
        seed(service.db, open_count=size)
        timers = Timers(service)
        timers.run_due()
        idle, busy = [], []
        for round_ in range(rounds):
            started = time.perf_counter()
            report = timers.run_due()
            idle.append(time.perf_counter() - started)
            assert report.total == 0
            chosen = random.sample(range(1, size + 1), 100)
            with service.db.engine.begin() as connection:
                connection.execute(update(Incident).where(Incident.id.in_(chosen)).values(
                    step_due_at=NOW - timedelta(minutes=1), next_alert_at=NOW - timedelta(minutes=1),
                    next_alert_kind="nudge", step_seq=10 + round_))
            started = time.perf_counter()
            report = timers.run_due()
            busy.append(time.perf_counter() - started)
            assert report.alerts == 100, report
        service.db.dispose()
        results[size] = {"none_due_ms": statistics.median(idle) * 1000, "due_100_ms": statistics.median(busy) * 1000}
        log(f"tick: {size:,} open: none due {results[size]['none_due_ms']:.2f} ms, "
            f"100 due {results[size]['due_100_ms']:.1f} ms")
    return results


def digest_cost(databases: Databases, *, total: int, recent: int, rounds: int) -> dict[str, float]:
    url = databases.new("digest")
    clock = FakeClock(NOW)
    service = _service(url, clock)
    upgrade(service.db.engine)
    log(f"digest: seeding {total:,} incidents ({recent:,} in the last 14 days)")
    seed(service.db, old_count=total - recent - 200, recent_count=recent, open_count=200)
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        blocks = service.digest_preview(CHANNEL)
        timings.append(time.perf_counter() - started)
        assert blocks
    service.db.dispose()
    result = {"median_s": statistics.median(timings), "best_s": min(timings)}
    log(f"digest: {result['median_s'] * 1000:.0f} ms median")
    return result


def run(kind: str, *, quick: bool, only: str | None = None) -> dict[str, Any]:
    """Both parts, or ``only`` one ("tick" or "digest"); a part not run has no figures."""
    random.seed(7)
    result: dict[str, Any] = {"database": kind, "ticks": {}, "digest": None}
    with tempfile.TemporaryDirectory(prefix="bench-timers-") as workdir:
        databases = Databases(kind, Path(workdir))
        try:
            if only in (None, "tick"):
                sizes = (1000, 5000) if quick else (1000, 10000, 100000)
                result["ticks"] = tick_cost(databases, sizes=sizes, rounds=3 if quick else 7)
            if only in (None, "digest"):
                result["digest"] = digest_cost(databases, total=5000 if quick else 100000,
                                               recent=1000 if quick else 10000, rounds=2 if quick else 5)
        finally:
            databases.close()
    ticks = result["ticks"]
    if ticks:
        largest, smallest = max(ticks), min(ticks)
        result["none_due_at_largest_ms"] = ticks[largest]["none_due_ms"]
        result["due_ratio_largest_vs_smallest"] = ticks[largest]["due_100_ms"] / ticks[smallest]["due_100_ms"]
    return result


def markdown(results: list[dict[str, Any]]) -> str:
    lines = ["## Scheduler tick and digest", "",
             "In-process, medians of several rounds; the tick queues nudges but sends nothing.", ""]
    if any(result["ticks"] for result in results):
        lines += ["| database | open incidents | tick, none due | tick, 100 due |", "| --- | ---: | ---: | ---: |"]
        for result in results:
            for size, figures in result["ticks"].items():
                lines.append(f"| {result['database']} | {size:,} | {figures['none_due_ms']:.2f} ms "
                             f"| {figures['due_100_ms']:.1f} ms |")
        lines.append("")
    lines += ["| database | tick none due at largest (target ≤ 10 ms) | 100 due: largest / 1,000 (target ≤ 2x) "
              "| digest, 100k incidents (target ≤ 1 s) |", "| --- | ---: | ---: | ---: |"]
    for result in results:
        none_due = f"{result['none_due_at_largest_ms']:.2f} ms" if result["ticks"] else NOT_RUN
        ratio = f"{result['due_ratio_largest_vs_smallest']:.2f}x" if result["ticks"] else NOT_RUN
        digest = f"{result['digest']['median_s'] * 1000:.0f} ms" if result["digest"] else NOT_RUN
        lines.append(f"| {result['database']} | {none_due} | {ratio} | {digest} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=("tick", "digest"), help="run one part only (default both)")
    args = parser.parse_args(argv)
    kinds = ("sqlite", "postgresql") if args.database == "both" else (args.database,)
    results = [run(kind, quick=args.quick, only=args.only) for kind in kinds]
    print(f"machine: {machine()}")
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
