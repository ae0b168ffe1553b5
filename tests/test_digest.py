"""The daily digest: one per channel per local day, late but never twice, and on demand."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import insert

from bot.domain.parsing import parse_work_hours
from storage import outbox_store
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Incident, StepRecord
from storage.repository import incident_facts
from tests.conftest import LEAD, ServedBot

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


def test_digest_says_the_point_first_and_links_each_overdue_card_without_pinging_its_owner(bot):
    _at(bot, MONDAY_0859 - timedelta(hours=12))
    bot.slack.command("/recovery new Damaged sofa", channel="C1")
    bot.slack.command("/recovery new Rude driver", channel="C1")
    bot.clock.advance(timedelta(minutes=20))
    bot.slack.command("/recovery claim 2", user="U2")
    bot.fake.add_user("U2", display_name="Ana <Ops>", real_name="Ana Lima")
    bot.settle()
    cards = {card.text.split(":")[0]: card.ts for card in bot.fake.messages("C1") if card.text.startswith("Recovery #")}
    _at(bot, MONDAY_0859 + timedelta(minutes=5))
    _tick(bot)
    message = _digests(bot, "C1")[0]
    digest = message.plain()
    assert message.text == "Recovery digest for <#C1>, Mon 2 Nov: 1 unclaimed and 2 overdue; oldest #1, 12 h, unclaimed"
    assert message.blocks[0]["text"]["text"] == "Recovery digest · Mon 2 Nov"
    assert "*Yesterday*  flagged 2 · resolved 0 · closed 0" in digest
    assert "*Now*  2 open · 1 unclaimed · 2 overdue" in digest
    link = "<https://fake.slack.test/archives/C1/p{}|#{}>"
    assert (f"• {link.format(cards['Recovery #1'].replace('.', ''), 1)} Damaged sofa · Claim · 11h 55m late · "
            "unclaimed") in digest
    assert (f"• {link.format(cards['Recovery #2'].replace('.', ''), 2)} Rude driver · Acknowledge and take "
            "ownership · 11h 30m late · @Ana &lt;Ops&gt;") in digest
    assert "<@" not in digest and "U2" not in digest, "nobody is mentioned, so nobody is notified"
    assert [call.params["user"] for call in bot.fake.calls("users.info")] == ["U2"]
    assert "*Last 14 days*  flagged ▁▁▁▁▁▁▁▁▁▁▁▁▁█ 2 · closed ▁▁▁▁▁▁▁▁▁▁▁▁▁▁ 0" in digest
    assert "time to claim 20m · no acknowledgements yet · no resolutions yet" in digest
    assert "(–)" not in digest and "0s" not in digest


def test_medians_say_which_way_they_moved_since_the_week_before(bot):
    _at(bot, MONDAY_0859 - timedelta(days=10))
    bot.slack.command("/recovery new Slow refund", channel="C1")
    bot.clock.advance(timedelta(minutes=12))
    bot.slack.command("/recovery claim 1", user="U2")
    _at(bot, MONDAY_0859 - timedelta(days=1))
    bot.slack.command("/recovery new Lost parcel", channel="C1")
    bot.clock.advance(timedelta(minutes=18))
    bot.slack.command("/recovery claim 2", user="U3")
    _at(bot, MONDAY_0859 + timedelta(minutes=1))
    _tick(bot)
    assert "time to claim 18m, up from 12m" in _digests(bot, "C1")[0].plain()


def test_no_digest_on_a_non_working_day_and_mondays_covers_the_weekend(make_bot, settings):
    bot = make_bot(replace(settings, work_hours=parse_work_hours("09:00-18:00 Mon-Fri")))
    friday = MONDAY_0859 - timedelta(days=3)
    _at(bot, friday + timedelta(hours=2))
    bot.slack.command("/recovery new Wrong size", channel="C1")
    _at(bot, friday + timedelta(days=1, hours=3))
    bot.slack.command("/recovery new Late again", channel="C1")
    for day in (1, 2):
        _at(bot, friday + timedelta(days=day, hours=1))
        assert _tick(bot) == 0, "no digest on Saturday or Sunday"
    _at(bot, MONDAY_0859 + timedelta(minutes=1))
    assert _tick(bot) == 1
    assert "*Since Fri 30 Oct*  flagged 2 · resolved 0 · closed 0" in _digests(bot, "C1")[0].plain()
    _, preview = bot.slack.command_answered_later("/recovery digest", channel="C1")
    assert "*Since Fri 30 Oct*  flagged 2 · resolved 0 · closed 0" in preview.plain(), "the preview covers the same days"


def test_no_digest_when_there_is_nothing_to_say(bot):
    _at(bot, MONDAY_0859 - timedelta(days=3))
    bot.slack.command("/recovery new Double charge", channel="C1")
    assert bot.slack.command("/recovery cancel 1 sent by mistake", user=LEAD).text == "#1 is cancelled."
    _at(bot, MONDAY_0859 + timedelta(minutes=1))
    assert _tick(bot) == 0, "cancelled days ago, nothing open, nothing flagged or closed yesterday"
    assert not _digests(bot, "C1")


def test_a_channel_gets_its_first_digest_at_the_first_digest_time_after_its_first_incident(make_bot, settings):
    bot = make_bot(settings)
    _at(bot, MONDAY_0859 + timedelta(hours=6))
    bot.slack.command("/recovery new Broken zip", channel="C1")
    assert _tick(bot) == 0, "flagged for the first time at 15:00: not at once"
    restarted = make_bot(settings)
    _at(bot, MONDAY_0859 + timedelta(hours=7))
    assert restarted.runtime.ticker.tick().digests == 0, "a bot started after DIGEST_TIME: only channels that were due"
    _at(bot, MONDAY_0859 + timedelta(days=1, minutes=1))
    assert _tick(bot) == 1


def test_extra_digest_channels_always_get_one(make_bot, settings):
    bot = make_bot(replace(settings, digest_channels=("CLEADS",)))
    _at(bot, MONDAY_0859 + timedelta(hours=1))
    assert _tick(bot) == 1
    assert "*Now*  0 open · 0 unclaimed · 0 overdue" in _digests(bot, "CLEADS")[0].plain()


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


def test_digest_command_previews_privately_after_the_ack_and_posts_nothing(bot):
    bot.slack.command("/recovery new Broken lamp", channel="C1")
    bot.slack.command("/recovery claim 1", user="U2")
    bot.fake.add_user("U2", display_name="Ana")
    bot.settle()
    card = bot.card(1)
    bot.clock.advance(timedelta(minutes=16))
    posted = len(bot.fake.calls("chat.postMessage"))
    ack, preview = bot.slack.command_answered_later("/recovery digest", user="U3", channel="C1")
    assert ack.text == "Working out the figures… they will appear here in a moment."
    assert preview.visible_to == "U3" and preview.channel == "C1"
    assert preview.text == ("Recovery digest for <#C1>, Mon 2 Nov: 1 overdue; oldest #1, 16 min, "
                            "at Acknowledge and take ownership")
    assert (f"• <https://fake.slack.test/archives/C1/p{card.ts.replace('.', '')}|#1> Broken lamp · "
            "Acknowledge and take ownership · 1m late · @Ana") in preview.plain()
    bot.settle()
    assert len(bot.fake.calls("chat.postMessage")) == posted


def test_stats_command_answers_through_the_response_url_after_the_ack(bot):
    bot.slack.command("/recovery new Broken lamp", channel="C1")
    bot.clock.advance(timedelta(minutes=5))
    bot.slack.command("/recovery claim 1", user="U2")
    bot.clock.advance(timedelta(minutes=1))
    ack, answer = bot.slack.command_answered_later("/recovery stats 30d", user="U3")
    assert ack.text == "Working out the figures… they will appear here in a moment."
    assert ack.json().get("response_type", "ephemeral") == "ephemeral"
    [call] = bot.fake.calls("response_url")
    assert call.params["response_type"] == "ephemeral" and call.params["text"] == "Recovery stats, last 30 days"
    assert answer.visible_to == "U3"
    shown = answer.plain()
    assert "last 30 days" in shown and "flagged 1" in shown
    assert "Claim 100%" in shown
    assert "claim 5m" in shown
    assert "last 7 days" in bot.slack.command_answered_later("/recovery stats")[1].plain()


def test_a_stats_period_it_does_not_know_is_answered_in_the_ack(bot):
    ack = bot.slack.command("/recovery stats fortnight")
    assert ack.text.startswith("`/recovery stats` takes `7d` or `30d`, not `fortnight`.")
    assert not bot.fake.wait_for(lambda: bot.fake.attempts("response_url"), timeout=0.5)



def _incident(number: int, *, status: str, created_at: datetime, channel: str = "C1",
              closed_at: datetime | None = None, buy_in_at: datetime | None = None,
              remedy_amount: Decimal | None = None) -> dict:
    """A row with every key (a multi-row insert takes its columns from the first row)."""
    return {"workspace_id": "T1", "number": number, "origin_channel": channel, "origin_ts": f"{number}.1",
            "flagged_by": "U1", "status": status, "current_step": "claim", "card_channel": channel,
            "step_started_at": created_at, "created_at": created_at, "updated_at": created_at,
            "closed_at": closed_at, "buy_in_at": buy_in_at, "remedy_amount": remedy_amount}


def test_facts_are_the_channels_open_and_recently_touched_incidents_with_their_step_ends(database_url):
    """The query the digest and stats read, on each database: each way an incident counts
    as touched (its own index), and the step ends the database aggregates."""
    db = Database.from_url(database_url)
    upgrade(db.engine)
    since = MONDAY_0859 - timedelta(days=14)
    long_ago, lately = since - timedelta(days=30), since + timedelta(days=1)
    with db.engine.begin() as connection:
        ids = connection.execute(insert(Incident).returning(Incident.id, Incident.number), [
            _incident(1, status="open", created_at=long_ago),
            _incident(2, status="closed", created_at=long_ago, closed_at=long_ago + timedelta(days=2)),
            _incident(3, status="closed", created_at=long_ago, closed_at=lately, remedy_amount=Decimal("12.50")),
            _incident(4, status="cancelled", created_at=lately),
            _incident(5, status="closed", created_at=long_ago, buy_in_at=lately),
            _incident(6, status="open", created_at=lately, channel="C2"),
            _incident(7, status="closed", created_at=since - timedelta(seconds=1), closed_at=since),
        ]).all()
        third = dict((number, incident_id) for incident_id, number in ids)[3]
        connection.execute(insert(StepRecord), [
            {"incident_id": third, "seq": seq, "step": step, "status": status, "started_at": long_ago,
             "due_at": long_ago + timedelta(hours=1), "ended_at": long_ago + timedelta(hours=hours)}
            for seq, (step, status, hours) in enumerate([
                ("acknowledge", "done", 5), ("acknowledge", "done", 3), ("fix", "done", 7), ("fix", "skipped", 9),
                ("fix", "done", 8), ("acknowledge", "current", 1)])])
    with db.read() as session:
        facts = {fact.number: fact for fact in incident_facts(session, since=since, channel="C1")}
        workspace = {fact.number: fact for fact in incident_facts(session, since=since, workspace_id="T1")}
    db.dispose()
    assert sorted(facts) == [1, 3, 4, 5, 7]
    assert sorted(workspace) == [1, 3, 4, 5, 6, 7]
    third = facts[3]
    assert (third.acknowledged_at, third.fixed_at) == (long_ago + timedelta(hours=3), long_ago + timedelta(hours=8))
    assert third.acknowledged_at.tzinfo is not None
    assert isinstance(third.remedy_amount, Decimal) and third.remedy_amount == Decimal("12.50")
    assert facts[1].acknowledged_at is None and facts[1].fixed_at is None
    assert workspace[3] == third


def test_a_digest_that_cannot_be_queued_holds_back_neither_nudges_nor_other_channels(bot, caplog):
    """Reminders go first and each channel's digest stands alone: here C1's digest fails (its
    outbox key is taken, as if someone deleted its claim by hand); the overdue incident is
    still nudged, C2 still gets its digest, and C1's is tried again on the next tick."""
    _at(bot, MONDAY_0859 - timedelta(hours=1))
    bot.slack.command("/recovery new Nobody called back", channel="C1")
    bot.slack.command("/recovery new Wrong colour", channel="C2")
    with bot.runtime.db.transaction() as session:
        outbox_store.enqueue(session, workspace_id="T1", kind="post", now=MONDAY_0859, channel="C1",
                             dedupe_key="digest:T1:C1:2026-11-02", payload={"text": "left over"})
    _at(bot, MONDAY_0859 + timedelta(minutes=1))
    report = bot.runtime.ticker.tick()
    bot.settle()
    assert report.alerts == 4, "a nudge and an escalation for each of the two overdue incidents"
    reminders = sorted((m.channel, m.text[0]) for m in bot.fake.all_messages()
                       if m.text.startswith(("⏰", "🚨")) and m.channel in ("C1", "C2"))
    assert reminders == [("C1", "⏰"), ("C1", "🚨"), ("C2", "⏰"), ("C2", "🚨")], "C1's reminders held back"
    assert report.digests == 1 and len(_digests(bot, "C2")) == 1 and not _digests(bot, "C1")
    assert "digest for C1 in T1 failed" in caplog.text
    caplog.clear()
    bot.runtime.ticker.tick()
    assert "digest for C1 in T1 failed" in caplog.text, "not tried again"


