"""Scheduler tick and digest cost against the size of the database.

Tick: 1,000 / 10,000 / 100,000 open incidents, with none due and with 100 due (nudges
queued in the tick). Targets: at most 10 ms with 100,000 open and none due; with 100 due,
at most 2x the cost at 1,000. Digest: the figures for one channel holding 100,000
incidents, 10,000 of them in the last 14 days with their step records; target 1 s.

Measured in-process (Timers over a real database; nothing is sent to Slack, the outbox rows
are only queued), medians of several rounds.
"""
from __future__ import annotations

import random
import statistics
import sys
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

from sqlalchemy import insert, update

from bench import cli
from bench.rig import Rig, log
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


@dataclass
class Config:
    database: str = cli.database_field("both")
    only: str = field(default="", metadata={"choices": ("tick", "digest"), "help": "run one part only"})
    sizes: tuple[int, ...] = field(default=(1000, 10000, 100000), metadata={"help": "open incidents per tick run"})
    tick_rounds: int = 7
    digest_incidents: int = 100_000
    digest_recent: int = field(default=10_000, metadata={"help": "of those, in the last 14 days"})
    digest_rounds: int = 5
    quick: bool = False
    QUICK: ClassVar[dict[str, Any]] = dict(sizes=(1000, 5000), tick_rounds=3, digest_incidents=5000,
                                           digest_recent=1000, digest_rounds=2)


def _incident_rows(start: int, count: int, *, now: datetime, recent: bool, open_: bool) -> list[dict[str, Any]]:
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
    number = 1
    with db.engine.begin() as connection:
        for count, recent, open_ in [(open_count, True, True), (old_count, False, False), (recent_count, True, False)]:
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
                        for incident_id, row in zip(ids, rows) for seq, step in enumerate(StepKey)])
                number += size


def _service(url: str) -> RecoveryService:
    settings = replace(Settings(), database_url=url, lead_user_ids=frozenset({"ULEAD"}))
    service = RecoveryService(db=Database.from_url(url), settings=settings, playbook=DEFAULT_PLAYBOOK,
                              clock=FakeClock(NOW))
    upgrade(service.db.engine)
    return service


def _ms(timings: list[float]) -> float:
    return statistics.median(timings) * 1000


def tick_cost(rig: Rig, config: Config) -> dict[int, dict[str, float]]:
    results: dict[int, dict[str, float]] = {}
    for size in config.sizes:
        service = _service(rig.database(f"tick_{size}"))
        log(f"tick: seeding {size:,} open incidents")
        seed(service.db, open_count=size)
        timers = Timers(service)
        timers.run_due()
        idle, busy = [], []
        for round_ in range(config.tick_rounds):
            started = time.perf_counter()
            if timers.run_due().total != 0:
                raise RuntimeError("a tick with nothing due found something due")
            idle.append(time.perf_counter() - started)
            with service.db.engine.begin() as connection:
                connection.execute(update(Incident).where(Incident.id.in_(random.sample(range(1, size + 1), 100)))
                                   .values(step_due_at=NOW - timedelta(minutes=1), next_alert_kind="nudge",
                                           next_alert_at=NOW - timedelta(minutes=1), step_seq=10 + round_))
            started = time.perf_counter()
            if (alerts := timers.run_due().alerts) != 100:
                raise RuntimeError(f"a tick with 100 due sent {alerts} alerts")
            busy.append(time.perf_counter() - started)
        service.db.dispose()
        results[size] = {"none_due_ms": _ms(idle), "due_100_ms": _ms(busy)}
        log(f"tick: {size:,} open: none due {results[size]['none_due_ms']:.2f} ms, 100 due "
            f"{results[size]['due_100_ms']:.1f} ms")
    return results


def digest_cost(rig: Rig, config: Config) -> dict[str, float]:
    service = _service(rig.database("digest"))
    log(f"digest: seeding {config.digest_incidents:,} incidents ({config.digest_recent:,} in the last 14 days)")
    seed(service.db, old_count=config.digest_incidents - config.digest_recent - 200,
         recent_count=config.digest_recent, open_count=200)
    timings = []
    for _ in range(config.digest_rounds):
        started = time.perf_counter()
        if not service.digest_preview(workspace_id="T1", channel=CHANNEL):
            raise RuntimeError("the digest came out empty")
        timings.append(time.perf_counter() - started)
    service.db.dispose()
    return {"median_s": statistics.median(timings), "best_s": min(timings)}


def run(config: Config) -> dict[str, Any]:
    """Both parts, or ``only`` one; a part not run has no figures."""
    random.seed(7)
    with Rig(config.database) as rig:
        ticks = tick_cost(rig, config) if config.only in ("", "tick") else {}
        digest = digest_cost(rig, config) if config.only in ("", "digest") else None
    result: dict[str, Any] = {"database": config.database, "ticks": ticks, "digest": digest}
    if ticks:
        result["none_due_at_largest_ms"] = ticks[max(ticks)]["none_due_ms"]
        result["due_ratio_largest_vs_smallest"] = ticks[max(ticks)]["due_100_ms"] / ticks[min(ticks)]["due_100_ms"]
    return result


if __name__ == "__main__":
    sys.exit(cli.main("timers_cost", Config, run, __doc__))
