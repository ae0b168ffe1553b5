"""structured timeline: events keep typed fields as JSON instead of Slack text

Each old `detail` line is read back into the fields of the event that wrote it (the
formats below are those of revisions 0001-0004's code), and kept only if those fields
render to exactly the same line again: anything else (a format this does not know, a
playbook title it cannot place) keeps its text whole in `legacy_text`, so nothing stored
is lost. The check renders through `bot.views.events`, the code that shows the timeline.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""
from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone

from alembic import op
import sqlalchemy as sa

from bot.domain.playbook import DEFAULT_PLAYBOOK, Playbook
from bot.domain.text import unescape_mrkdwn
from bot.domain.types import Event, StepKey
from bot.views.events import slack_line

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

_BATCH = 1000
_NO_CURRENCY = ""
"""The lines this migration reads were written before amounts carried a currency."""
_WHO = r"<@[^>]+>"
_TITLE = r"(?P<title>.+?)"
_REMEDY = r"(?P<remedy>no remedy|(?:refund|replacement|upgrade|discount|gift)(?: \d+(?:\.\d+)?)?)"
_NOTE = r"(?: \((?P<note>.*)\))?"
_FORMATS: dict[str, tuple[str, ...]] = {
    "created": (rf"{_WHO} flagged it",),
    "claimed": (rf"{_WHO} claimed it",),
    "assigned": (rf"{_WHO} assigned it to <@(?P<owner_after>[^>]+)>(?: \(was <@(?P<owner_before>[^>]+)>\))?",),
    "step_done": (rf"{_WHO} completed {_TITLE} \((?P<root_cause>.+?)\): (?P<note>.*)",
                  rf"{_WHO} completed {_TITLE}: {_REMEDY}{_NOTE}",
                  rf"{_WHO} completed (?P<title>.+)"),
    "step_skipped": (rf"{_WHO} skipped {_TITLE}: (?P<reason>.*)",),
    "snoozed": (rf"{_WHO} snoozed #\d+ for (?P<length>\d+[dhms](?: \d+[dhms])?)",),
    "help_requested": (rf"{_WHO} asked the leads for help with (?P<title>.+)",),
    "nudged": (r"Nudged: (?P<title>.+) was due",),
    "escalated": (r"Escalated to the leads: (?P<title>.+) is overdue",),
    "approval_requested": (rf"{_WHO} asked a lead to approve {_REMEDY} \(over the (?P<limit>[\d.]+) limit\){_NOTE}",),
    "remedy_approved": (rf"{_WHO} approved {_REMEDY}",),
    "remedy_declined": (rf"{_WHO} declined {_REMEDY}: (?P<reason>.*)",),
    "buy_in_agreed": (rf"{_WHO} recorded that the customer agreed with the resolution",),
    "buy_in_not_yet": (rf"{_WHO} recorded that the customer has not agreed yet(?:: (?P<reason>.*))?",),
    "follow_up_prompted": (r"The follow-up is due: <@(?P<owner>[^>]+)> was asked to record it",),
    "follow_up_recorded": (rf"{_WHO} recorded the follow-up: satisfaction (?P<csat>\d+)/10, "
                           rf"would buy again: (?P<buy_again>yes|maybe|no){_NOTE}",),
    "closed": (r"#\d+ is closed",),
    "cancelled": (rf"{_WHO} cancelled #\d+: (?P<reason>.*)",),
}
_PATTERNS = {kind: tuple(re.compile(text, re.DOTALL) for text in texts) for kind, texts in _FORMATS.items()}
_TYPED = ("reason", "note", "root_cause")
_UNITS = {"d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1), "s": timedelta(seconds=1)}
_BY_TITLE = {step.title: step.key for step in DEFAULT_PLAYBOOK.steps}
_ENDED_AS = {"step_done": "done", "step_skipped": "skipped"}

_events = sa.table('timeline_event', sa.column('id', sa.Integer), sa.column('incident_id', sa.Integer),
                   sa.column('at', sa.DateTime), sa.column('actor', sa.String), sa.column('kind', sa.String),
                   sa.column('detail', sa.Text), sa.column('data', sa.JSON))
_incidents = sa.table('incident', sa.column('id', sa.Integer), sa.column('number', sa.Integer))
_records = sa.table('step_record', sa.column('incident_id', sa.Integer), sa.column('step', sa.String),
                    sa.column('status', sa.String), sa.column('started_at', sa.DateTime),
                    sa.column('ended_at', sa.DateTime))


def upgrade() -> None:
    with op.batch_alter_table('timeline_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('data', sa.JSON(), nullable=True))
    connection = op.get_bind()
    for rows in _batches(connection, sa.select(_events.c.id, _events.c.incident_id, _events.c.at, _events.c.actor,
                                               _events.c.kind, _events.c.detail, _incidents.c.number)
                         .join(_incidents, _incidents.c.id == _events.c.incident_id)):
        connection.execute(_events.update().where(_events.c.id == sa.bindparam('b_id'))
                           .values(data=sa.bindparam('b_data')),
                           [{'b_id': row.id, 'b_data': _read_back(connection, row)} for row in rows])
    with op.batch_alter_table('timeline_event', schema=None) as batch_op:
        batch_op.alter_column('data', existing_type=sa.JSON(), nullable=False)
        batch_op.drop_column('detail')


def downgrade() -> None:
    """Every event written back as the line the timeline shows (default playbook titles)."""
    with op.batch_alter_table('timeline_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('detail', sa.Text(), nullable=True))
    connection = op.get_bind()
    for rows in _batches(connection, sa.select(_events.c.id, _events.c.at, _events.c.actor, _events.c.kind,
                                               _events.c.data, _incidents.c.number)
                         .join(_incidents, _incidents.c.id == _events.c.incident_id)):
        connection.execute(_events.update().where(_events.c.id == sa.bindparam('b_id'))
                           .values(detail=sa.bindparam('b_detail')), [
            {'b_id': row.id, 'b_detail': slack_line(Event.from_data(row.kind, _utc(row.at), row.actor, row.data),
                                                     ref=f"#{row.number}", playbook=DEFAULT_PLAYBOOK,
                                                     currency=_NO_CURRENCY)}
            for row in rows])
    with op.batch_alter_table('timeline_event', schema=None) as batch_op:
        batch_op.alter_column('detail', existing_type=sa.Text(), nullable=False)
        batch_op.drop_column('data')


def _batches(connection: sa.Connection, query: sa.Select):  # noqa: ANN202 - lists of rows
    """The rows in id order, a thousand at a time: a big timeline never sits in memory whole."""
    last = 0
    while rows := connection.execute(query.where(_events.c.id > last).order_by(_events.c.id).limit(_BATCH)).all():
        yield rows
        last = rows[-1].id


def _read_back(connection: sa.Connection, row: sa.Row) -> dict[str, object]:
    """The event's fields, if some format of its kind reads the line back exactly; else the line."""
    for pattern in _PATTERNS.get(row.kind, ()):
        found = pattern.fullmatch(row.detail)
        if found is None:
            continue
        fields = _fields(connection, row, found.groupdict())
        if fields is None:
            continue
        title = found.groupdict().get('title')
        playbook = DEFAULT_PLAYBOOK if title is None else _titled(StepKey(fields['step']), unescape_mrkdwn(title))
        event = Event.from_data(row.kind, _utc(row.at), row.actor, fields)
        if slack_line(event, ref=f"#{row.number}", playbook=playbook, currency=_NO_CURRENCY) == row.detail:
            return fields
    return {'legacy_text': row.detail}


