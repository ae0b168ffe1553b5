"""The leads' roll-up (issue 13 item 8): every channel in one message, once per working day at
DIGEST_TIME, to LEAD_CHANNEL or else each lead's DM, never into a channel another organization
shares; and the channel digest's remedy spend in CURRENCY. Through signed requests into the
real app, the strict Slack double and the fake clock, on both databases."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from bot.devkit.slack_double import Message
from bot.domain.digest import IncidentFacts
from bot.domain.parsing import parse_work_hours
from bot.domain.playbook import DEFAULT_PLAYBOOK
from bot.domain.rollup import rollup_figures
from bot.views.rollup import rollup_blocks
from tests.conftest import LEAD, ServedBot
from tests.helpers import dms

MONDAY_0859 = datetime(2026, 11, 2, 8, 59, tzinfo=timezone.utc)
MONDAY_0901 = MONDAY_0859 + timedelta(minutes=2)
TITLE = "Leads' roll-up"


def _rollups(bot: ServedBot, channel: str) -> list[Message]:
    return [m for m in bot.fake.messages(channel) if m.text.startswith(TITLE)]


def _tick(bot: ServedBot) -> int:
    """How many roll-ups the tick queued; what it queued is then sent."""
    report = bot.runtime.ticker.tick()
    bot.settle()
    return report.rollups


def _card_link(bot: ServedBot, number: int) -> str:
    card = bot.card(number)
    return f"https://fake.slack.test/archives/{card.channel}/p{card.ts.replace('.', '')}"


def _two_channels(bot: ServedBot) -> None:
    """Sunday: #1 in C1 (unclaimed); #2 and #3 in C2, #3 claimed by U2 after 18 minutes."""
    bot.clock.set(MONDAY_0859 - timedelta(days=1))
    bot.slack.command("/recovery new Late parcel", channel="C1")
    bot.clock.advance(timedelta(hours=3))
    bot.slack.command("/recovery new Wrong invoice", channel="C2")
    bot.slack.command("/recovery new Charged twice", channel="C2")
    bot.clock.advance(timedelta(minutes=18))
    bot.slack.command("/recovery claim 3", user="U2")
    bot.settle()


def test_the_rollup_goes_to_the_lead_channel_once_with_the_point_first_and_each_channel_linked(
        make_bot, settings, fake_slack):
    fake_slack.add_channel("CLEADS", name="support-leads")
    leads = replace(settings, lead_channel="CLEADS", lead_user_ids=frozenset({LEAD, "ULEE"}))
    bot = make_bot(leads)
    _two_channels(bot)
    bot.clock.set(MONDAY_0859)
    assert _tick(bot) == 0, "not before DIGEST_TIME"
    bot.clock.set(MONDAY_0901)
    assert _tick(bot) == 1
    assert _tick(bot) == 0, "a second tick posts nothing"
    assert make_bot(leads).runtime.ticker.tick().rollups == 0, "nor does a second replica"
    bot.settle()

    [rollup] = _rollups(bot, "CLEADS")
    assert not _rollups(bot, f"D{LEAD}") and not _rollups(bot, "DULEE"), "LEAD_CHANNEL set: no DMs"
    assert rollup.text == ("Leads' roll-up, Mon 2 Nov: 2 unclaimed and 3 overdue across 2 channels; "
                           "oldest #1 in <#C1>, 1 day, unclaimed")
    assert rollup.blocks[0]["text"]["text"] == "Leads' roll-up · Mon 2 Nov"
    assert rollup.blocks[1]["text"]["text"] == (
        f"*2 unclaimed and 3 overdue across 2 channels; oldest <{_card_link(bot, 1)}|#1> in <#C1>, 1 day, "
        "unclaimed*")
    body = rollup.plain()
    assert "*Yesterday*  flagged 3 · resolved 0 · closed 0" in body
    assert ("*By channel, worst first*\n"
            "• <#C2>  2 open · 1 unclaimed · 2 overdue · oldest 21 h\n"
            "• <#C1>  1 open · 1 unclaimed · 1 overdue · oldest 1 day") in body
    assert "time to claim 18m · no acknowledgements yet · no resolutions yet" in body
    assert "*Remedy spend*  $ 0 over 0 remedies" in body
    assert "<@" not in body, "nobody is pinged"


