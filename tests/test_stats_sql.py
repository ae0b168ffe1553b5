"""`/recovery stats` added up in SQL (`repository.stats_totals`), on each database: the same
figures as the Python path it replaced (`bench/stats_reference.py`) on random workspaces,
and hand-computed ones where the SQL has its own ways (microseconds on SQLite, cents,
causes as recorded, the periods' edges)."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert

from bot.domain.digest import StatsFigures, Trend
from bot.domain.stats import figures_from_totals, stats_window
from bot.domain.types import StepKey
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Incident, StepRecord
from storage.repository import stats_totals
from bench.stats_reference import reference_stats

NOW = datetime(2026, 11, 2, 8, 0, 0, 250_000, tzinfo=timezone.utc)
TZ = ZoneInfo("Europe/Berlin")
DAY, MIN, MICRO = timedelta(days=1), timedelta(minutes=1), timedelta(microseconds=1)
STATUSES = ("open", "closed", "cancelled")


@pytest.fixture
def db(database_url):
    database = Database.from_url(database_url)
    upgrade(database.engine)
    yield database
    database.dispose()


def _incident(number: int, *, created_at: datetime, workspace: str = "T1", status: str = "closed",
              **fields) -> dict:
    """A row with every key the tests set (a multi-row insert takes its columns from the first row)."""
    row = {"workspace_id": workspace, "number": number, "origin_channel": "C1", "origin_ts": f"{number}.1",
           "flagged_by": "U1", "status": status, "current_step": "claim", "card_channel": "C1",
           "step_started_at": created_at, "created_at": created_at, "updated_at": created_at}
    for key in ("owner_id", "step_due_at", "snoozed_until", "claimed_at", "closed_at", "buy_in_at", "root_cause",
                "remedy_kind", "remedy_amount", "approval", "csat", "buy_again"):
        row[key] = fields.pop(key, None)
    assert not fields, fields
    return row


def _store(db: Database, incidents: list[dict], steps: dict[int, list[dict]] | None = None) -> None:
    """The incidents, and step records by incident number ({"step", "status", "due_at", "ended_at"})."""
    with db.engine.begin() as connection:
        ids = dict((number, incident_id) for incident_id, number in connection.execute(
            insert(Incident).returning(Incident.id, Incident.number), incidents).all())
        records = [{"incident_id": ids[number], "seq": seq, "started_at": record["due_at"] or NOW, **record}
                   for number, numbered in (steps or {}).items() for seq, record in enumerate(numbered)]
        if records:
            connection.execute(insert(StepRecord), records)


def _stats(db: Database, days: int, *, now: datetime = NOW) -> StatsFigures:
    window = stats_window(now, days)
    with db.read() as session:
        return figures_from_totals(stats_totals(session, workspace_id="T1", window=window), window=window, tz=TZ)


def _reference(db: Database, days: int) -> StatsFigures:
    with db.read() as session:
        return reference_stats(session, workspace_id="T1", now=NOW, days=days, tz=TZ)


def test_the_period_against_the_one_before_counting_each_event_where_it_happened(db):
    _store(db, [
        _incident(1, created_at=NOW - 20 * DAY, status="open", claimed_at=NOW - 20 * DAY + 6 * MIN, owner_id="U2",
                  step_due_at=NOW - MIN),
        _incident(2, created_at=NOW - 40 * DAY, claimed_at=NOW - 40 * DAY + 12 * MIN, closed_at=NOW - 5 * DAY,
                  buy_in_at=NOW - 31 * DAY, csat=9, buy_again="yes"),
        _incident(3, created_at=NOW - 2 * DAY, status="cancelled", closed_at=NOW - DAY),
        _incident(4, created_at=NOW - 70 * DAY, claimed_at=NOW - 70 * DAY + 99 * MIN, closed_at=NOW - 65 * DAY),
        _incident(5, created_at=NOW, status="open"),                             # at now: the next period's
        _incident(6, created_at=NOW - 30 * DAY, status="open", step_due_at=NOW - MIN, snoozed_until=NOW + MIN),
        _incident(7, created_at=NOW - DAY, workspace="T2", status="open"),       # another workspace
    ])
    stats = _stats(db, 30)
    assert (stats.days, stats.since) == (30, (NOW - 30 * DAY).astimezone(TZ))
    assert (stats.flagged, stats.resolved, stats.closed, stats.cancelled) == (3, 0, 1, 1)
    assert (stats.open_now, stats.unclaimed_now, stats.overdue_now) == (3, 2, 1)
    assert stats.time_to_claim == Trend(current=6 * MIN, previous=12 * MIN)
    assert stats.time_to_resolve == Trend(current=None, previous=9 * DAY)
    assert (stats.satisfaction, stats.buy_again_share) == (9.0, 1.0)
    assert stats == _reference(db, 30)


def test_medians_are_exact_to_the_microsecond(db):
    """SQLite's date functions round to milliseconds; durations a microsecond apart still
    rank apart, and an even count's median is the mean of the middle two, rounded as Python does."""
    took = [5 * MIN + 3 * MICRO, 5 * MIN + 4 * MICRO, 5 * MIN + 999_999 * MICRO, MIN]
    _store(db, [_incident(number, created_at=NOW - DAY - delta, claimed_at=NOW - DAY + number * MICRO - MICRO)
                for number, delta in enumerate(took, start=1)])
    assert _stats(db, 7).time_to_claim == Trend(current=5 * MIN + 4 * MICRO, previous=None)  # mean of +3 µs, +5 µs
    assert _stats(db, 7) == _reference(db, 7)


