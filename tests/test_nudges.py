"""Nudges and escalations: when a step passes its SLA, exactly once per step and level,
whatever restarts or replicas happen."""
from __future__ import annotations

import re
import threading
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlmodel import select

from bot.domain.parsing import parse_work_hours
from storage.models import Notification, OutboxMessage
from tests.conftest import LEAD, ServedBot
from tests.helpers import claim_first, dms, flag_by_command, tick

OWNER = "U2"


def _alerts(bot: ServedBot) -> list[str]:
    return [m.text for m in bot.thread(bot.card(1)) if m.text.startswith(("⏰", "🚨"))]


def test_unclaimed_incident_nudges_the_channel_then_escalates_to_leads(bot):
    flag_by_command(bot)
    bot.clock.advance(timedelta(minutes=10))
    assert tick(bot) == 0, "exactly at the SLA is not late yet"
    bot.clock.advance(timedelta(seconds=1))
    assert tick(bot) == 1
    assert len(_alerts(bot)) == 1 and "<!here>" in _alerts(bot)[0] and "no owner" in _alerts(bot)[0]
    bot.clock.advance(timedelta(minutes=9, seconds=58))
    assert tick(bot) == 0
    bot.clock.advance(timedelta(seconds=2))
    assert tick(bot) == 1
    assert _alerts(bot)[1].startswith("🚨 *Claim* on #1 was due <!date^") and "escalated to the leads (by DM)" in \
        _alerts(bot)[1]
    assert [m.text for m in dms(bot, LEAD)] == ["🚨 #1 has no owner and is 10m late: nobody has claimed it."]
    assert "[Open card] [Snooze 1 hour]" in dms(bot, LEAD)[0].plain()
    bot.clock.advance(timedelta(hours=5))
    assert tick(bot) == 0, "each level once per step"
    assert len(_alerts(bot)) == 2


def test_claimed_step_nudges_the_owner(bot):
    flag_by_command(bot)
    claim_first(bot, OWNER)
    bot.clock.advance(timedelta(minutes=16))
    assert tick(bot) == 1
    assert _alerts(bot) and f"<@{OWNER}>" in _alerts(bot)[0] and "Acknowledge" in _alerts(bot)[0]


def test_a_new_step_gets_its_own_nudge(bot):
    flag_by_command(bot)
    claim_first(bot, OWNER)
    bot.clock.advance(timedelta(minutes=16))
    tick(bot)
    bot.slack.click([m for m in bot.thread(bot.card(1)) if "[Done]" in m.plain()][-1], "Done", user=OWNER)
    bot.settle()
    bot.clock.advance(timedelta(minutes=31))
    assert tick(bot) == 1
    assert "Apologize" in _alerts(bot)[-1]


def test_snoozed_incident_is_not_nudged_until_the_snooze_ends(bot):
    flag_by_command(bot)
    claim_first(bot, OWNER)
    bot.slack.command("/recovery snooze 1 2h", user=OWNER)
    bot.clock.advance(timedelta(minutes=30))
    assert tick(bot) == 0
    bot.clock.advance(timedelta(minutes=89))
    assert tick(bot) == 0
    bot.clock.advance(timedelta(minutes=2))
    assert tick(bot) == 2, "both levels were due when the snooze ended"
    assert [text[0] for text in _alerts(bot)] == ["⏰", "🚨"]


def test_need_help_escalates_now_and_the_sla_escalation_does_not_repeat_it(bot):
    flag_by_command(bot)
    claim_first(bot, OWNER)
    bot.slack.click([m for m in bot.thread(bot.card(1)) if "[Done]" in m.plain()][-1], "Need help", user=OWNER)
    bot.settle()
    assert any("asked the leads for help" in m.text for m in bot.thread(bot.card(1)))
    bot.clock.advance(timedelta(hours=2))
    tick(bot)
    assert [text[0] for text in _alerts(bot)] == ["⏰"], "nudged, not escalated a second time"