def test_without_a_lead_channel_each_lead_gets_the_rollup_by_dm(make_bot, settings):
    bot = make_bot(replace(settings, lead_user_ids=frozenset({LEAD, "ULEE"})))
    _two_channels(bot)
    bot.clock.set(MONDAY_0901)
    assert _tick(bot) == 1
    mine, lees = _rollups(bot, f"D{LEAD}"), _rollups(bot, "DULEE")
    assert len(mine) == 1 and len(lees) == 1
    assert mine[0].text == lees[0].text == ("Leads' roll-up, Mon 2 Nov: 2 unclaimed and 3 overdue across 2 "
                                            "channels; oldest #1 in <#C1>, 1 day, unclaimed")
    assert _tick(bot) == 0
    assert len([m for m in dms(bot, LEAD) if m.text.startswith(TITLE)]) == 1


def test_no_rollup_on_a_non_working_day_and_mondays_covers_the_weekend(make_bot, settings):
    bot = make_bot(replace(settings, work_hours=parse_work_hours("09:00-18:00 Mon-Fri")))
    friday = MONDAY_0859 - timedelta(days=3)
    bot.clock.set(friday + timedelta(hours=2))
    bot.slack.command("/recovery new Wrong size", channel="C1")
    bot.slack.command("/recovery new Late again", channel="C2")
    bot.clock.set(friday + timedelta(days=2, minutes=2))
    assert _tick(bot) == 0, "Sunday 09:01 under WORK_HOURS Mon-Fri"
    assert not _rollups(bot, f"D{LEAD}")
    bot.clock.set(MONDAY_0901)
    assert _tick(bot) == 1
    [rollup] = _rollups(bot, f"D{LEAD}")
    assert rollup.blocks[0]["text"]["text"] == "Leads' roll-up · Mon 2 Nov"
    assert "*Since Fri 30 Oct*  flagged 2 · resolved 0 · closed 0" in rollup.plain()


def test_no_rollup_when_there_is_nothing_to_say(bot):
    bot.clock.set(MONDAY_0859 - timedelta(days=3))
    bot.slack.command("/recovery new Double charge", channel="C1")
    assert bot.slack.command("/recovery cancel 1 sent by mistake", user=LEAD).text == "#1 is cancelled."
    bot.clock.set(MONDAY_0901)
    assert _tick(bot) == 0, "cancelled days ago: nothing open, nothing flagged, resolved or closed yesterday"
    assert not _rollups(bot, f"D{LEAD}")


def test_the_first_rollup_waits_for_a_digest_time_after_the_first_incident_and_a_late_one_only_that_day(
        make_bot, settings):
    bot = make_bot(settings)
    bot.clock.set(MONDAY_0859 + timedelta(hours=6))
    bot.slack.command("/recovery new Broken zip", channel="C1")
    assert _tick(bot) == 0, "flagged for the first time at 15:00: not at once"
    assert make_bot(settings).runtime.ticker.tick().rollups == 0, "nor from a bot started after DIGEST_TIME"
    bot.clock.set(MONDAY_0859 + timedelta(days=1, hours=5))
    assert _tick(bot) == 1, "down at 09:00 on Tuesday, back at 14:00: posted on return"
    bot.clock.set(MONDAY_0859 + timedelta(days=3) - timedelta(hours=2))
    assert _tick(bot) == 0, "Wednesday's was never posted, and Thursday's is not due before 09:00"
    assert len(_rollups(bot, f"D{LEAD}")) == 1


