"""Making user-supplied text safe and short enough to put in Slack messages (pure: the
domain quotes what people typed in timeline events and usage lines, the views everywhere).

Slack mrkdwn treats `<...>` as control sequences (`<!channel>`, `<@U1>`,
links), so anything a customer or agent typed must be escaped before the bot
repeats it, or a complaint quoting `<!channel>` would ping a whole channel.
Slack also rejects over-long fields, hence the length-safe `cut`.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Final
from zoneinfo import ZoneInfo

ELLIPSIS: Final = "…"

# The only entities `escape_mrkdwn` produces, so the only ones `cut` must keep whole.
_ENTITY_RE: Final = re.compile(r"&(?:amp|lt|gt);")


def escape_mrkdwn(text: str) -> str:
    """Escape the three characters Slack requires escaped, and nothing else.

    Formatting characters (`*`, `_`, `~`) are left alone: Slack documents
    only these three, and escaping more would show backslashes to readers.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape_mrkdwn(text: str) -> str:
    """The inverse of `escape_mrkdwn`: old timeline lines were stored escaped, and plain
    text must show what was typed."""
    return _ENTITY_RE.sub(lambda entity: _UNESCAPED[entity[0]], text)


_UNESCAPED: Final = {"&amp;": "&", "&lt;": "<", "&gt;": ">"}


def cut(text: str, limit: int) -> str:
    """Shorten `text` to at most `limit` characters, ending in `…` when shortened.

    Works on already-escaped text: a cut landing inside `&amp;`, `&lt;` or
    `&gt;` moves before the entity, because half an entity would render as
    garbage (`&am…`).
    """
    if len(text) <= limit:
        return text
    if limit <= 0:
        return ""
    head = text[: limit - 1]
    amp = head.rfind("&")
    if amp != -1:
        entity = _ENTITY_RE.match(text, amp)
        if entity is not None and entity.end() > len(head):
            head = head[:amp]
    return head.rstrip() + ELLIPSIS


def safe(text: str | None, limit: int) -> str:
    """Escape then cut: the one call views use for anything a person typed."""
    if text is None:
        return ""
    return cut(escape_mrkdwn(text), limit)


def excerpt(text: str, limit: int = 200) -> str:
    """A one-line preview: whitespace runs (line breaks included) become single spaces.

    Not escaped, because plain-text fields (notification text, modal
    inputs) need it raw; for mrkdwn pass escaped text in, as
    `excerpt(escape_mrkdwn(text))`, which `cut` keeps entity-safe. NUL bytes go too:
    PostgreSQL refuses them in text columns, and nobody reads them.
    """
    return cut(" ".join(text.replace("\x00", " ").split()), limit)


def local_text(moment: datetime, tz: ZoneInfo) -> str:
    """"Mon 02 Nov 10:00 UTC": a moment in the team's zone, for plain text and as the
    fallback of a Slack date."""
    local = moment.astimezone(tz)
    return local.strftime("%a %d %b %H:%M ") + (local.tzname() or "")


def slack_time(moment: datetime, tz: ZoneInfo) -> str:
    """``<!date^...>``: Slack renders it in each reader's own zone; the fallback (for clients
    that cannot) is the team's. Here, not in the views, because a refusal the rule book words
    names a time too (bot/views/when.py re-exports it for the views)."""
    epoch = int(moment.timestamp())
    return f"<!date^{epoch}^{{date_short_pretty}} at {{time}}|{local_text(moment, tz)}>"