def test_the_digest_asks_each_owners_name_once_and_a_failed_lookup_does_not_hold_it_back(bot):
    _at(bot, MONDAY_0859 - timedelta(hours=12))
    for summary in ("Sofa", "Lamp", "Desk", "Rug"):
        bot.slack.command(f"/recovery new {summary}", channel="C1")
    for number, owner in ((1, "U2"), (2, "U2"), (3, "U3"), (4, "U4")):
        bot.slack.command(f"/recovery claim {number}", user=owner)
    bot.fake.add_user("U2", display_name="Ana", real_name="Ana Lima")
    bot.fake.add_user("U4", display_name="", real_name="Bo Chen")  # no display name set: the real name shows
    _at(bot, MONDAY_0859 + timedelta(minutes=5))
    _tick(bot)
    digest = _digests(bot, "C1")[0].plain()
    assert sorted(call.params["user"] for call in bot.fake.attempts("users.info")) == ["U2", "U3", "U4"]
    step = "Acknowledge and take ownership · 11h 50m late"
    assert (f"• #1 Sofa · {step} · @Ana\n• #2 Lamp · {step} · @Ana\n"
            f"• #3 Desk · {step} · someone\n"  # U3: user_not_found
            f"• #4 Rug · {step} · @Bo Chen") in digest
    assert "<@" not in digest
