"""Channels the bot cannot post in (issue 11, item 1): what Slack refuses until something
changes is parked, never retried on a timer, and never holds back another incident; the
flagger is told by DM how to fix it; the rows go out, once and in order, when the bot is
invited, when the bot restarts with a token Slack takes, or when a lead retries them.

Slack is the strict double: channels are registered, and the bot is in a channel only if
it was made a member.
"""
from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlmodel import col, select

from bot.devkit.slack_double import FakeSlack, Message
from storage.models import OutboxMessage
from tests.conftest import LEAD
from tests.helpers import flag_by_reaction

INTERNAL, OUTSIDE, RECOVERY = "C1", "COUT", "CREC"
FLAGGER, AGENT = "U1", "U2"
PEOPLE = ["UCUST", FLAGGER, AGENT, LEAD]


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    """Strict channels: the bot is in C1 only. COUT and CREC exist, without it."""
    with FakeSlack(team_id="T1", strict_channels=True) as fake:
        fake.add_channel(INTERNAL, name="support", members=["UBOT", *PEOPLE])
        fake.add_channel(OUTSIDE, name="escalations", members=PEOPLE)
        fake.add_channel(RECOVERY, name="recovery", members=PEOPLE)
        yield fake


# Helpers -------------------------------------------------------------------------------


def _flag(bot, channel: str, text: str) -> Message:  # noqa: ANN001
    return flag_by_reaction(bot, channel, text, user=FLAGGER)


def _new(bot, channel: str, summary: str) -> None:  # noqa: ANN001
    """A flag by command: no message of the customer's, so no receipt, only the card."""
    assert "Flagged as" in bot.slack.command(f"/recovery new {summary}", user=FLAGGER, channel=channel).text


def _cards(fake: FakeSlack, channel: str) -> list[Message]:
    return [message for message in fake.messages(channel) if message.text.startswith("Recovery #")]


def _card_posts(fake: FakeSlack, channel: str) -> int:
    """Tries to post a message at the top of ``channel``, refused ones included."""
    return sum(1 for call in fake.attempts("chat.postMessage")
               if call.params.get("channel") == channel and not call.params.get("thread_ts"))


def _dms(fake: FakeSlack, user: str) -> list[str]:
    return [message.plain() for message in fake.messages(f"D{user}")]


def _states(bot) -> dict[str, list[str]]:  # noqa: ANN001
    """Outbox kinds by state, in id order."""
    with bot.runtime.db.read() as session:
        rows = session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).all()
    found: dict[str, list[str]] = {}
    for row in rows:
        found.setdefault(row.state, []).append(row.kind)
    return found


def _health(bot, user: str = LEAD) -> tuple[str, Message]:  # noqa: ANN001
    answer = bot.slack.command("/recovery health", user=user, channel=INTERNAL)
    assert answer.status == 200
    return answer.text, Message(channel=INTERNAL, ts="1.000001", blocks=answer.json().get("blocks") or [])


def _healthz(bot) -> dict:  # noqa: ANN001
    with urllib.request.urlopen(bot.url.removesuffix("/slack/events") + "/healthz", timeout=5) as response:
        assert response.status == 200
        return json.loads(response.read())


# The bot is not in the channel ----------------------------------------------------------


