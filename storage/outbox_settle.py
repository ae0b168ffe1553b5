"""Recording the outbox rows Slack took: a batch's in one statement on PostgreSQL.

Most rows sent need only this written: the row is sent (when, Slack's ts, a note), and for a
card or a step's message where it now is. Written as a transaction per batch (BEGIN, two
statements a row, COMMIT) it was a quarter of the sender's CPU and four round trips a row
(py-spy and pg_stat_statements over the ack benchmark, issue 17). As data (``Sent``) the
whole batch is one statement outside a transaction on the sender's own connection: each of
its parts sees the same rows, and it commits or fails whole, as the transaction did. SQLite
has no round trips to save: there, and for a batch with any other kind of record, the same
changes are written row by row in one transaction (``write_in``).
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import (Boolean, DateTime, Integer, Select, Text, bindparam, case, cast, column, func, literal, select,
                        update)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection
from sqlmodel import Session

from storage import outbox_store, repository
from storage.models import Incident, OutboxMessage, StepRecord


@dataclass(frozen=True, slots=True)
class Sent:
    """A row Slack took (``ts``: its message, if it made one) and where that message is now.

    ``card_of``: the incident whose card it posted, in ``channel``, with what the sender
    fetched of the flagged message (``excerpt``, ``permalink``: fill only what is empty).
    ``step_of``: the incident and step seq whose prompt it posted, ``approval`` for the
    approval request."""

    row_id: int
    sent_at: datetime
    ts: str | None
    note: str | None
    card_of: int | None = None
    channel: str | None = None
    excerpt: str | None = None
    permalink: str | None = None
    step_of: int | None = None
    step_seq: int | None = None
    approval: bool = False


def write_in(session: Session, sent: Sent) -> None:
    """One row's record, in the caller's transaction."""
    if sent.card_of is not None and sent.ts is not None:
        repository.set_card(session, sent.card_of, channel=sent.channel or "", ts=sent.ts, excerpt=sent.excerpt,
                            permalink=sent.permalink)
    if sent.step_of is not None and sent.step_seq is not None and sent.ts is not None:
        repository.set_step_message_ts(session, sent.step_of, sent.step_seq, sent.ts, approval=sent.approval)
    outbox_store.mark_sent(session, sent.row_id, now=sent.sent_at, ts=sent.ts, note=sent.note)


def write_all(connection: Connection, sents: Sequence[Sent]) -> None:
    """PostgreSQL: the records of ``sents`` as one statement, on a connection outside a transaction."""
    connection.execute(_WRITE_ALL, {"rows": json.dumps([_as_json(sent) for sent in sents])})


def _as_json(sent: Sent) -> dict:
    values = asdict(sent)
    values["sent_at"] = outbox_store.naive_utc(sent.sent_at)
    values["note"] = sent.note[:500] if sent.note else None
    values["excerpt"], values["permalink"] = sent.excerpt or None, sent.permalink or None
    return values


def _write_all() -> Select:
    """The JSON parameter ``rows`` as a table ``sent``, and from it: the rows marked sent as
    outbox_store.mark_sent does, the cards placed as repository.set_card does, the prompts'
    ts as repository.set_step_message_ts does."""
    rows = (func.jsonb_to_recordset(cast(bindparam("rows"), JSONB))
            .table_valued(column("row_id", Integer), column("sent_at", DateTime), column("ts", Text),
                          column("note", Text), column("card_of", Integer), column("channel", Text),
                          column("excerpt", Text), column("permalink", Text), column("step_of", Integer),
                          column("step_seq", Integer), column("approval", Boolean))
            .render_derived(name="rows", with_types=True))
    sent = select(rows).cte("sent")
    outbox = OutboxMessage.__table__
    marked = (update(outbox).where(outbox.c.id == sent.c.row_id)
              .values(state=outbox_store.SENT, sent_at=sent.c.sent_at, result_ts=sent.c.ts, lease_until=None,
                      last_error=sent.c.note, uncertain=False).cte("marked"))
    incident = Incident.__table__
    cards = (update(incident).where(incident.c.id == sent.c.card_of, sent.c.ts.is_not(None))
             .values(card_channel=sent.c.channel, card_ts=sent.c.ts,
                     **repository.origin_filled(excerpt=sent.c.excerpt, permalink=sent.c.permalink))
             .cte("cards"))
    step = StepRecord.__table__
    prompts = (update(step).where(step.c.incident_id == sent.c.step_of, step.c.seq == sent.c.step_seq,
                                  sent.c.ts.is_not(None))
               .values(message_ts=case((sent.c.approval, step.c.message_ts), else_=sent.c.ts),
                       approval_ts=case((sent.c.approval, sent.c.ts), else_=step.c.approval_ts))
               .cte("prompts"))
    return select(literal(1)).add_cte(marked).add_cte(cards).add_cte(prompts)


_WRITE_ALL = _write_all()
