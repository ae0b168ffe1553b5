"""Nudges and escalations: when a step passes its SLA, exactly once per step and level,
whatever restarts or replicas happen."""
from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlmodel import select

from bot.domain.parsing import parse_work_hours
from storage.models import Notification, OutboxMessage
from tests.conftest import LEAD, ServedBot

OWNER = "U2"


def _alerts(bot: ServedBot) -> list[str]:
    return [m.text for m in bot.thread(bot.card(1)) if m.text.startswith(("⏰", "🚨"))]


def _flag(bot: ServedBot) -> None:
    bot.slack.command("/recovery new Customer double charged", channel="C1")
    bot.settle()


def _claim(bot: ServedBot) -> None:
    bot.slack.command("/recovery claim 1", user=OWNER)
    bot.settle()


def _tick(bot: ServedBot) -> int:
    """How many nudges and escalations this tick queued."""
    queued = bot.runtime.ticker.tick().alerts
    bot.settle()
    return queued


def test_unclaimed_incident_nudges_the_channel_then_escalates_to_leads(bot):
    _flag(bot)
    bot.clock.advance(timedelta(minutes=10))
    assert _tick(bot) == 0, "exactly at the SLA is not late yet"
    bot.clock.advance(timedelta(seconds=1))
    assert _tick(bot) == 1
    assert len(_alerts(bot)) == 1 and "<!here>" in _alerts(bot)[0] and "no owner" in _alerts(bot)[0]
    bot.clock.advance(timedelta(minutes=9, seconds=58))
    assert _tick(bot) == 0
    bot.clock.advance(timedelta(seconds=2))
    assert _tick(bot) == 1
    assert f"<@{LEAD}>" in _alerts(bot)[1] and "stuck" in _alerts(bot)[1]
    bot.clock.advance(timedelta(hours=5))
    assert _tick(bot) == 0, "each level once per step"
    assert len(_alerts(bot)) == 2


def test_claimed_step_nudges_the_owner(bot):
    _flag(bot)
    _claim(bot)
    bot.clock.advance(timedelta(minutes=16))
    assert _tick(bot) == 1
    assert _alerts(bot) and f"<@{OWNER}>" in _alerts(bot)[0] and "Acknowledge" in _alerts(bot)[0]


def test_a_new_step_gets_its_own_nudge(bot):
    _flag(bot)
    _claim(bot)
    bot.clock.advance(timedelta(minutes=16))
    _tick(bot)
    bot.slack.click([m for m in bot.thread(bot.card(1)) if "[Done]" in m.plain()][-1], "Done", user=OWNER)
    bot.settle()
    bot.clock.advance(timedelta(minutes=31))
    assert _tick(bot) == 1
    assert "Apologize" in _alerts(bot)[-1]


def test_snoozed_incident_is_not_nudged_until_the_snooze_ends(bot):
    _flag(bot)
    _claim(bot)
    bot.slack.command("/recovery snooze 1 2h", user=OWNER)
    bot.clock.advance(timedelta(minutes=30))
    assert _tick(bot) == 0
    bot.clock.advance(timedelta(minutes=89))
    assert _tick(bot) == 0
    bot.clock.advance(timedelta(minutes=2))
    assert _tick(bot) == 2, "both levels were due when the snooze ended"
    assert [text[0] for text in _alerts(bot)] == ["⏰", "🚨"]


def test_need_help_escalates_now_and_the_sla_escalation_does_not_repeat_it(bot):
    _flag(bot)
    _claim(bot)
    bot.slack.click([m for m in bot.thread(bot.card(1)) if "[Done]" in m.plain()][-1], "Need help", user=OWNER)
    bot.settle()
    assert any("needs help" in m.text for m in bot.thread(bot.card(1)))
    bot.clock.advance(timedelta(hours=2))
    _tick(bot)
    assert [text[0] for text in _alerts(bot)] == ["⏰"], "nudged, not escalated a second time"


