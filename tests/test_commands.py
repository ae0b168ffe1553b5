"""/recovery: usage, list, show, and every bad input answered with one ephemeral line."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest


def _flag(bot, text: str) -> None:  # noqa: ANN001
    bot.slack.command(f"/recovery new {text}", user="U1")


@pytest.mark.parametrize("text", ["/recovery", "/recovery help", "/recovery HELP"])
def test_help_lists_every_subcommand(bot, text):
    answer = bot.slack.command(text)
    assert answer.status == 200
    for sub in ("new", "claim", "assign", "list", "show", "snooze", "cancel", "digest", "stats"):
        assert f"/recovery {sub}" in answer.text


@pytest.mark.parametrize("text, says", [
    ("/recovery frobnicate", "Unknown subcommand"),
    ("/recovery claim", "needs an incident number"),
    ("/recovery claim abc", "/recovery claim"),
    ("/recovery claim 0", "/recovery claim"),
    ("/recovery show R-", "/recovery show"),
    ("/recovery assign 1", "needs a person"),
    ("/recovery assign 1 bob", "not someone Slack recognises"),
    ("/recovery list everything", "/recovery list"),
    ("/recovery snooze 1 soon", "duration"),
    ("/recovery cancel 1", "reason"),
])
def test_bad_arguments_get_one_usage_line_and_change_nothing(bot, text, says):
    answer = bot.slack.command(text)
    assert answer.status == 200
    assert says in answer.text
    assert "Traceback" not in answer.body
    assert bot.fake.calls("chat.postMessage") == []


def test_unknown_incident_is_named(bot):
    assert "no incident #42" in bot.slack.command("/recovery claim 42").text
    assert "no incident #42" in bot.slack.command("/recovery show #42").text


def test_list_scopes_newest_first(bot):
    for text in ("Late delivery", "Wrong charge", "Rude reply"):
        _flag(bot, text)
    bot.slack.command("/recovery claim 2", user="U2")
    open_list = bot.slack.command("/recovery list").text
    assert open_list.index("#3") < open_list.index("#2") < open_list.index("#1")
    mine = bot.slack.command("/recovery list mine", user="U2").text
    assert "#2" in mine and "#1" not in mine and "#3" not in mine
    unclaimed = bot.slack.command("/recovery list unclaimed").text
    assert "#1" in unclaimed and "#3" in unclaimed and "#2" not in unclaimed
    assert "No overdue incidents" in bot.slack.command("/recovery list overdue").text
    bot.clock.advance(timedelta(minutes=11))
    overdue = bot.slack.command("/recovery list overdue").text
    assert "#1" in overdue and "#3" in overdue and "#2" not in overdue, "claim is due in 10 minutes"


def test_list_shows_at_most_twenty(bot):
    for n in range(22):
        _flag(bot, f"Complaint {n}")
    shown = bot.slack.command("/recovery list").text
    assert "*#22*" in shown and "*#3*" in shown
    assert "*#2*" not in shown and "*#1*" not in shown


def test_show_renders_card_and_timeline(bot):
    _flag(bot, "Order lost")
    bot.slack.command("/recovery claim 1", user="U2")
    bot.slack.command("/recovery assign 1 <@U3>", user="U2")
    shown = bot.slack.command("/recovery show 1").text
    assert "Recovery #1" in shown and "Order lost" in shown
    assert "Timeline" in shown
    assert shown.index("<@U1> flagged it") < shown.index("<@U2> claimed it") < shown.index(
        "<@U2> assigned it to <@U3>")


def test_command_answers_are_ephemeral_and_post_nothing(bot):
    _flag(bot, "Something")
    bot.settle()
    posted = len(bot.fake.calls("chat.postMessage"))
    for text in ("/recovery list", "/recovery show 1", "/recovery help"):
        answer = bot.slack.command(text)
        assert answer.json().get("response_type", "ephemeral") == "ephemeral"
    bot.settle()
    assert len(bot.fake.calls("chat.postMessage")) == posted


def test_the_word_payload_in_a_command_is_just_a_word(bot):
    """Bolt reads any form body containing "payload" as an interactive payload; ours is read
    as the slash command it is, signature still checked against what Slack sent."""
    answer = bot.slack.command("/recovery new The payload of the parcel was crushed")
    assert answer.status == 200 and "Flagged as #1" in answer.text
    assert "payload" in bot.slack.command("/recovery payload").text.lower()  # usage, naming what was typed
    forged = bot.slack.send_form({"team_id": "T1", "channel_id": "C1", "user_id": "U1", "command": "/recovery",
                                  "text": "new payload", "trigger_id": "1.trigger"}, secret="not-the-secret")
    assert forged.status == 401
    assert "#2" not in bot.slack.command("/recovery list").text


def _date(moment: datetime, fallback: str) -> str:
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


def test_list_says_how_long_until_a_step_is_due_and_how_late_it_is(bot):
    _flag(bot, "Late delivery")
    bot.slack.command("/recovery claim 1", user="U2")
    due = bot.clock.now() + timedelta(minutes=15)
    bot.clock.advance(timedelta(minutes=3))
    assert bot.slack.command("/recovery list").text.endswith(
        f"*#1* Late delivery · <@U2> · Acknowledge and take ownership · due in 12 min "
        f"({_date(due, 'Mon 02 Nov 10:15 UTC')})\n`/recovery show &lt;n&gt;` for the card and timeline")
    bot.clock.advance(timedelta(minutes=16))
    assert f"· ⏰ 4 min late ({_date(due, 'Mon 02 Nov 10:15 UTC')})" in bot.slack.command("/recovery list").text


def test_a_snooze_says_until_when_and_the_list_shows_it(bot):
    _flag(bot, "Late delivery")
    bot.slack.command("/recovery claim 1", user="U2")
    until = bot.clock.now() + timedelta(hours=4)
    assert bot.slack.command("/recovery snooze 1 4h", user="U2").text == (
        f"Nudges on #1 are snoozed for 4h, until {_date(until, 'Mon 02 Nov 14:00 UTC')}.")
    assert (f"Acknowledge and take ownership · snoozed until {_date(until, 'Mon 02 Nov 14:00 UTC')}"
            in bot.slack.command("/recovery list").text)