def test_closed_or_cancelled_incidents_are_never_nudged(bot):
    flag_by_command(bot)
    bot.slack.command("/recovery cancel 1 not a complaint", user=LEAD)
    bot.clock.advance(timedelta(days=2))
    assert tick(bot) == 0


def test_work_hours_hold_the_clock_over_the_weekend(make_bot, settings, clock):
    london = ZoneInfo("Europe/London")
    bot = make_bot(replace(settings, tz=london, work_hours=parse_work_hours("09:00-18:00 Mon-Fri")))
    clock.set(datetime(2026, 11, 6, 17, 50, tzinfo=london).astimezone(timezone.utc))
    flag_by_command(bot)
    clock.set(datetime(2026, 11, 6, 17, 55, tzinfo=london).astimezone(timezone.utc))
    claim_first(bot, OWNER)
    card = bot.card(1).plain()
    assert "Mon 09 Nov 09:10" in card, "a 15-minute step at Friday 17:55 is due Monday 09:10"
    clock.set(datetime(2026, 11, 8, 23, 0, tzinfo=london).astimezone(timezone.utc))
    assert tick(bot) == 0, "not nudged over the weekend"
    clock.set(datetime(2026, 11, 9, 9, 11, tzinfo=london).astimezone(timezone.utc))
    assert tick(bot) == 1


def test_a_restart_between_deciding_and_sending_neither_loses_nor_doubles(make_bot, settings, bot):
    flag_by_command(bot)
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
    bot.clock.advance(timedelta(days=1))  # the next morning: the alerts, and C1's first digest
    barrier = threading.Barrier(3)
    counts = []

    def tick_on(replica: ServedBot) -> None:
        barrier.wait()
        counts.append(replica.runtime.ticker.tick().alerts)

    threads = [threading.Thread(target=tick_on, args=(replica,)) for replica in replicas]
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
    assert len(texts) == 36, "12 nudges, 12 escalations in the threads and 12 in the lead's DM"
    lead_dms = [m.text for m in dms(bot, LEAD)]
    assert len(lead_dms) == 13 and len([text for text in lead_dms if text.startswith("🚨")]) == 12
    assert len([text for text in lead_dms if text.startswith("Leads' roll-up")]) == 1, "one roll-up, by one replica"


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
    assert tick(bot) == 1
    assert "Follow up" in _alerts(bot)[-1] and f"<@{OWNER}>" in _alerts(bot)[-1]
    assert "[Record follow-up]" in [m for m in bot.thread(bot.card(1)) if m.text.startswith("⏰")][-1].plain()
    bot.clock.advance(timedelta(hours=24))
    assert tick(bot) == 1
    assert "escalated to the leads" in _alerts(bot)[-1]
    assert dms(bot, LEAD)[-1].text == f"🚨 #1 is stuck at *Follow up*, 1d late; the owner is <@{OWNER}>."


# --- WORK_HOURS: one due time for the prompt, the DM, the nudge and snooze ---------------

LONDON = ZoneInfo("Europe/London")
OFFICE = parse_work_hours("09:00-18:00 Mon-Fri")


def _set_london(clock, *when: int) -> None:  # noqa: ANN001
    clock.set(datetime(*when, tzinfo=LONDON).astimezone(timezone.utc))


def _epochs(text: str) -> list[str]:
    """The moments a message names, as the `<!date^epoch^...>` Slack renders for each reader."""
    return re.findall(r"<!date\^(\d+)\^", text)