def test_card_in_a_channel_without_the_bot_waits_and_goes_out_with_its_thread_when_invited(bot):
    _flag(bot, OUTSIDE, "My order never came")
    bot.settle()

    assert _cards(bot.fake, OUTSIDE) == []
    dm = _dms(bot.fake, FLAGGER)
    assert dm == ["I could not post #1 in <#COUT>: I am not a member of <#COUT>. Type `/invite @recovery-bot` in "
                  "<#COUT>: the card and its thread go out as soon as I join."]

    _flag(bot, INTERNAL, "Charged twice")
    bot.slack.command("/recovery claim 1", user=AGENT, channel=INTERNAL)
    bot.settle()
    assert len(_cards(bot.fake, INTERNAL)) == 1, "another incident in another channel is not held back"
    assert bot.card(2).channel == INTERNAL
    assert _cards(bot.fake, OUTSIDE) == [], "the claim's messages wait behind the parked card"

    bot.clock.advance(timedelta(hours=2))
    bot.settle()
    assert _card_posts(bot.fake, OUTSIDE) == 1, "parked means no retry on a timer: only the first refused try"

    joined = bot.fake.add_bot_to_channel(OUTSIDE)
    assert bot.slack.send_json(joined).status == 200
    bot.settle()
    assert bot.slack.send_json(joined).status == 200, "Slack delivers an event again when unsure"
    bot.settle()

    card = bot.card(1)
    assert card.channel == OUTSIDE and f"<@{AGENT}>" in card.plain(), "the card shows the claim made meanwhile"
    assert _card_posts(bot.fake, OUTSIDE) == 2, "the refused try and the one that went, nothing more"
    thread = [message.plain() for message in bot.thread(card)]
    assert len(thread) == 1 and "Acknowledge" in thread[0], "the claim's step prompt, once, in the card's thread"
    assert len(_dms(bot.fake, FLAGGER)) == 1
    assert "parked" not in _states(bot)


def test_someone_else_joining_the_channel_changes_nothing(make_bot, settings):
    bot = make_bot(replace(settings, slack_bot_user_id="UBOT"))
    _new(bot, OUTSIDE, "Lost parcel")
    bot.settle()
    someone = {"token": "legacy", "team_id": "T1", "api_app_id": "A1", "type": "event_callback",
               "event_id": "EvSOMEONE", "event_time": 1_700_000_000,
               "event": {"type": "member_joined_channel", "user": "U9", "channel": OUTSIDE, "channel_type": "C",
                         "team": "T1", "event_ts": "1700000000.000100"}}
    assert bot.slack.send_json(someone).status == 200
    bot.settle()
    assert _card_posts(bot.fake, OUTSIDE) == 1
    assert _states(bot)["parked"] == ["card"]


def test_recovery_channel_without_the_bot_parks_and_names_that_channel(make_bot, settings):
    bot = make_bot(replace(settings, recovery_channel=RECOVERY))
    _new(bot, INTERNAL, "Refund never arrived")
    bot.settle()
    assert _cards(bot.fake, RECOVERY) == []
    assert _dms(bot.fake, FLAGGER) == [
        "I could not post #1 in <#CREC>: I am not a member of <#CREC>. Type `/invite @recovery-bot` in <#CREC>: "
        "the card and its thread go out as soon as I join."]
    assert bot.fake.calls("conversations.info") == [], "a recovery channel is the team's own: no shared check"

    bot.slack.send_json(bot.fake.add_bot_to_channel(RECOVERY))
    bot.settle()
    assert bot.card(1).channel == RECOVERY


def test_an_archived_channel_parks_and_an_ephemeral_there_is_dropped(bot):
    bot.fake.add_channel("COLD", name="old", members=["UBOT", *PEOPLE], is_archived=True)
    _new(bot, "COLD", "Broken on arrival")
    bot.settle()
    assert _states(bot)["parked"] == ["card"]
    assert "<#COLD> is archived" in _dms(bot.fake, FLAGGER)[0]


# Credentials ----------------------------------------------------------------------------


def test_a_restart_with_a_token_slack_takes_sends_what_the_refused_token_parked(make_bot, settings, caplog):
    bot = make_bot(settings)
    bot.fake.strict(tokens=True)
    bot.fake.add_workspace("T1", token="xoxb-fixed")
    _new(bot, INTERNAL, "Wrong size delivered")
    bot.settle()
    assert _states(bot) == {"parked": ["card"]}, "no DM: it would meet the same refusal"
    assert _cards(bot.fake, INTERNAL) == []
    assert any("parked: invalid_auth" in record.message and "SLACK_BOT_TOKEN" in record.message
               for record in caplog.records)

    bot.clock.advance(timedelta(hours=1))
    bot.settle()
    assert _states(bot) == {"parked": ["card"]}, "not retried on a timer"

    restarted = make_bot(replace(settings, slack_bot_token="xoxb-fixed"))
    restarted.settle()
    assert len(_cards(bot.fake, INTERNAL)) == 1
    assert _states(restarted) == {"sent": ["card"]}


