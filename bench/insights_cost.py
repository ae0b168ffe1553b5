"""`/recovery insights 365d` over a workspace of 100,000 incidents with 30,000 follow-up answers.

One workspace seeded with 100,000 incidents over the last 400 days, 30,000 of them answered
(satisfaction and "would buy again") within the last 365 days, each answered one with its
seven step records (an acknowledge on time or late, an apology done or skipped…), the others
open, cancelled or closed without an answer. The command's work after its ack is
`bot.insights.workspace_insights`: the tallies added up in SQL per split and per week, then
turned into figures, intervals and comparisons in-process. Target: under 1 s for 365 days
(every answer). Measured alternately with it in the same run: the floor, one aggregate pass
over the window's answers (n, yeses, Σ satisfaction: every exact answer reads them once),
and the 90-day answer. Medians of rounds. The figures are checked: every split and the weeks
add up to the answers seeded.
"""
from __future__ import annotations

import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import and_, case, func, insert, select

from bench import cli
from bench.rig import Rig, log
from bench.timers_cost import NOW, _service
from bot.domain.insights import Insights
from bot.domain.playbook import DEFAULT_PLAYBOOK
from bot.domain.stats import stats_window
from bot.domain.types import REMEDY_KINDS, StepKey
from bot.insights import workspace_insights
from storage.db import Database
from storage.models import Incident, StepRecord

WORKSPACE = "T1"
TARGET_SECONDS = 1.0
OWNERS = tuple(f"U{number:03d}" for number in range(1, 21))
SEVERITIES = ("low", "normal", "normal", "normal", "high", "critical")


@dataclass
class Config:
    database: str = cli.database_field("both")
    incidents: int = 100_000
    answers: int = 30_000
    rounds: int = 5
    quick: bool = False
    QUICK: ClassVar[dict[str, Any]] = dict(incidents=5000, answers=1500, rounds=2)


def _row(number: int, *, answered: bool) -> dict[str, Any]:
    """An incident; an answered one closed within the last 365 days, with a plausible recovery."""
    if answered:
        closed = NOW - timedelta(minutes=random.randint(60, 364 * 24 * 60))
        took = timedelta(minutes=random.choice((random.randint(30, 239), random.randint(240, 1439),
                                                random.randint(1440, 4319), random.randint(4320, 10000))))
        created = closed - took - timedelta(days=3)
        kind = random.choice(REMEDY_KINDS)
        amount = Decimal(0) if kind == "none" else Decimal(random.choice((10, 20, 40, 80, 120)))
        good = took < timedelta(hours=24)
        csat = min(10, max(1, round(random.gauss(8 if good else 5.5, 1.8))))
        status = "closed"
    else:
        created = NOW - timedelta(minutes=random.randint(10, 400 * 24 * 60))
        status = random.choice(("open", "cancelled", "closed"))
        closed = created + timedelta(days=4) if status != "open" else None
        took, kind, amount, csat, good = timedelta(days=1), None, None, None, False
    return {
        "workspace_id": WORKSPACE, "number": number, "origin_channel": "CBENCH", "origin_ts": f"{number}.000100",
        "excerpt": f"complaint {number}", "summary": f"complaint {number}", "flagged_by": "U1",
        "severity": random.choice(SEVERITIES), "status": status, "version": 3, "owner_id": random.choice(OWNERS),
        "current_step": "follow_up" if status != "open" else "acknowledge", "step_seq": 6 if status != "open" else 1,
        "step_started_at": created, "step_due_at": NOW + timedelta(days=1), "card_channel": "CBENCH",
        "card_ts": f"{number}.1", "created_at": created, "updated_at": created,
        "claimed_at": created + timedelta(minutes=3), "closed_at": closed,
        "buy_in_at": created + took if status == "closed" else None,
        "root_cause": random.choice(DEFAULT_PLAYBOOK.root_causes) if status == "closed" else None,
        "remedy_kind": kind, "remedy_amount": amount,
        "approval": "approved" if amount is not None and amount > 50 else None, "csat": csat,
        "buy_again": (random.choices(("yes", "maybe", "no"), (7, 2, 1) if good else (4, 3, 3))[0]
                      if answered else None),
    }


