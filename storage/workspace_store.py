"""The workspace table's queries: installed or not, the token-refresh lease, and erasure.

An uninstalled workspace is paused, not gone: ``paused`` is the condition the outbox and the
timers leave out, so a row of such a workspace waits (never fails) and a timer stays due.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Interval, bindparam, case, delete, exists, func, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from storage.models import (
    ChannelCheck, DigestRun, HomeViewer, Incident, LeadMessage, Notification, OutboxMessage, StepRecord,
    SurveyBaseline, TimelineEvent, UTCDateTime, WorkspaceCounter, WorkspaceRow, WorkspaceSetting, WorkspaceSettingChange,
)

INSTALLED, UNINSTALLED = "installed", "uninstalled"

_WORKSPACE = WorkspaceRow.__table__


def paused(workspace_id: ColumnElement[str]) -> ColumnElement[bool]:
    """Whether the workspace in ``workspace_id`` has its sends and timers stopped: for
    ``~paused(column)``. A lookup by the workspace's key for each row, never a read of the
    whole workspace table: the outbox's due query forbids those (storage/outbox_store.py)."""
    return exists().where(_WORKSPACE.c.workspace_id == workspace_id, _WORKSPACE.c.status == UNINSTALLED)


def _insert(session: Session, table):  # noqa: ANN001, ANN202 - dialect-specific insert
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def mark(session: Session, workspace_id: str, *, status: str, now: datetime, team_name: str | None = None,
         erase_due: bool = False) -> None:
    """Record the workspace as ``status`` (creating its row). ``changed_at`` is when the status
    last changed: a repeated event (Slack sends ``tokens_revoked`` and ``app_uninstalled`` for
    one removal) keeps it. Installing clears a refused refresh's ``token_error``: the new
    token is good."""
    values: dict = {"status": status, "changed_at": now, "erase_due": erase_due}
    if status == INSTALLED:
        values["token_error"] = None
    if team_name:
        values["team_name"] = team_name
    changed = case((_WORKSPACE.c.status == status, _WORKSPACE.c.changed_at), else_=literal(now, UTCDateTime()))
    session.connection().execute(
        _insert(session, _WORKSPACE).values(workspace_id=workspace_id, **values)
        .on_conflict_do_update(index_elements=["workspace_id"], set_={**values, "changed_at": changed}))


def find(session: Session, workspace_id: str) -> WorkspaceRow | None:
    return session.get(WorkspaceRow, workspace_id)


def is_paused(session: Session, workspace_id: str) -> bool:
    row = find(session, workspace_id)
    return row is not None and row.status == UNINSTALLED


def installed_count(session: Session) -> int:
    return session.connection().execute(
        select(func.count()).select_from(_WORKSPACE).where(_WORKSPACE.c.status == INSTALLED)).scalar_one()


def token_errors(session: Session, workspace_ids: set[str]) -> dict[str, str]:
    """Those of the workspaces whose token Slack refused to refresh, with what it said."""
    if not workspace_ids:
        return {}
    return dict(session.connection().execute(
        select(_WORKSPACE.c.workspace_id, _WORKSPACE.c.token_error).where(
            _WORKSPACE.c.workspace_id.in_(sorted(workspace_ids)), _WORKSPACE.c.token_error.is_not(None))).all())


def set_token_error(session: Session, workspace_id: str, *, error: str, now: datetime) -> None:
    session.connection().execute(
        _insert(session, _WORKSPACE).values(workspace_id=workspace_id, status=INSTALLED, changed_at=now,
                                            erase_due=False, token_error=error)
        .on_conflict_do_update(index_elements=["workspace_id"], set_={"token_error": error}))


def refused_refresh(session: Session) -> set[str]:
    """Workspaces whose refresh Slack refused: not asked again until a reinstall."""
    return set(session.connection().execute(
        select(_WORKSPACE.c.workspace_id).where(_WORKSPACE.c.token_error.is_not(None))).scalars())


