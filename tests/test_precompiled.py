"""The acks' statements run on the driver's cursor on PostgreSQL (storage/precompiled.py):
what they read back is what SQLAlchemy's execution gave (zone-aware times, exact amounts,
enums), and a statement the database refuses fails as SQLAlchemy's error, leaving the pool
usable. Run on both databases: SQLite keeps SQLAlchemy's own execution, so the two must agree."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import exc, text

from bot.domain.types import NewIncident, Severity, Status, StepKey
from storage import repository
from storage.db import Database
from storage.migrate import upgrade

NOW = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)


@pytest.fixture
def db(database_url: str) -> Database:
    database = Database.from_url(database_url)
    upgrade(database.engine)
    yield database
    database.dispose()


def _flag(db: Database, ts: str, *, workspace_id: str = "T1") -> int:
    fresh = repository.new_incident(
        NewIncident(workspace_id=workspace_id, origin_channel="C1", origin_ts=ts, flagged_by="UAMY",
                    summary="Parcel arrived crushed", severity=Severity.HIGH),
        card_channel="CREC", now=NOW, claim_due=NOW + timedelta(minutes=10))
    with db.single_statement() as session:
        state = repository.insert_incident(session, fresh, next_alert=(NOW + timedelta(minutes=10), "claim"))
    assert state is not None
    return state.id


def test_what_a_list_and_a_decisions_read_give_back_is_typed_as_stored(db: Database):
    first, second = _flag(db, "1.1"), _flag(db, "1.2")
    snooze = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
    with db.transaction() as session:
        session.connection().execute(
            text("UPDATE incident SET remedy_amount = 25.50, owner_id = 'UBEN', snoozed_until = :until WHERE id = :id"),
            {"until": snooze.replace(tzinfo=None), "id": second})

    with db.one_statement() as connection:
        listed = repository.list_incidents(connection, workspace_id="T1", scope="open", user_id="UBEN", now=NOW)
        mine = repository.list_incidents(connection, workspace_id="T1", scope="mine", user_id="UBEN", now=NOW)
        loaded = repository.load_to_decide(connection, workspace_id="T1", incident_id=second)

    assert [(state.id, state.number) for state in listed] == [(second, 2), (first, 1)]
    assert [state.id for state in mine] == [second]
    newest = listed[0]
    assert newest.status is Status.OPEN and newest.current_step is StepKey.CLAIM and newest.severity is Severity.HIGH
    assert newest.created_at == NOW and newest.created_at.tzinfo is not None
    assert newest.step_due_at == NOW + timedelta(minutes=10)
    assert newest.snoozed_until == snooze
    assert newest.remedy_amount == Decimal("25.50")
    assert listed[1].remedy_amount is None and listed[1].owner_id is None
    assert loaded is not None
    assert loaded.state == newest and loaded.version == 0 and loaded.escalated is False


def test_another_workspaces_incident_is_not_read_for_a_decision(db: Database):
    theirs = _flag(db, "1.1", workspace_id="T2")
    with db.one_statement() as connection:
        assert repository.load_to_decide(connection, workspace_id="T1", incident_id=theirs) is None


def test_a_flag_the_database_refuses_fails_as_sqlalchemys_error_and_the_next_one_goes_in(db: Database):
    if db.dialect == "sqlite":
        pytest.skip("SQLite does not enforce a column's length")
    with pytest.raises(exc.DataError):
        _flag(db, "1.1", workspace_id="T" * 40)  # workspace_id is VARCHAR(32)
    assert _flag(db, "1.2") > 0
    with db.one_statement() as connection:
        assert [state.number for state in
                repository.list_incidents(connection, workspace_id="T1", scope="open", user_id="U", now=NOW)] == [1]
