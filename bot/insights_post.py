"""The leads' weekly insights: the week's first working day (Monday, unless WORK_HOURS leaves
it out) at DIGEST_TIME, the last 90 days' `/recovery insights` with its chart, per workspace,
to LEAD_CHANNEL or else each lead by DM.

It follows the roll-up's rules (bot/rollup.py): working days only, a late one after downtime
only the same day, claimed once per workspace and day in digest_run (as the channel
"insights:<workspace>") in the same transaction as its outbox rows, so neither a restart nor
a second replica can double it. A workspace without a single follow-up answer in the window
gets nothing: a post saying there is nothing to say, every week, teaches leads to skip it.

The rows hold only the window; the words and the chart are built when sent
(bot/outbox_insights.py). The sender keeps them out of a LEAD_CHANNEL shared with another
organization, as it does the leads' other posts.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot import outbox_insights
from bot.domain import digest_schedule
from bot.domain.parsing import WorkHours
from bot.insights import workspace_insights
from bot.lead_posts import LeadPosts
from bot.service import RecoveryService
from storage import outbox_store, repository

DAYS = 90
"""The window of the weekly post: `/recovery insights`' default, a quarter's follow-ups."""


def claim_key(workspace_id: str) -> str:
    """The weekly post's name in digest_run, beside the channels' ids: "insights:T1"."""
    return f"insights:{workspace_id}"


def due_day(now: datetime, *, digest_time: time, tz: ZoneInfo, work_hours: WorkHours | None) -> date | None:
    """Today, when it is the first working day of its week (Monday, Monday to Sunday) and its
    DIGEST_TIME has passed; None otherwise. A team off on Mondays hears on its first day back."""
    today = digest_schedule.due_day(now, digest_time=digest_time, tz=tz, work_hours=work_hours)
    if today is None:
        return None
    earlier = (today - timedelta(days=back) for back in range(1, today.weekday() + 1))
    return None if any(digest_schedule.is_working_day(day, work_hours) for day in earlier) else today


class WeeklyInsights:
    """The scheduler tick's weekly posts, each workspace's at its own time (bot/lead_posts.py)."""

    def __init__(self, service: RecoveryService) -> None:
        self._service = service
        self._posts = LeadPosts(service, what="weekly insights", post=self.post,
                                due=lambda now, settings: due_day(now, digest_time=settings.digest_time,
                                                                  tz=settings.tz, work_hours=settings.work_hours))

    def run_due(self) -> int:
        """Today's weekly post for every workspace owed one; how many this process queued."""
        return self._posts.run_due()

    def post(self, workspace_id: str, day: date, targets: list[str]) -> bool:
        """Whether the workspace has answers is read first, then the post claimed and queued in
        a short write transaction, as the roll-up is."""
        service = self._service
        now = service.clock.now()
        key = claim_key(workspace_id)
        with service.db.read() as session:
            if repository.digest_claimed(session, workspace_id=workspace_id, channel=key,
                                         local_date=day.isoformat()):
                return False
        if not workspace_insights(service, workspace_id=workspace_id, days=DAYS, until=now).answers:
            return False
        lead_channel = service.settings.lead_channel
        with service.db.transaction() as session:
            if not repository.claim_digest(session, workspace_id=workspace_id, channel=key,
                                           local_date=day.isoformat(), now=now):
                return False
            for target in targets:
                outbox_store.enqueue(session, workspace_id=workspace_id, kind=outbox_insights.KIND, now=now,
                                     channel=target, user_id=None if target == lead_channel else target,
                                     dedupe_key=f"insights:{workspace_id}:{day.isoformat()}:{target}",
                                     payload=outbox_insights.payload(days=DAYS, due_at=now, day=day))
        service.notify_sender()
        return True
