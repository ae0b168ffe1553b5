"""The export as CSV or JSON lines, and what it holds in words.

CSV is for people, who open it in a spreadsheet: a text cell starting with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return would be read there as a formula, so it gets a
single quote in front (OWASP's advice against CSV injection). Numbers stay numbers: the
incident number, the amount and the satisfaction are written as digits, never quoted.
JSON lines are for programs: values as they are, numbers as JSON numbers. Times are ISO 8601
in UTC everywhere (``2026-11-02T08:00:00Z``).
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from decimal import Decimal
from typing import Final
from zoneinfo import ZoneInfo

from bot.export import STEPS, IncidentRow, Period, TimelineRow
from bot.views.events import json_event
from bot.views.when import slack_time

INCIDENT_COLUMNS: Final = (
    "workspace", "number", "flagged_channel", "card_channel", "flagged_at", "status", "closed_at", "owner",
    "severity", "category", "root_cause", "remedy_kind", "remedy_amount", "currency", "approved_by",
    "satisfaction", "would_buy_again", "cancel_reason",
)
STEP_COLUMNS: Final = ("at", "result", "within_sla")
COLUMNS: Final = INCIDENT_COLUMNS + tuple(f"{step}_{column}" for step in STEPS for column in STEP_COLUMNS)
FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")

LEFT_OUT: Final = ("No personal data: customer names, the customer's quoted message and summary, and the notes "
                   "typed at each step are left out.")


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC, to the second: ``2026-11-02T08:00:00Z``."""
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def values(row: IncidentRow) -> dict[str, object]:
    """The row's columns, in `COLUMNS` order; None where there is nothing to say."""
    out: dict[str, object] = {
        "workspace": row.workspace, "number": row.number, "flagged_channel": row.flagged_channel,
        "card_channel": row.card_channel, "flagged_at": iso(row.flagged_at), "status": row.status,
        "closed_at": iso(row.closed_at), "owner": row.owner, "severity": row.severity, "category": row.category,
        "root_cause": row.root_cause, "remedy_kind": row.remedy_kind, "remedy_amount": row.remedy_amount,
        "currency": row.currency, "approved_by": row.approved_by, "satisfaction": row.satisfaction,
        "would_buy_again": row.would_buy_again, "cancel_reason": row.cancel_reason,
    }
    for step in STEPS:
        end = row.steps.get(step)
        out[f"{step}_at"] = iso(end.at) if end else None
        out[f"{step}_result"] = end.result if end else None
        out[f"{step}_within_sla"] = end.within_sla if end else None
    return out


def csv_cell(value: object) -> str:
    """One CSV cell: empty for nothing, ``true``/``false``, numbers as digits, text defused."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return str(value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_lines(rows: Iterable[IncidentRow]) -> Iterator[str]:
    """The header, then one line per incident (RFC 4180: CRLF, fields quoted when needed)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([csv_cell(value) for value in values(row).values()])
        if buffer.tell() > 1 << 16:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def jsonl_lines(rows: Iterable[IncidentRow]) -> Iterator[str]:
    """One JSON object per incident, one a line, with the CSV's columns as keys."""
    for row in rows:
        yield json.dumps(values(row), default=_json_number, ensure_ascii=False) + "\n"


def timeline_lines(rows: Iterable[TimelineRow]) -> Iterator[str]:
    """One JSON object per timeline event: its incident, then the event as `json_event` gives it."""
    for row in rows:
        event = {"workspace": row.workspace, "number": row.number, **json_event(row.event),
                 "at": iso(row.event.at)}
        yield json.dumps(event, default=_json_number, ensure_ascii=False) + "\n"


def _json_number(value: object) -> object:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def period_words(period: Period) -> str:
    """``flagged in the last 30 days`` or ``flagged since the first``."""
    return "flagged since the first" if period.since is None else \
        f"flagged in the last {(period.until - period.since).days} days"


def filename(period: Period) -> str:
    """``recovery-export-30d-20261102-0800.csv``: the period and when it was asked for (UTC)."""
    return f"recovery-export-{period.name}-{period.until.astimezone(timezone.utc):%Y%m%d-%H%M}.csv"


def title(period: Period) -> str:
    return f"Recovery export: incidents {period_words(period)}"


def dm_comment(period: Period, *, count: int, tz: ZoneInfo) -> str:
    """The DM's words over the file: what it holds, of which period, what it leaves out."""
    until = slack_time(period.until, tz)
    when = f"up to {until}" if period.since is None else f"from {slack_time(period.since, tz)} to {until}"
    incidents = "1 incident" if count == 1 else f"{count} incidents"
    return (f"Here is your export: {incidents} {period_words(period)}, {when}. One row per incident with its "
            "channels, times, each step's end and whether it was within its SLA, owner, severity, category, root "
            "cause, remedy, approval, satisfaction, would buy again, status and cancel reason (times in UTC; the "
            f"columns are described in the README). {LEFT_OUT}")


def cli_note(period: Period, *, timeline: bool) -> str:
    """The line the CLI writes to stderr, so that stdout holds only the data."""
    what = "timeline events of the incidents" if timeline else "incidents"
    return (f"recovery-bot: exporting the {what} {period_words(period)}, up to {iso(period.until)}. "
            + LEFT_OUT)
