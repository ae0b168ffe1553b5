"""Migrations: the same revisions build the schema the models describe, on both databases."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import sqlalchemy as sa
from alembic import command
from sqlalchemy import inspect

from bot.domain.playbook import DEFAULT_PLAYBOOK
from bot.domain.types import Event, EventKind, StepKey
from bot.views.events import slack_line
from storage import repository
from storage.db import Database
from storage.migrate import alembic_config, upgrade
from storage.models import Incident, StepRecord
from tests.helpers import schema_differences


def test_upgrade_builds_the_model_schema_and_is_repeatable(database_url):
    db = Database.from_url(database_url)
    upgrade(db.engine)
    upgrade(db.engine)
    with db.engine.connect() as connection:
        assert schema_differences(connection) == []
        tables = set(inspect(connection).get_table_names())
    assert {"incident", "step_record", "timeline_event", "outbox", "workspace_counter",
            "slack_installations", "slack_bots", "slack_oauth_states"} <= tables
    db.dispose()


def test_sqlite_runs_in_wal_mode(tmp_path):
    db = Database.from_url(f"sqlite:///{tmp_path / 'wal.db'}")
    with db.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    db.dispose()


# --- 0005: timeline lines as typed fields ----------------------------------------------

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=timezone.utc)
_OLD_EVENTS = sa.table("timeline_event", sa.column("id", sa.Integer), sa.column("incident_id", sa.Integer),
                       sa.column("at", sa.DateTime), sa.column("actor", sa.String), sa.column("kind", sa.String),
                       sa.column("detail", sa.Text))

# What revisions 0001-0004 wrote, line by line, and the event each line must come back as.
OLD_LINES: list[tuple[str, str | None, str, dict[str, object]]] = [
    ("created", "U1", "<@U1> flagged it", {}),
    ("nudged", None, "Nudged: Claim was due", {"step": StepKey.CLAIM}),
    ("claimed", "U3", "<@U3> claimed it", {"owner_after": "U3"}),
    ("assigned", "ULEAD", "<@ULEAD> assigned it to <@U2> (was <@U3>)", {"owner_before": "U3", "owner_after": "U2"}),
    ("assigned", "ULEAD", "<@ULEAD> assigned it to <@U2>", {"owner_after": "U2"}),
    ("snoozed", "U2", "<@U2> snoozed #7 for 1h 30m", {"until": timedelta(hours=1, minutes=30)}),
    ("help_requested", "U2", "<@U2> asked the leads for help with Acknowledge and take ownership",
     {"step": StepKey.ACKNOWLEDGE}),
    ("step_done", "U2", "<@U2> completed Call the customer back", {"step": StepKey.ACKNOWLEDGE}),
    ("step_skipped", "U2", "<@U2> skipped Apologize: &lt;!channel&gt; &amp; co called first",
     {"step": StepKey.APOLOGIZE, "reason": "<!channel> & co called first"}),
    ("step_done", "U2", "<@U2> completed Understand and fix (delivery): Reshipped &lt;fast&gt; (twice): done",
     {"step": StepKey.FIX, "root_cause": "delivery", "note": "Reshipped <fast> (twice): done"}),
    ("approval_requested", "U2", "<@U2> asked a lead to approve refund 120 (over the 50 limit) (VIP)",
     {"remedy_kind": "refund", "amount": Decimal(120), "limit": Decimal(50), "note": "VIP"}),
    ("remedy_declined", "ULEAD", "<@ULEAD> declined refund 120: Too much",
     {"remedy_kind": "refund", "amount": Decimal(120), "reason": "Too much"}),
    ("step_done", "U2", "<@U2> completed Go above and beyond: discount 20.50",
     {"step": StepKey.MAKE_IT_RIGHT, "remedy_kind": "discount", "amount": Decimal("20.50")}),
    ("step_done", "U2", "<@U2> completed Go above and beyond: no remedy (they said no)",
     {"step": StepKey.MAKE_IT_RIGHT, "remedy_kind": "none", "amount": Decimal(0), "note": "they said no"}),
    ("buy_in_not_yet", "U2", "<@U2> recorded that the customer has not agreed yet: wants more",
     {"reason": "wants more"}),
    ("remedy_approved", "ULEAD", "<@ULEAD> approved gift", {"remedy_kind": "gift", "amount": Decimal(0)}),
    ("buy_in_agreed", "U2", "<@U2> recorded that the customer agreed with the resolution", {}),
    ("follow_up_prompted", None, "The follow-up is due: <@U2> was asked to record it", {"owner": "U2"}),
    ("escalated", None, "Escalated to the leads: Follow up is overdue", {"step": StepKey.FOLLOW_UP}),
    ("follow_up_recorded", "U2", "<@U2> recorded the follow-up: satisfaction 9/10, would buy again: yes (Happy)",
     {"csat": 9, "buy_again": "yes", "note": "Happy"}),
    ("closed", "U2", "#7 is closed", {}),
    ("cancelled", "ULEAD", "<@ULEAD> cancelled #7: duplicate &amp; spam", {"reason": "duplicate & spam"}),
    # Lines nothing can read back: a step title no playbook or step record explains, and
    # text in no format the bot ever wrote.
    ("step_done", "U2", "<@U2> completed A step nobody knows", {"legacy_text": "<@U2> completed A step nobody knows"}),
    ("created", "U1", "flagged by hand &amp; <@U1>", {"legacy_text": "flagged by hand &amp; <@U1>"}),
]
_CUSTOM_TITLED = 7  # "Call the customer back": its step record says which step it was


def _migrate_to(engine: sa.Engine, revision: str, *, down: bool = False) -> None:
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)


def _at(index: int) -> datetime:
    return T0 + timedelta(minutes=index)


def _write_old_timeline(db: Database) -> int:
    """An incident at revision 0004 with one row per line in OLD_LINES, a minute apart."""
    with db.engine.begin() as connection:
        incident_id = connection.execute(sa.insert(Incident).values(
            workspace_id="T1", number=7, origin_channel="C1", origin_ts="1.0", excerpt="", summary="Crushed",
            flagged_by="U1", severity="normal", status="closed", version=0, current_step="follow_up", step_seq=1,
            step_started_at=T0, card_channel="C1", created_at=T0, updated_at=T0).returning(Incident.id)).scalar_one()
        connection.execute(sa.insert(StepRecord), [
            {"incident_id": incident_id, "seq": 0, "step": "acknowledge", "status": "done", "started_at": T0,
             "ended_at": _at(_CUSTOM_TITLED)},
            {"incident_id": incident_id, "seq": 1, "step": "apologize", "status": "current",
             "started_at": _at(_CUSTOM_TITLED), "ended_at": None}])
        connection.execute(sa.insert(_OLD_EVENTS), [
            {"incident_id": incident_id, "at": _at(index).replace(tzinfo=None), "actor": actor, "kind": kind,
             "detail": detail} for index, (kind, actor, detail, _) in enumerate(OLD_LINES)])
    return incident_id


def _expected(index: int, kind: str, actor: str | None, fields: dict[str, object]) -> Event:
    at = _at(index)
    if "until" in fields:
        fields = fields | {"until": at + fields["until"]}
    return Event(EventKind(kind), at, actor, **fields)


def test_old_timeline_lines_come_back_as_typed_fields_and_read_the_same(database_url):
    db = Database.from_url(database_url)
    _migrate_to(db.engine, "0004")
    incident_id = _write_old_timeline(db)
    upgrade(db.engine)
    with db.read() as session:
        events = repository.events_of(session, incident_id)
    assert events == [_expected(index, kind, actor, fields)
                      for index, (kind, actor, _, fields) in enumerate(OLD_LINES)]
    shown = [slack_line(event, ref="#7", playbook=DEFAULT_PLAYBOOK, currency="") for event in events]
    unchanged = [detail for index, (_, _, detail, _) in enumerate(OLD_LINES) if index != _CUSTOM_TITLED]
    assert [line for index, line in enumerate(shown) if index != _CUSTOM_TITLED] == unchanged
    assert shown[_CUSTOM_TITLED] == "<@U2> completed Acknowledge and take ownership", "titled by today's playbook"
    db.dispose()


def test_downgrade_writes_the_lines_back(database_url):
    db = Database.from_url(database_url)
    _migrate_to(db.engine, "0004")
    incident_id = _write_old_timeline(db)
    upgrade(db.engine)
    _migrate_to(db.engine, "0004", down=True)
    with db.engine.connect() as connection:
        details = connection.execute(sa.select(_OLD_EVENTS.c.detail).where(_OLD_EVENTS.c.incident_id == incident_id)
                                     .order_by(_OLD_EVENTS.c.id)).scalars().all()
    expected = [detail for _, _, detail, _ in OLD_LINES]
    expected[_CUSTOM_TITLED] = "<@U2> completed Acknowledge and take ownership"
    assert details == expected
    db.dispose()


# --- 0013: digests claimed per workspace ---------------------------------------------------

_OLD_DIGEST_RUNS = sa.table("digest_run", sa.column("channel", sa.String), sa.column("local_date", sa.String),
                            sa.column("created_at", sa.DateTime))


def _digest_runs_after_0013(database_url: str, workspaces: dict[str, str], channels: list[str]) -> dict[str, str]:
    """Incidents of ``workspaces`` ({channel: workspace}) and a claim of each of ``channels``
    written at 0010; after the upgrade, each claim's workspace."""
    db = Database.from_url(database_url)
    _migrate_to(db.engine, "0010")
    with db.engine.begin() as connection:
        for number, (channel, workspace) in enumerate(workspaces.items(), start=1):
            connection.execute(sa.insert(Incident).values(
                workspace_id=workspace, number=number, origin_channel=channel, origin_ts=f"{number}.0", excerpt="",
                summary="", flagged_by="U1", severity="normal", status="open", version=0, current_step="claim",
                step_seq=0, step_started_at=T0, card_channel=channel, created_at=T0, updated_at=T0))
        connection.execute(sa.insert(_OLD_DIGEST_RUNS), [
            {"channel": channel, "local_date": "2026-11-02", "created_at": T0.replace(tzinfo=None)}
            for channel in channels])
    upgrade(db.engine)
    with db.engine.connect() as connection:
        found = dict(connection.execute(sa.text("SELECT channel, workspace_id FROM digest_run")).all())
    db.dispose()
    return found


def test_0013_gives_each_digest_claim_its_workspace(database_url):
    found = _digest_runs_after_0013(database_url, {"C1": "T1", "C2": "T2"},
                                    ["C1", "C2", "leads:T2", "insights:T1", "CQUIET"])
    assert found == {"C1": "T1", "C2": "T2", "leads:T2": "T2", "insights:T1": "T1", "CQUIET": ""}


def test_0013_gives_a_channel_without_incidents_the_one_workspace_known(database_url):
    assert _digest_runs_after_0013(database_url, {"C1": "T1"}, ["C1", "CQUIET"]) == {"C1": "T1", "CQUIET": "T1"}