def test_within_sla_share_counts_done_and_skipped_steps_ended_by_their_due_time(db):
    due = NOW - 2 * DAY

    def step(key: str, ended: datetime | None, status: str, due_at: datetime | None = due) -> dict:
        return {"step": key, "status": status, "due_at": due_at, "ended_at": ended}

    _store(db, [_incident(number, created_at=NOW - 3 * DAY, status="open") for number in (1, 2, 3)], {
        1: [step("claim", due - MIN, "done"),
            step("acknowledge", due + MIN, "done"),
            step("make_it_right", due + MIN, "declined"),      # loops back: not judged here
            step("make_it_right", due - MIN, "done"),
            step("buy_in", due - MIN, "not_yet"),
            step("buy_in", due + DAY, "done")],
        2: [step("claim", due, "done"),                        # exactly at due is in time
            step("acknowledge", due - MIN, "skipped"),
            step("apologize", None, "current")],               # still running
        3: [step("claim", due + timedelta(seconds=1), "skipped"),
            step("claim", due - 10 * DAY, "done", due_at=due - 10 * DAY),   # ended before the window
            step("follow_up", due, "done", due_at=None)],
    })
    assert _stats(db, 7).within_sla == {
        "claim": 2 / 3, "acknowledge": 0.5, "apologize": None, "fix": None,
        "make_it_right": 1.0, "buy_in": 0.0, "follow_up": 1.0,
    }
    assert _stats(db, 7) == _reference(db, 7)