def test_closed_or_cancelled_incidents_are_never_nudged(bot):
    _flag(bot)
    bot.slack.command("/recovery cancel 1 not a complaint", user=LEAD)
    bot.clock.advance(timedelta(days=2))
    assert _tick(bot) == 0


def test_work_hours_hold_the_clock_over_the_weekend(make_bot, settings, clock):
    london = ZoneInfo("Europe/London")
    bot = make_bot(replace(settings, tz=london, work_hours=parse_work_hours("09:00-18:00 Mon-Fri")))
    clock.set(datetime(2026, 11, 6, 17, 50, tzinfo=london).astimezone(timezone.utc))
    _flag(bot)
    clock.set(datetime(2026, 11, 6, 17, 55, tzinfo=london).astimezone(timezone.utc))
    _claim(bot)
    card = bot.card(1).plain()
    assert "Mon 09 Nov 09:10" in card, "a 15-minute step at Friday 17:55 is due Monday 09:10"
    clock.set(datetime(2026, 11, 8, 23, 0, tzinfo=london).astimezone(timezone.utc))
    assert _tick(bot) == 0, "not nudged over the weekend"
    clock.set(datetime(2026, 11, 9, 9, 11, tzinfo=london).astimezone(timezone.utc))
    assert _tick(bot) == 1


def test_a_restart_between_deciding_and_sending_neither_loses_nor_doubles(make_bot, settings, bot):
    _flag(bot)
    bot.clock.advance(timedelta(minutes=11))
    assert bot.runtime.ticker.tick().alerts == 1
    bot.runtime.stop()
    again = make_bot(settings)
    assert again.runtime.ticker.tick().alerts == 0
    again.settle()
    assert len(_alerts(again)) == 1


def test_three_replicas_ticking_together_send_each_alert_once(make_bot, settings, bot):
    for n in range(12):
        bot.slack.command(f"/recovery new Complaint {n}", channel="C1")
    bot.settle()
    replicas = [bot, make_bot(settings), make_bot(settings)]
    bot.clock.advance(timedelta(minutes=25))
    barrier = threading.Barrier(3)
    counts = []

    def tick(replica: ServedBot) -> None:
        barrier.wait()
        counts.append(replica.runtime.ticker.tick().alerts)

    threads = [threading.Thread(target=tick, args=(replica,)) for replica in replicas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(counts) == 24, "12 nudges and 12 escalations in all"
    for replica in replicas:
        replica.settle()
    with bot.runtime.db.transaction() as session:
        kinds = sorted(row.kind for row in session.exec(select(Notification)).all())
        replies = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "reply")).all()
    assert kinds == ["escalation"] * 12 + ["nudge"] * 12
    assert len(replies) == 24
    texts = [m.text for m in bot.fake.all_messages() if m.text.startswith(("⏰", "🚨"))]
    assert len([m for m in bot.fake.messages("C1") if m.text.startswith("Recovery digest")]) == 1
    assert len(texts) == 24


def test_follow_up_not_recorded_within_its_sla_is_nudged_then_escalated(bot):
    from tests.test_steps import _prompt, _remedy, _through_fix
    _through_fix(bot)
    _remedy(bot, "gift", "10")
    bot.clock.advance(timedelta(hours=23))
    bot.slack.click(_prompt(bot), "Agreed", user=OWNER)
    bot.settle()
    bot.clock.advance(timedelta(days=3, minutes=1))
    report = bot.runtime.ticker.tick()
    assert (report.follow_ups, report.alerts) == (1, 0), "prompted when due, not nudged yet"
    bot.clock.advance(timedelta(hours=24))
    assert _tick(bot) == 1
    assert "Follow up" in _alerts(bot)[-1] and f"<@{OWNER}>" in _alerts(bot)[-1]
    bot.clock.advance(timedelta(hours=24))
    assert _tick(bot) == 1
    assert f"<@{LEAD}>" in _alerts(bot)[-1]