# /recovery health -----------------------------------------------------------------------


def test_health_is_for_leads_and_shows_the_stuck_incident_with_its_reason(bot):
    _new(bot, OUTSIDE, "Late delivery")
    _new(bot, INTERNAL, "Fine one")
    bot.settle()
    bot.slack.command("/recovery claim 1", user=AGENT, channel=INTERNAL)

    refused, _ = _health(bot, user=AGENT)
    assert refused == "Only a lead can see `/recovery health`."
    text, message = _health(bot)
    assert "*Outbox:* 1 parked, 0 dead, 2 to send" in text
    assert "*#1* Late delivery · 3 messages waiting\nI am not a member of <#COUT>." in text
    assert "#2" not in text
    assert [element["text"]["text"] for block in message.blocks if block["type"] == "actions"
            for element in block["elements"]] == ["Retry", "Give up"]


def test_lead_retry_sends_the_stuck_incident_once_the_channel_is_fixed(bot):
    _new(bot, OUTSIDE, "Late delivery")
    bot.settle()
    bot.fake.add_bot_to_channel(OUTSIDE)  # invited, but the event never reached the bot
    _, message = _health(bot)

    assert bot.slack.click(message, "Retry", user=AGENT).status == 200
    bot.settle()
    assert _cards(bot.fake, OUTSIDE) == []
    assert bot.fake.ephemerals(AGENT)[-1].text == "Only a lead can retry or give up an incident's messages."

    assert bot.slack.click(message, "Retry", user=LEAD).status == 200
    bot.settle()
    assert len(_cards(bot.fake, OUTSIDE)) == 1
    assert bot.fake.ephemerals(LEAD)[-1].text.startswith("Trying #1 again now")
    text, _ = _health(bot)
    assert "Nothing is stuck: every message went out." in text


def test_lead_gives_up_and_the_incident_still_works_from_commands(bot):
    _new(bot, OUTSIDE, "Late delivery")
    bot.settle()
    bot.slack.command("/recovery claim 1", user=AGENT, channel=INTERNAL)
    _, message = _health(bot)

    assert bot.slack.click(message, "Give up", user=LEAD).status == 200
    bot.settle()
    assert bot.fake.ephemerals(LEAD)[-1].text == ("Gave up 3 unsent messages of #1; it still works from `/recovery` "
                                                  "commands.")
    with bot.runtime.db.read() as session:
        given_up = session.exec(select(OutboxMessage.last_error).where(OutboxMessage.incident_id == 1)).all()
    assert given_up == [f"given up by {LEAD}"] * 3
    text, _ = _health(bot)
    assert f"given up by <@{LEAD}> ×3" in text and "Retry" not in text
    shown = bot.slack.command("/recovery show 1", user=AGENT, channel=INTERNAL).text
    assert "Acknowledge" in shown
    assert f"<@{LEAD}> gave up posting #1's messages that Slack refused: not_in_channel" in shown


# /healthz -------------------------------------------------------------------------------


def test_healthz_counts_parked_dead_and_pending_rows(bot):
    assert _healthz(bot) | {"slack": None} == {"database": "ok", "slack": None, "parked": 0, "dead": 0, "pending": 0,
                                                       "workspaces": 0}
    _new(bot, OUTSIDE, "Late delivery")
    _new(bot, INTERNAL, "Fine one")
    bot.settle()
    bot.slack.command("/recovery claim 1", user=AGENT, channel=INTERNAL)
    bot.fake.fail_next("chat.postMessage", status=200, error="invalid_blocks")
    bot.slack.command("/recovery claim 2", user=AGENT, channel=INTERNAL)
    bot.settle()

    counts = _healthz(bot)
    assert {key: counts[key] for key in ("parked", "dead", "pending")} == {"parked": 1, "dead": 1, "pending": 2}