def _fields(connection: sa.Connection, row: sa.Row, groups: dict[str, str | None]) -> dict[str, object] | None:
    """Matched text as `Event.to_data` encodes it; None when the step cannot be placed."""
    fields: dict[str, object] = {name: unescape_mrkdwn(groups[name]) for name in _TYPED if groups.get(name)}
    fields |= {name: groups[name] for name in ('owner_before', 'owner_after', 'owner', 'buy_again', 'limit')
               if groups.get(name)}
    if row.kind == 'claimed':
        fields['owner_after'] = row.actor
    if groups.get('csat'):
        fields['csat'] = int(groups['csat'])
    if groups.get('remedy'):
        kind, _, amount = groups['remedy'].partition(' ')
        fields |= {'remedy_kind': 'none', 'amount': '0'} if kind == 'no' else {'remedy_kind': kind,
                                                                             'amount': amount or '0'}
    if groups.get('length'):
        length = sum((int(part[:-1]) * _UNITS[part[-1]] for part in groups['length'].split()), timedelta())
        fields['until'] = (_utc(row.at) + length).isoformat()
    if groups.get('title'):
        step = _BY_TITLE.get(unescape_mrkdwn(groups['title'])) or _step_at(connection, row)
        if step is None or _misread(row.kind, step, fields):
            return None
        fields['step'] = step.value
    return fields


def _misread(kind: str, step: StepKey, fields: dict[str, object]) -> bool:
    """A fix is always done with its root cause and a remedy with its kind: a line read any
    other way (say, a whole fix line taken for a plain title) was read wrong."""
    return kind == 'step_done' and ((step is StepKey.FIX) != ('root_cause' in fields)
                                    or (step is StepKey.MAKE_IT_RIGHT) != ('remedy_kind' in fields))


def _step_at(connection: sa.Connection, row: sa.Row) -> StepKey | None:
    """A step whose title the playbook file changed: the one step instance that ended with
    this event (done, skipped), or that was current when it happened (help, reminders)."""
    query = sa.select(_records.c.step).distinct().where(_records.c.incident_id == row.incident_id)
    if row.kind in _ENDED_AS:
        query = query.where(_records.c.ended_at == row.at, _records.c.status == _ENDED_AS[row.kind])
    else:
        query = query.where(_records.c.started_at <= row.at,
                            sa.or_(_records.c.ended_at.is_(None), _records.c.ended_at > row.at))
    steps = connection.execute(query).scalars().all()
    return StepKey(steps[0]) if len(steps) == 1 else None


def _titled(key: StepKey, title: str) -> Playbook:
    """The default playbook with ``key`` titled as the old line has it, to render that line again."""
    return replace(DEFAULT_PLAYBOOK, steps=tuple(replace(step, title=title) if step.key is key else step
                                                 for step in DEFAULT_PLAYBOOK.steps))


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment
