"""The leads' weekly insights (issue 15 item 3): Monday at DIGEST_TIME, once per workspace
whatever the ticks and replicas, to LEAD_CHANNEL or else each lead's DM, the chart uploaded
through the double's upload flow with the answer's words as its comment; nothing without
answers, nothing on Tuesday, nothing in a LEAD_CHANNEL shared with another organization.
Through signed requests into the real app, the strict Slack double and the fake clock, on
both databases."""
from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bot.devkit.slack_double import Message
from bot.domain.parsing import parse_work_hours
from bot.insights_post import due_day
from tests.conftest import LEAD, ServedBot

OWNER = "U2"
MONDAY_0859 = datetime(2026, 11, 9, 8, 59, tzinfo=timezone.utc)
MONDAY_0901 = MONDAY_0859 + timedelta(minutes=2)
PNG = b"\x89PNG\r\n\x1a\n"
COMMENT = (
    "*📊 Recovery insights, last 90 days*\n\n"
    "*Not enough answers yet:* only 1 follow-up answer was recorded since Tue 11 Aug, and figures need 10. Insights "
    "count the satisfaction and \"would buy again\" recorded at each incident's follow-up: record them with *Record "
    "follow-up* in the card's thread when the follow-up falls due, then ask again, or look over a longer window "
    "(`/recovery insights 365d`).")
ALT = ("Chart of the share of recovered customers who would buy again, last 90 days, 1 answer. Left, by time to "
       "resolve: under 4 h not enough answers (n=1); 4–24 h no answers; 1–3 days no answers; over 3 days no "
       "answers. Right, by week: no week has 10 answers yet.")


def _prompt(bot: ServedBot) -> Message:
    return [m for m in bot.thread(bot.card(1)) if any(b.get("type") == "actions" for b in m.blocks)][-1]


def _press(bot: ServedBot, label: str, *, user: str = OWNER) -> None:
    assert bot.slack.click(_prompt(bot), label, user=user).status == 200
    bot.settle()


def _form(bot: ServedBot, label: str, values: dict) -> None:
    before = len(bot.fake.views())
    assert bot.slack.click(_prompt(bot), label, user=OWNER).status == 200
    assert bot.fake.wait_for(lambda: len(bot.fake.views()) > before), f"{label} opened no modal"
    assert bot.slack.submit(bot.fake.views()[-1], values, user=OWNER).body == ""
    bot.settle()


def _answered(bot: ServedBot) -> None:
    """#1 flagged Monday 2 Nov, recovered in 20 minutes and followed up on Thursday: one answer."""
    complaint = bot.fake.add_user_message("C1", user="UCUST", text="My parcel arrived crushed")
    bot.slack.react(channel="C1", ts=complaint.ts)
    bot.settle()
    bot.slack.click(bot.card(1), "Claim", user=OWNER)
    bot.settle()
    bot.clock.advance(timedelta(minutes=20))
    _press(bot, "Done")
    _press(bot, "Done")
    _form(bot, "Done", {"root_cause": "delivery", "fix_note": "Reshipped"})
    _form(bot, "Done", {"remedy_kind": "discount", "amount": "10"})
    _press(bot, "Agreed")
    bot.clock.advance(timedelta(days=3, minutes=1))
    bot.runtime.ticker.tick()
    bot.settle()
    _form(bot, "Record follow-up", {"csat": "8", "buy_again": "yes"})


def _tick(bot: ServedBot) -> int:
    """How many weekly posts the tick queued; what it queued is then sent."""
    report = bot.runtime.ticker.tick()
    bot.settle()
    return report.insights


def _charts(bot: ServedBot) -> list[dict]:
    return [f for f in bot.fake.files() if f["name"].startswith("insights-")]


def _shared_with(bot: ServedBot, channel: str, chart: dict) -> Message:
    (message,) = [m for m in bot.fake.messages(channel) if m.files]
    assert message.files == (chart["id"],)
    return message


