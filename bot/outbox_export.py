"""The outbox's ``export`` rows: a lead's `/recovery export`, built and uploaded when sent.

The command stores a small row (the lead, the period, when it was asked) and answers at
once; the CSV is built from the database when the row is sent, as a Home is rendered when
published, so the request costs the ack nothing and a retried row builds it again from the
same period (it ends when it was asked for). The file goes to the lead's DM through
bot/uploads.py; an upload that failed is done again from the start (see there).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime

from sqlmodel import Session

from bot import export
from bot.domain.playbook import Playbook
from bot.domain.types import Policy
from bot.export import IncidentRow, Period
from bot.views import export as export_view
from storage import outbox_store
from storage.db import Database
from storage.outbox_store import Leased

log = logging.getLogger(__name__)

KIND = "export"

Upload = Callable[..., str]  # bot/uploads.upload through the sender's paced, sorted call
DmChannel = Callable[[str], str]  # a user id in, the id of the bot's DM with them out


def queue(session: Session, *, workspace_id: str, user_id: str, period: str, now: datetime) -> None:
    """A lead asked for an export: built and sent by the outbox, off the request path."""
    outbox_store.enqueue(session, workspace_id=workspace_id, kind=KIND, now=now, user_id=user_id,
                         payload={"period": period, "requested_at": now.isoformat()})


class ExportSender:
    """Builds one lead's export from the database and uploads it to their DM."""

    def __init__(self, *, db: Database, playbook: Callable[[], Playbook], policy: Callable[[], Policy]) -> None:
        self._db = db
        self._playbook = playbook
        self._policy = policy

    def send(self, row: Leased, *, dm_channel: DmChannel, upload: Upload) -> tuple[str | None, str | None]:
        """(None, a note for the row: the file's id); raises what ``dm_channel`` and ``upload`` raise."""
        period = Period.named(row.payload["period"], until=datetime.fromisoformat(row.payload["requested_at"]))
        content, count = self.build(row.workspace_id, period)
        file_id = upload(content=content, filename=export_view.filename(period), title=export_view.title(period),
                         channel=dm_channel(row.user_id or ""),
                         initial_comment=export_view.dm_comment(period, count=count, tz=self._policy().tz))
        log.info("export of %d incidents (%s) uploaded to %s's DM as %s", count, period.name, row.user_id, file_id)
        return None, f"uploaded as {file_id}"

    def build(self, workspace_id: str, period: Period) -> tuple[bytes, int]:
        """The CSV's bytes (UTF-8 with a byte order mark, which spreadsheets need to read
        accents right) and how many incidents it holds."""
        counted = _Counter()
        with self._db.read() as session:
            rows = export.rows(session, workspace_id=workspace_id, period=period, playbook=self._playbook(),
                               policy=self._policy())
            text = "".join(export_view.csv_lines(counted.through(rows)))
        return ("\ufeff" + text).encode("utf-8"), counted.count


class _Counter:
    """Counts the rows passing through, for the DM's words, without holding them."""

    def __init__(self) -> None:
        self.count = 0

    def through(self, rows: Iterator[IncidentRow]) -> Iterator[IncidentRow]:
        for row in rows:
            self.count += 1
            yield row