def take_refresh_lease(session: Session, workspace_id: str, *, now: datetime, lease_for: timedelta) -> bool:
    """True for exactly one caller while the lease runs: the conditional UPDATE decides (on
    PostgreSQL the second waits on the row lock, then finds the lease taken; SQLite
    serialises the writers)."""
    session.connection().execute(
        _insert(session, _WORKSPACE).values(workspace_id=workspace_id, status=INSTALLED, changed_at=now,
                                            erase_due=False).on_conflict_do_nothing(index_elements=["workspace_id"]))
    taken = session.connection().execute(
        update(_WORKSPACE).where(_WORKSPACE.c.workspace_id == workspace_id,
                                 or_(_WORKSPACE.c.refresh_lease_until.is_(None),
                                     _WORKSPACE.c.refresh_lease_until < now))
        .values(refresh_lease_until=now + lease_for))
    return taken.rowcount == 1


def release_refresh_lease(session: Session, workspace_id: str) -> None:
    session.connection().execute(
        update(_WORKSPACE).where(_WORKSPACE.c.workspace_id == workspace_id).values(refresh_lease_until=None))


def shift_open_clocks(session: Session, workspace_id: str, *, by: timedelta) -> int:
    """Move the workspace's open incidents' step clocks, snoozes and next reminders on by the
    time it was uninstalled: the reminders owed resume where they stood, none in a burst."""
    incident = Incident.__table__
    c = incident.c
    columns = (c.step_started_at, c.step_due_at, c.snoozed_until, c.next_alert_at)
    values = {column: column + literal(by, Interval()) for column in columns}
    if session.get_bind().dialect.name == "sqlite":
        # SQLite stores the times as text: datetime() adds the seconds and keeps the format.
        seconds = f"+{by.total_seconds():.6f} seconds"
        values = {column: func.strftime("%Y-%m-%d %H:%M:%f000", column, seconds) for column in columns}
    return session.connection().execute(
        update(incident).where(c.workspace_id == workspace_id, c.status == "open")
        .values({column.name: value for column, value in values.items()})).rowcount


def erasing(session: Session) -> list[str]:
    """Uninstalled workspaces whose data UNINSTALL_ERASE still has to delete."""
    return list(session.connection().execute(
        select(_WORKSPACE.c.workspace_id).where(_WORKSPACE.c.status == UNINSTALLED, _WORKSPACE.c.erase_due)
        .order_by(_WORKSPACE.c.workspace_id)).scalars())


def erase_batch(session: Session, workspace_id: str, *, limit: int) -> int:
    """Delete up to ``limit`` of the workspace's incidents with everything hanging off them;
    once none is left, its other rows, and the erasure is done (``erase_due`` cleared).
    Returns the incidents deleted: less than ``limit`` means finished."""
    connection = session.connection()
    incident = Incident.__table__
    picked = connection.execute(
        select(incident.c.id, incident.c.card_channel).where(incident.c.workspace_id == workspace_id)
        .order_by(incident.c.id).limit(limit)).all()
    ids = [row.id for row in picked]
    if ids:
        for model in (TimelineEvent, Notification, StepRecord, LeadMessage, OutboxMessage):
            table = model.__table__
            connection.execute(delete(table).where(table.c.incident_id.in_(bindparam("ids", expanding=True))),
                               {"ids": ids})
        connection.execute(delete(incident).where(incident.c.id.in_(bindparam("ids", expanding=True))), {"ids": ids})
    if len(ids) < limit:
        _erase_the_rest(session, workspace_id)
    return len(ids)


def _erase_the_rest(session: Session, workspace_id: str) -> None:
    connection = session.connection()
    # Digest claims go by workspace: a channel shared with another workspace keeps its claims there.
    for model in (OutboxMessage, HomeViewer, ChannelCheck, WorkspaceCounter, SurveyBaseline, DigestRun,
                  WorkspaceSetting, WorkspaceSettingChange):
        table = model.__table__
        connection.execute(delete(table).where(table.c.workspace_id == workspace_id))
    connection.execute(update(_WORKSPACE).where(_WORKSPACE.c.workspace_id == workspace_id).values(erase_due=False))