def _steps(incident_id: int, row: dict[str, Any]) -> list[dict[str, Any]]:
    created = row["created_at"]
    records = []
    for seq, step in enumerate(StepKey):
        late = random.random() < 0.25
        records.append({"incident_id": incident_id, "seq": seq, "step": step.value,
                        "status": "skipped" if step is StepKey.APOLOGIZE and random.random() < 0.2 else "done",
                        "started_at": created + timedelta(minutes=seq), "due_at": created + timedelta(minutes=seq + 15),
                        "ended_at": created + timedelta(minutes=seq + (40 if late else 10))})
    return records


def seed(db: Database, *, incidents: int, answers: int) -> None:
    """Bulk rows straight into the tables: the benchmark measures reading them, not making them."""
    answered = set(random.sample(range(1, incidents + 1), answers))
    with db.engine.begin() as connection:
        for start in range(1, incidents + 1, 5000):
            rows = [_row(number, answered=number in answered) for number in range(start, min(start + 5000,
                                                                                          incidents + 1))]
            ids = connection.execute(insert(Incident).returning(Incident.id), rows).scalars().all()
            records = [record for incident_id, row in zip(ids, rows) if row["number"] in answered
                       for record in _steps(incident_id, row)]
            if records:
                connection.execute(insert(StepRecord), records)


def run(config: Config) -> dict[str, Any]:
    random.seed(15)
    with Rig(config.database) as rig:
        service = _service(rig.database("insights"))
        log(f"insights: seeding {config.incidents:,} incidents ({config.answers:,} answered in the last 365 days)")
        seed(service.db, incidents=config.incidents, answers=config.answers)
        year = stats_window(NOW, 365)
        answered = and_(Incident.workspace_id == WORKSPACE, Incident.closed_at >= year.start,
                        Incident.closed_at < year.end, Incident.csat.is_not(None), Incident.buy_again.is_not(None))

        def year_figures() -> Insights:
            return workspace_insights(service, workspace_id=WORKSPACE, days=365)

        def quarter_figures() -> Insights:
            return workspace_insights(service, workspace_id=WORKSPACE, days=90)

        def floor() -> object:
            with service.db.read() as session:
                return session.connection().execute(select(
                    func.count(), func.sum(case((Incident.buy_again == "yes", 1), else_=0)), func.sum(Incident.csat))
                    .where(answered)).one()

        figures = year_figures()
        checks = _checks(figures, config.answers)
        timings: dict[str, list[float]] = {"year": [], "quarter": [], "floor": []}
        for _ in range(config.rounds):
            timings["year"].append(_timed(year_figures))
            timings["floor"].append(_timed(floor))
            timings["quarter"].append(_timed(quarter_figures))
        service.db.dispose()
    median = {name: statistics.median(values) for name, values in timings.items()}
    result = {"database": config.database, "incidents": config.incidents, "answers": figures.answers,
              "insights_365d_s": median["year"], "insights_90d_s": median["quarter"], "floor_s": median["floor"],
              "worth_acting": len(figures.worth_acting), **checks}
    result["over_floor"] = result["insights_365d_s"] / result["floor_s"]
    result["met"] = result["insights_365d_s"] < TARGET_SECONDS
    log(f"insights on {config.database}: 365 days {result['insights_365d_s'] * 1000:.0f} ms, 90 days "
        f"{result['insights_90d_s'] * 1000:.0f} ms (floor {result['floor_s'] * 1000:.0f} ms)")
    return result


def _checks(figures: Insights, answers: int) -> dict[str, bool]:
    """Every answer counted once overall, in each split that every answer has, and in the weeks."""
    totals = {split.name: sum(group.figure.answers for group in split.groups) for split in figures.splits}
    return {"answers_counted": figures.answers == answers,
            "splits_add_up": all(totals[name] == answers for name in ("acknowledge", "resolve", "apology", "amount",
                                                                       "severity", "owner", "remedy", "cause")),
            "weeks_add_up": sum(point.figure.answers for point in figures.by_week) == answers}


def _timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    if call() is None:
        raise RuntimeError("insights came out empty")
    return time.perf_counter() - started


if __name__ == "__main__":
    sys.exit(cli.main("insights_cost", Config, run, __doc__))