def test_no_rollup_is_posted_in_a_lead_channel_shared_with_another_organization(make_bot, settings, fake_slack):
    fake_slack.add_channel("CPARTNER", name="partner-leads", is_ext_shared=True, is_shared=True)
    bot = make_bot(replace(settings, lead_channel="CPARTNER"))
    _two_channels(bot)
    bot.clock.set(MONDAY_0901)
    assert _tick(bot) == 1, "claimed and queued, then kept back by the sender"
    assert bot.fake.messages("CPARTNER") == []
    assert not _rollups(bot, f"D{LEAD}"), "nor sent somewhere else instead"
    assert "*Digests waiting:*" in bot.slack.command("/recovery health", user=LEAD).text


def _prompt(bot: ServedBot) -> Message:
    return [m for m in bot.thread(bot.card(1))
            if any(b.get("block_id", "").startswith("step_") for b in m.blocks)][-1]


def _click(bot: ServedBot, message: Message, label: str, user: str = "U2") -> None:
    assert bot.slack.click(message, label, user=user).status == 200
    bot.settle()


def _form(bot: ServedBot, fields: dict) -> None:
    opened = len(bot.fake.views())
    bot.slack.click(_prompt(bot), "Done", user="U2")
    assert bot.fake.wait_for(lambda: len(bot.fake.views()) > opened)
    assert bot.slack.submit(bot.fake.views()[-1], fields, user="U2").body == ""
    bot.settle()


def test_remedy_spend_shows_the_currency_in_the_channel_digest_and_the_rollup(make_bot, settings):
    bot = make_bot(replace(settings, currency="GBP"))
    bot.clock.set(MONDAY_0859 - timedelta(days=1))
    bot.slack.command("/recovery new Parcel arrived crushed", channel="C1")
    bot.slack.command("/recovery claim 1", user="U2")
    bot.settle()
    _click(bot, _prompt(bot), "Done")
    _click(bot, _prompt(bot), "Done")
    _form(bot, {"root_cause": "delivery", "fix_note": "Reshipped by courier"})
    _form(bot, {"remedy_kind": "refund", "amount": "120"})
    [asked] = [m for m in dms(bot, LEAD) if m.text.startswith("💶")]
    _click(bot, asked, "Approve", user=LEAD)
    _click(bot, _prompt(bot), "Agreed")
    bot.clock.set(MONDAY_0901)
    assert _tick(bot) == 1
    [digest] = [m for m in bot.fake.messages("C1") if m.text.startswith("Recovery digest")]
    assert "*Remedy spend*  £ 120 over 1 remedy" in digest.plain()
    [rollup] = _rollups(bot, f"D{LEAD}")
    assert "*Remedy spend*  £ 120 over 1 remedy" in rollup.plain()
    assert "*Yesterday*  flagged 1 · resolved 1 · closed 0" in rollup.plain()


def test_a_rollup_of_many_channels_lists_the_worst_fifteen_within_block_kit_limits():
    """Pure: forty channels, each with one more unclaimed incident than the last."""
    now = MONDAY_0901
    facts = [IncidentFacts(number=channel * 100 + index, channel=f"C{channel:02d}",
                           created_at=now - timedelta(hours=channel), summary="x" * 300,
                           step_due_at=now + timedelta(hours=1))
             for channel in range(40) for index in range(channel + 1)]
    figures = rollup_figures(facts, now=now, tz=ZoneInfo("UTC"))
    blocks = [block.to_dict() for block in rollup_blocks(figures, currency="EUR", playbook=DEFAULT_PLAYBOOK)]
    assert len(blocks) <= 50
    texts = [block["text"]["text"] for block in blocks if block["type"] == "section"]
    assert all(len(text) <= 3000 for text in texts)
    listed = next(text for text in texts if text.startswith("*By channel, worst first*")).split("\n")
    assert listed[1] == "• <#C39>  40 open · 40 unclaimed · 0 overdue · oldest 1 day"
    assert listed[15] == "• <#C25>  26 open · 26 unclaimed · 0 overdue · oldest 1 day"
    assert listed[16:] == ["…and 25 more channels"]
    assert texts[0] == "*820 unclaimed across 40 channels; oldest #3900 in <#C39>, 1 day, unclaimed*"