def test_causes_spend_and_acknowledgements_come_from_the_steps_and_the_remedies(db):
    fixed, acked = NOW - DAY, NOW - 2 * DAY
    _store(db, [
        _incident(1, created_at=NOW - 40 * DAY, root_cause=" delivery ", buy_in_at=NOW - DAY, remedy_kind="refund",
                  remedy_amount=Decimal("20.05"), closed_at=NOW - MIN),
        _incident(2, created_at=NOW - 3 * DAY, root_cause="delivery", buy_in_at=NOW - DAY, remedy_kind="gift",
                  remedy_amount=Decimal("0.10"), approval="approved", closed_at=NOW - MIN),
        _incident(3, created_at=NOW - 3 * DAY, root_cause="billing", buy_in_at=NOW - DAY, remedy_kind="gift",
                  remedy_amount=Decimal("70"), approval="pending", status="open"),
        _incident(4, created_at=NOW - 3 * DAY, root_cause="   ", buy_in_at=NOW - DAY, remedy_kind="none",
                  remedy_amount=Decimal("0"), closed_at=NOW - MIN),
        _incident(5, created_at=NOW - 50 * DAY, root_cause="staff", closed_at=NOW - 45 * DAY),
    ], {
        1: [{"step": "acknowledge", "status": "done", "due_at": None, "ended_at": NOW - 40 * DAY + 30 * MIN},
            {"step": "fix", "status": "done", "due_at": None, "ended_at": fixed - DAY},
            {"step": "fix", "status": "done", "due_at": None, "ended_at": fixed}],
        2: [{"step": "acknowledge", "status": "done", "due_at": None, "ended_at": acked},
            {"step": "acknowledge", "status": "done", "due_at": None, "ended_at": acked + DAY},
            {"step": "fix", "status": "skipped", "due_at": None, "ended_at": fixed}],
    })
    stats = _stats(db, 7)
    assert stats.top_causes == (("delivery", 2), ("billing", 1))
    assert (stats.remedy_spend, stats.remedy_count) == (Decimal("20.15"), 2)
    assert f"{stats.remedy_spend:f}" == "20.15"
    assert stats.time_to_acknowledge == Trend(current=DAY, previous=None)
    assert stats == _reference(db, 7)


def _random_workspace(rng: random.Random, count: int) -> tuple[list[dict], dict[int, list[dict]]]:
    """Incidents of two workspaces, anywhere from 100 days ago to a day ahead (a wrong clock
    included), with times to the microsecond, some on the periods' edges, and step records."""
    edges = [NOW - 7 * DAY, NOW - 14 * DAY, NOW - 30 * DAY, NOW - 60 * DAY, NOW]

    def moment() -> datetime:
        if rng.random() < 0.1:
            return rng.choice(edges)
        return NOW - timedelta(microseconds=rng.randrange(-DAY // MICRO, 100 * DAY // MICRO))

    def maybe(value: object, chance: float = 0.6) -> object:
        return value if rng.random() < chance else None

    incidents, steps = [], {}
    for number in range(1, count + 1):
        created = moment()
        incidents.append(_incident(
            number, created_at=created, workspace=rng.choice(("T1", "T1", "T1", "T2")), status=rng.choice(STATUSES),
            owner_id=maybe("U2"), step_due_at=maybe(moment()), snoozed_until=maybe(moment(), 0.2),
            claimed_at=maybe(created + timedelta(microseconds=rng.randrange(0, 3 * DAY // MICRO))),
            closed_at=maybe(moment()), buy_in_at=maybe(moment()),
            root_cause=maybe(rng.choice(("delivery", " delivery", "billing ", "", "  ", "staff", "product"))),
            remedy_kind=maybe(rng.choice(("refund", "gift", "none"))),
            remedy_amount=maybe(Decimal(rng.randrange(0, 20000)) / 100),
            approval=maybe(rng.choice(("approved", "pending", "declined"))),
            csat=maybe(rng.randint(1, 10)), buy_again=maybe(rng.choice(("yes", "no", "maybe")))))
        steps[number] = [{"step": rng.choice(list(StepKey)).value,
                          "status": rng.choice(("done", "done", "skipped", "declined", "not_yet", "current")),
                          "due_at": maybe(moment(), 0.8), "ended_at": maybe(moment(), 0.8)}
                         for _ in range(rng.randrange(0, 8))]
    return incidents, steps


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_workspaces_get_the_same_figures_as_the_python_path(db, seed):
    rng = random.Random(seed)
    _store(db, *_random_workspace(rng, 300))
    for days in (0, 1, 7, 30):
        assert _stats(db, days) == _reference(db, days), f"seed {seed}, {days} days"