def test_the_weekly_insights_go_to_the_lead_channel_on_monday_once_with_the_chart_and_its_words(
        make_bot, settings, fake_slack):
    fake_slack.add_channel("CLEADS", name="support-leads")
    leads = replace(settings, lead_channel="CLEADS")
    bot = make_bot(leads)
    _answered(bot)
    bot.clock.set(MONDAY_0859)
    assert _tick(bot) == 0, "not before DIGEST_TIME"
    bot.clock.set(MONDAY_0901)
    before = len(bot.fake.calls())
    assert _tick(bot) == 1
    assert _tick(bot) == 0, "a second tick posts nothing"
    assert make_bot(leads).runtime.ticker.tick().insights == 0, "nor does a second replica"
    bot.settle()

    (chart,) = _charts(bot)
    assert (chart["name"], chart["title"], chart["channel"]) == (
        "insights-2026-W46.png", "Recovery insights chart, last 90 days, Mon 9 Nov 2026", "CLEADS")
    assert chart["bytes"].startswith(PNG)
    assert (int.from_bytes(chart["bytes"][16:20], "big"), int.from_bytes(chart["bytes"][20:24], "big")) == (1200, 700)
    assert chart["alt_txt"] == ALT
    assert _shared_with(bot, "CLEADS", chart).text == COMMENT
    assert not [m for m in bot.fake.messages(f"D{LEAD}") if m.files], "LEAD_CHANNEL set: no DMs"
    uploads = [call.method for call in bot.fake.calls()[before:] if call.method.startswith(("files.", "file_"))]
    assert uploads == ["files.getUploadURLExternal", "file_upload", "files.completeUploadExternal"]


def test_without_a_lead_channel_each_lead_gets_the_chart_in_their_dm(make_bot, settings):
    bot = make_bot(replace(settings, lead_user_ids=frozenset({LEAD, "ULEE"})))
    _answered(bot)
    bot.clock.set(MONDAY_0901)
    assert _tick(bot) == 1
    mine, lees = sorted(_charts(bot), key=lambda f: f["channel"])
    assert (mine["channel"], lees["channel"]) == (f"D{LEAD}", "DULEE")
    assert mine["bytes"] == lees["bytes"] and mine["bytes"].startswith(PNG)
    assert _shared_with(bot, f"D{LEAD}", mine).text == _shared_with(bot, "DULEE", lees).text == COMMENT
    assert _tick(bot) == 0


def test_nothing_on_tuesday_the_next_monday_it_comes(bot):
    _answered(bot)
    bot.clock.set(MONDAY_0901 + timedelta(days=1))
    assert _tick(bot) == 0, "a Monday missed is not posted on Tuesday"
    assert _charts(bot) == []
    bot.clock.set(MONDAY_0901 + timedelta(days=7))
    assert _tick(bot) == 1
    assert [chart["name"] for chart in _charts(bot)] == ["insights-2026-W47.png"]


def test_a_workspace_without_answers_gets_no_post(bot):
    bot.slack.command("/recovery new Wrong size sent", channel="C1")
    bot.settle()
    bot.clock.set(MONDAY_0901)
    assert _tick(bot) == 0
    assert _charts(bot) == []


def test_no_weekly_insights_in_a_lead_channel_shared_with_another_organization(make_bot, settings, fake_slack):
    fake_slack.add_channel("CPARTNER", name="partner-leads", is_ext_shared=True, is_shared=True)
    bot = make_bot(replace(settings, lead_channel="CPARTNER"))
    _answered(bot)
    bot.clock.set(MONDAY_0901)
    assert _tick(bot) == 1, "claimed and queued, then kept back by the sender"
    assert _charts(bot) == [] and bot.fake.messages("CPARTNER") == []
    assert not [m for m in bot.fake.messages(f"D{LEAD}") if m.files], "nor sent somewhere else instead"


NINE = time(9, 0)
LONDON = ZoneInfo("Europe/London")


@pytest.mark.parametrize("local, work_hours, due", [
    (datetime(2026, 11, 9, 9, 1), None, date(2026, 11, 9)),
    (datetime(2026, 11, 9, 8, 59), None, None),
    (datetime(2026, 11, 10, 9, 1), None, None),
    (datetime(2026, 11, 9, 9, 1), "09:00-18:00 Tue-Sat", None),
    (datetime(2026, 11, 10, 9, 1), "09:00-18:00 Tue-Sat", date(2026, 11, 10)),
    (datetime(2026, 11, 11, 9, 1), "09:00-18:00 Tue-Sat", None),
    (datetime(2026, 11, 8, 9, 1), "09:00-18:00 Mon-Fri", None),
])
def test_the_post_is_due_on_the_weeks_first_working_day_after_digest_time(local, work_hours, due):
    now = local.replace(tzinfo=LONDON).astimezone(timezone.utc)
    hours = parse_work_hours(work_hours) if work_hours else None
    assert due_day(now, digest_time=NINE, tz=LONDON, work_hours=hours) == due
