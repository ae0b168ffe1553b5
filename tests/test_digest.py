"""The daily digest: one per channel per local day, late but never twice, and on demand."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from tests.conftest import ServedBot

MONDAY_0859 = datetime(2026, 11, 2, 8, 59, tzinfo=timezone.utc)


def _digests(bot: ServedBot, channel: str) -> list:
    return [m for m in bot.fake.messages(channel) if m.text.startswith("Recovery digest")]


def _tick(bot: ServedBot) -> int:
    report = bot.runtime.ticker.tick()
    bot.settle()
    return report.digests


def _at(bot: ServedBot, moment: datetime) -> None:
    bot.clock.set(moment)


def test_each_channel_gets_one_digest_a_day_at_digest_time(make_bot, settings, bot):
    _at(bot, MONDAY_0859 - timedelta(days=1))
    bot.slack.command("/recovery new Late parcel", channel="C1")
    bot.slack.command("/recovery new Wrong invoice", channel="C2")
    _at(bot, MONDAY_0859)
    assert _tick(bot) == 0
    _at(bot, MONDAY_0859 + timedelta(minutes=1))
    assert _tick(bot) == 2
    assert _tick(bot) == 0
    restarted = make_bot(settings)
    assert restarted.runtime.ticker.tick().digests == 0, "a restart does not post today's digest again"
    assert len(_digests(bot, "C1")) == 1 and len(_digests(bot, "C2")) == 1
    _at(bot, MONDAY_0859 + timedelta(days=1, minutes=1))
    assert _tick(bot) == 2
    assert len(_digests(bot, "C1")) == 2


def test_digest_reports_yesterday_and_what_is_open_now(bot):
    _at(bot, MONDAY_0859 - timedelta(hours=12))
    bot.slack.command("/recovery new Damaged sofa", channel="C1")
    bot.slack.command("/recovery new Rude driver", channel="C1")
    bot.slack.command("/recovery claim 2", user="U2")
    _at(bot, MONDAY_0859 + timedelta(minutes=5))
    _tick(bot)
    digest = _digests(bot, "C1")[0].plain()
    assert "flagged 2" in digest
    assert "2 open · 1 unclaimed · 2 overdue" in digest
    assert "#1 · _unclaimed_" in digest and "#2 · <@U2>" in digest
    assert "claim 0s" in digest or "claim" in digest


def test_extra_digest_channels_always_get_one(make_bot, settings):
    bot = make_bot(replace(settings, digest_channels=("CLEADS",)))
    _at(bot, MONDAY_0859 + timedelta(hours=1))
    assert _tick(bot) == 1
    assert "0 open" in _digests(bot, "CLEADS")[0].plain()


def test_digest_missed_while_down_is_posted_on_return_the_same_day_only(bot):
    bot.slack.command("/recovery new Missing refund", channel="C1")
    _at(bot, MONDAY_0859 + timedelta(days=1, hours=5))
    assert _tick(bot) == 1, "down at 09:00, back at 14:00: posted on return"
    _at(bot, MONDAY_0859 + timedelta(days=3) - timedelta(hours=2))
    assert _tick(bot) == 0, "Wednesday's was never posted, and Thursday's is not due before 09:00"
    assert len(_digests(bot, "C1")) == 1


def test_digest_time_is_in_the_team_time_zone(make_bot, settings):
    new_york = ZoneInfo("America/New_York")
    bot = make_bot(replace(settings, tz=new_york))
    bot.slack.command("/recovery new Parcel lost", channel="C1")
    _at(bot, datetime(2026, 11, 3, 8, 59, tzinfo=new_york).astimezone(timezone.utc))
    assert _tick(bot) == 0
    _at(bot, datetime(2026, 11, 3, 9, 0, tzinfo=new_york).astimezone(timezone.utc))
    assert _tick(bot) == 1


def test_digest_command_previews_privately_and_posts_nothing(bot):
    bot.slack.command("/recovery new Broken lamp", channel="C1")
    bot.settle()
    posted = len(bot.fake.calls("chat.postMessage"))
    answer = bot.slack.command("/recovery digest", channel="C1")
    assert "Recovery digest" in answer.text and "1 open · 1 unclaimed" in answer.text
    bot.settle()
    assert len(bot.fake.calls("chat.postMessage")) == posted


def test_stats_command_shows_period_figures_and_sla_shares(bot):
    bot.slack.command("/recovery new Broken lamp", channel="C1")
    bot.clock.advance(timedelta(minutes=5))
    bot.slack.command("/recovery claim 1", user="U2")
    bot.clock.advance(timedelta(minutes=1))
    answer = bot.slack.command("/recovery stats 30d")
    assert "last 30 days" in answer.text and "flagged 1" in answer.text
    assert "Claim 100%" in answer.text
    assert "claim 5m" in answer.text
    assert "last 7 days" in bot.slack.command("/recovery stats").text
