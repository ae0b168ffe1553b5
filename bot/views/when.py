"""Times as Slack shows them: each reader's own zone, with the team's zone as fallback."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo


def local_text(moment: datetime, tz: ZoneInfo) -> str:
    local = moment.astimezone(tz)
    return local.strftime("%a %d %b %H:%M ") + (local.tzname() or "")


def slack_time(moment: datetime, tz: ZoneInfo) -> str:
    """``<!date^...>`` renders in the reader's zone; the fallback is the team's."""
    epoch = int(moment.timestamp())
    return f"<!date^{epoch}^{{date_short_pretty}} at {{time}}|{local_text(moment, tz)}>"
