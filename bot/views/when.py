"""Times as Slack shows them: each reader's own zone, with the team's zone as fallback.

Every time written into mrkdwn goes through `slack_time`, so a lead in Lisbon and an agent in
Manila each read their own clock; where a deadline matters, `due_words` says it relatively
("due in 12 min", "4 min late"), computed from the clock's now when the text is drawn.
Plain-text surfaces (modal fields, the CLI, logs) cannot format dates: they get
`local_text`, or `plain_times` of a mrkdwn line.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Final

from bot.domain.card_status import duration_words
from bot.domain.text import local_text, slack_time

__all__ = ["due_words", "local_text", "plain_times", "slack_time"]

_SLACK_DATE: Final = re.compile(r"<!date\^[0-9]+\^[^|>]*\|([^>]*)>")


def plain_times(text: str) -> str:
    """``text`` with each Slack date replaced by its fallback: for a plain-text field (a
    modal's error) that would otherwise show the markup."""
    return _SLACK_DATE.sub(lambda match: match.group(1), text)


def due_words(due: datetime, *, now: datetime, late: timedelta | None = None) -> str:
    """"due in 12 min" before the deadline, "4 min late" after it. ``late``: how late in the
    time the SLA counts (working time under WORK_HOURS, as the card says it); without it,
    wall time since ``due``."""
    if late is None and now > due:
        late = now - due
    if late is not None:
        return f"{duration_words(late)} late"
    return f"due in {duration_words(due - now)}"
