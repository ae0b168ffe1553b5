"""Whose Home tab to republish after a change, queued in the change's own transaction.

Only people who opened their Home (storage/viewer_store.py) get it republished: for anyone
else a publish would spend views.publish's budget on a tab nobody looks at. The row is
debounced: queued DEBOUNCE after the change, and a change while that person's row is still
pending adds nothing, since the Home is rendered from the database when it is sent
(bot/outbox_home.py). Several changes within a second are one publish.

Who is concerned by a change: the owner before and after, whoever flagged it and whoever
acted; the leads when it asks or settles an approval or calls them (escalation, Need help);
and, when an unclaimed incident appears or stops being unclaimed, the viewers for whom its
card channel is one of "my channels" (its Unclaimed section changes).
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlmodel import Session

from bot.domain.types import Decision, EventKind, IncidentState
from storage import outbox_store, repository, viewer_store

KIND = "home"
# Not a setting: long enough to fold a burst of clicks (a Done and the step it opens, an
# approval and its redraws) into one publish, short enough that the Home looks live.
DEBOUNCE = timedelta(seconds=1)
# "My channels": the card channels of incidents the person flagged or owned this recently.
MY_CHANNELS = timedelta(days=90)

_CALLS_LEADS = frozenset({EventKind.APPROVAL_REQUESTED, EventKind.REMEDY_APPROVED, EventKind.REMEDY_DECLINED,
                          EventKind.APPROVAL_EXPIRED, EventKind.APPROVAL_REMINDED, EventKind.HELP_REQUESTED,
                          EventKind.ESCALATED})


def ordering_key(workspace_id: str, user_id: str) -> str:
    """One key per person and workspace: their Home rows leave one at a time, and a later one
    supersedes. The workspace is in it because one person (an Enterprise Grid user id) can have
    a Home in two workspaces, and one's refresh must neither wait for nor replace the other's."""
    return _key_prefix(workspace_id) + user_id


def _key_prefix(workspace_id: str) -> str:
    return f"{KIND}:{workspace_id}:"


def opened(session: Session, *, workspace_id: str, user_id: str, now: datetime) -> None:
    """``user_id`` opened their Home: remember them, and publish it now (they are looking)."""
    viewer_store.remember(session, workspace_id=workspace_id, user_id=user_id, now=now)
    repository.queue_homes(session, viewer_store.Concerned.of(workspace_id, [user_id]),
                           keyed(workspace_id, now, due=now))


def queue(session: Session, workspace_id: str, users: Iterable[str], now: datetime) -> None:
    """Republish, DEBOUNCE from now, the Homes of those of ``users`` who opened theirs."""
    repository.queue_homes(session, viewer_store.Concerned.of(workspace_id, users), keyed(workspace_id, now))


def decision_concerns(decision: Decision, *, before: IncidentState | None, leads: Iterable[str],
                      now: datetime) -> viewer_store.Concerned:
    """Whose Homes a decision on an incident changes (bot/announce.py)."""
    state = decision.state
    kinds = {event.kind for event in decision.events}
    users = {state.owner_id, state.flagged_by, *(event.actor for event in decision.events)}
    if before is not None:
        users.add(before.owner_id)
    if kinds & _CALLS_LEADS or decision.approval_requested or decision.escalate_now:
        users.update(leads)
    watched = before is not None and before.is_unclaimed and not state.is_unclaimed
    return _concerns(state, (user for user in users if user and user != "system"), now, watched=watched)


def flag_concerns(state: IncidentState, now: datetime) -> viewer_store.Concerned:
    """A new unclaimed incident: the flagger's Home, and every Home whose channels include its card's."""
    return _concerns(state, [state.flagged_by], now, watched=True)


def decision_homes(decision: Decision, *, before: IncidentState | None, leads: Iterable[str],
                   now: datetime) -> dict[str, object]:
    """repository.apply_decision's arguments for the Homes a decision changes: its own
    statements write their rows."""
    return {"concerned": decision_concerns(decision, before=before, leads=leads, now=now),
            "homes": keyed(decision.state.workspace_id, now)}


def keyed(workspace_id: str, now: datetime, *, due: datetime | None = None) -> outbox_store.Keyed:
    """A change's Home rows, for the viewers its ``Concerned`` names (storage/repository.py
    ``queue_homes``; a flag's and a decision's own statements on PostgreSQL), DEBOUNCE from
    ``now`` unless ``due``."""
    return outbox_store.Keyed(workspace_id, KIND, _key_prefix(workspace_id), due=due or now + DEBOUNCE, now=now)


def after_reminder(session: Session, state: IncidentState, *, leads: Iterable[str], escalated: bool,
                   now: datetime) -> None:
    """A nudge makes the step late, an escalation makes it Escalated (the leads' too)."""
    users = [state.owner_id or "", state.flagged_by, *(leads if escalated else ())]
    repository.queue_homes(session, _concerns(state, users, now, watched=state.is_unclaimed),
                           keyed(state.workspace_id, now))


def _concerns(state: IncidentState, users: Iterable[str], now: datetime, *, watched: bool) -> viewer_store.Concerned:
    """``users``' Homes, and with ``watched`` those whose channels include the card's (its
    Unclaimed section changes)."""
    return viewer_store.Concerned.of(state.workspace_id, users, channel=state.card_channel if watched else None,
                                     since=now - MY_CHANNELS)
