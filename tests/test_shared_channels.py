"""Never in front of the customer (issue 11, item 2): with RECOVERY_CHANNEL unset, a flag in a
channel shared with another organization posts nothing there (card, thread, nudges, digest);
the incident is stored, the flagger is told privately what to do, and leads see it.

Slack is the strict double; the bot is a member of every channel here, so nothing but the
shared check keeps the card out.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest

from bot.devkit.slack_double import FakeSlack, Message
from tests.conftest import LEAD
from tests.helpers import flag_by_reaction

INTERNAL, CUSTOMER, RECOVERY = "C1", "CEXT", "CREC"
FLAGGER, AGENT = "U1", "U2"
MEMBERS = ["UBOT", "UCUST", FLAGGER, AGENT, LEAD]


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack(team_id="T1", strict_channels=True) as fake:
        fake.add_channel(INTERNAL, name="support", members=MEMBERS)
        fake.add_channel(CUSTOMER, name="acme-shared", members=MEMBERS, is_ext_shared=True, is_shared=True)
        fake.add_channel(RECOVERY, name="recovery", members=MEMBERS)
        yield fake


def _flag(bot, channel: str, text: str) -> Message:  # noqa: ANN001
    return flag_by_reaction(bot, channel, text, user=FLAGGER)


def _bot_posts(fake: FakeSlack, channel: str) -> list[str]:
    """Everything the bot tried to post or update in ``channel`` (reactions say nothing and are allowed)."""
    return [call.method for call in fake.attempts()
            if call.method in ("chat.postMessage", "chat.update", "chat.postEphemeral")
            and call.params.get("channel") == channel]


def test_a_flag_in_a_shared_channel_posts_nothing_there_and_tells_the_flagger(bot):
    _flag(bot, CUSTOMER, "Your product broke our launch")
    bot.settle()

    assert _bot_posts(bot.fake, CUSTOMER) == []
    assert [message.plain() for message in bot.fake.messages(f"D{FLAGGER}")] == [
        "I could not post #1 in <#CEXT>: <#CEXT> is shared with another organization, so the customer could read "
        "it there. Flag complaints from an internal channel, or ask an admin to set RECOVERY_CHANNEL to an internal "
        "triage channel. #1 is stored: `/recovery show 1` works, and leads see it in `/recovery list` and "
        "`/recovery health`."]

    listed = bot.slack.command("/recovery list", user=LEAD, channel=INTERNAL).text
    assert "*#1* Your product broke our launch" in listed
    health = bot.slack.command("/recovery health", user=LEAD, channel=INTERNAL).text
    assert "*#1* Your product broke our launch · 2 messages waiting" in health, "the card, and the offer behind it"
    assert "<#CEXT> is shared with another organization" in health


def test_nothing_of_the_incident_reaches_the_shared_channel_later_either(bot):
    _flag(bot, CUSTOMER, "Invoice is wrong")
    _flag(bot, CUSTOMER, "And the delivery is late")
    bot.settle()
    bot.slack.command("/recovery claim 1", user=AGENT, channel=INTERNAL)
    bot.clock.advance(timedelta(days=2))
    bot.runtime.ticker.tick()  # nudges, escalations, and the digest once its hour has passed
    bot.settle()

    assert _bot_posts(bot.fake, CUSTOMER) == []
    assert len(bot.fake.calls("conversations.info")) == 1, "asked once for the channel, remembered"
    assert bot.fake.messages(INTERNAL) == [], "no digest for the shared channel elsewhere either"
    health = bot.slack.command("/recovery health", user=LEAD, channel=INTERNAL).text
    assert "*#1*" in health and "*#2*" in health


def test_an_internal_channel_gets_its_card_as_before(bot):
    _flag(bot, INTERNAL, "Charged twice")
    bot.settle()
    assert bot.card(1).channel == INTERNAL
    assert [call.params["channel"] for call in bot.fake.calls("conversations.info")] == [INTERNAL]
    _flag(bot, INTERNAL, "Charged three times")
    bot.settle()
    assert len(bot.fake.calls("conversations.info")) == 1, "the channel's answer is kept"


def test_only_is_shared_is_enough_to_keep_the_card_out(bot):
    bot.fake.add_channel("CORG", name="partner", members=MEMBERS, is_shared=True)
    _flag(bot, "CORG", "Partner complaint")
    bot.settle()
    assert _bot_posts(bot.fake, "CORG") == []


def test_a_channel_that_stops_being_shared_gets_its_card_when_a_lead_retries(bot):
    bot.fake.add_channel("CWAS", name="was-shared", members=MEMBERS, is_ext_shared=True)
    _flag(bot, "CWAS", "Order lost")
    bot.settle()
    assert _bot_posts(bot.fake, "CWAS") == []
    bot.fake.add_channel("CWAS", name="was-shared", members=MEMBERS)  # the other organization left

    answer = bot.slack.command("/recovery health", user=LEAD, channel=INTERNAL)
    health = Message(channel=INTERNAL, ts="1.000001", blocks=answer.json()["blocks"])
    assert bot.slack.click(health, "Retry", user=LEAD).status == 200
    bot.settle()
    assert bot.card(1).channel == "CWAS"


def test_with_a_recovery_channel_the_card_goes_there_without_asking(make_bot, settings):
    bot = make_bot(replace(settings, recovery_channel=RECOVERY))
    _flag(bot, CUSTOMER, "Shipment stuck")
    bot.settle()
    assert bot.card(1).channel == RECOVERY
    assert _bot_posts(bot.fake, CUSTOMER) == []
    assert bot.fake.calls("conversations.info") == []