def test_a_follow_up_falling_due_on_saturday_is_asked_for_on_monday_at_opening(make_bot, settings, clock):
    from tests.test_steps import _prompt, _remedy, _through_fix
    bot = make_bot(replace(settings, tz=LONDON, work_hours=OFFICE, follow_up_after=timedelta(days=1)))
    _set_london(clock, 2026, 11, 6, 10, 0)
    _through_fix(bot)
    _remedy(bot, "gift", "10")
    _set_london(clock, 2026, 11, 6, 17, 0)
    bot.slack.click(_prompt(bot), "Agreed", user=OWNER)
    bot.settle()
    scheduled = [m.plain() for m in bot.thread(bot.card(1)) if "follow-up on #1 is due" in m.plain()]
    assert len(scheduled) == 1 and "Mon 09 Nov 09:00 GMT" in scheduled[0], "a day after Friday 17:00 is Saturday"

    for when in ((2026, 11, 7, 17, 0), (2026, 11, 8, 23, 59), (2026, 11, 9, 8, 59)):
        _set_london(clock, *when)
        assert bot.runtime.ticker.tick().follow_ups == 0, f"not asked for at {when}"
    bot.settle()
    assert bot.fake.messages(f"D{OWNER}") == []
    assert all("[Record follow-up]" not in m.plain() for m in bot.thread(bot.card(1)))

    _set_london(clock, 2026, 11, 9, 9, 0)
    assert bot.runtime.ticker.tick().follow_ups == 1
    bot.settle()
    prompt = _prompt(bot)
    assert "[Record follow-up]" in prompt.plain() and len(bot.fake.messages(f"D{OWNER}")) == 1
    # Its 24 h SLA counts from Monday 09:00 in working time: 9 h Monday, 9 h Tuesday, 6 h Wednesday.
    assert "Due <!date^" in prompt.plain() and "Wed 11 Nov 15:00 GMT" in prompt.plain()

    _set_london(clock, 2026, 11, 11, 15, 0)
    assert tick(bot) == 0, "exactly at the due time is not late yet"
    _set_london(clock, 2026, 11, 11, 15, 1)
    assert tick(bot) == 1
    nudge = _alerts(bot)[-1]
    assert "Follow up" in nudge and _epochs(nudge) == _epochs(prompt.plain()), "the nudge names the prompt's due time"


def test_snooze_until_tomorrow_on_a_friday_ends_monday_at_opening(make_bot, settings, clock):
    from tests.test_steps import _prompt
    bot = make_bot(replace(settings, tz=LONDON, work_hours=OFFICE))
    _set_london(clock, 2026, 11, 6, 15, 0)
    flag_by_command(bot)
    claim_first(bot, OWNER)
    bot.slack.choose(_prompt(bot), "Snooze", "Until tomorrow", user=OWNER)
    bot.settle()
    card = bot.card(1).plain()
    assert "Snoozed until" in card and "Mon 09 Nov 09:00 GMT" in card
    _set_london(clock, 2026, 11, 9, 9, 0)
    assert tick(bot) == 0, "still snoozed at the very minute it ends"
    _set_london(clock, 2026, 11, 9, 9, 1)
    assert tick(bot) == 2, "the step was due on Friday: nudged and escalated once the snooze is over"


def test_an_expired_snooze_shows_as_overdue_on_the_card_the_list_and_the_digest(bot):
    flag_by_command(bot)
    claim_first(bot, OWNER)
    bot.slack.command("/recovery snooze 1 1h", user=OWNER)
    bot.settle()
    bot.clock.advance(timedelta(minutes=30))
    assert "overdue" not in bot.slack.command("/recovery list").text, "snoozed, though past its 15 minutes"
    assert "No overdue incidents" in bot.slack.command("/recovery list overdue").text
    assert "0 overdue" in bot.slack.command_answered_later("/recovery digest", channel="C1")[1].plain()
    bot.clock.advance(timedelta(minutes=31))
    assert ("Acknowledge and take ownership · ⏰ 46 min late (<!date^1793614500^{date_short_pretty} at {time}|"
            "Mon 02 Nov 10:15 UTC>)") in bot.slack.command("/recovery list").text
    assert "*#1*" in bot.slack.command("/recovery list overdue").text
    digest = bot.slack.command_answered_later("/recovery digest", channel="C1")[1].plain()
    assert "1 open · 0 unclaimed · 1 overdue" in digest and "#1" in digest.split("most late first")[1]
    assert tick(bot) == 2
    card = bot.card(1).plain()
    assert "Snoozed until" not in card and "*Escalated*" in card, "the card is redrawn when the alerts go out"
