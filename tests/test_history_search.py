"""History as Slack really serves it: pages of 15, one call a minute for an app outside the
Marketplace, threads apart from the channel. A post whose outcome is unknown is still found
and not posted twice; a quote is fetched within that budget without holding a card back."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlmodel import col, select

from bot.devkit.clock import FakeClock
from bot.devkit.slack_double import FakeSlack
from bot.settings import Settings
from storage.models import OutboxMessage


@pytest.fixture
def fake_slack(clock: FakeClock) -> Iterator[FakeSlack]:
    """An app outside the Marketplace: history and replies 1 call a minute, 15 messages a page."""
    now = lambda: clock.now().timestamp()  # noqa: E731
    with FakeSlack(team_id="T1", rate_limits=True, unlisted_app=True, clock=now, message_clock=now) as fake:
        yield fake


@pytest.fixture
def unlisted(make_bot, settings: Settings):  # noqa: ANN001, ANN201
    return make_bot(replace(settings, slack_pacing=True, slack_history_per_minute=1))


def _card_rows(bot) -> list[OutboxMessage]:  # noqa: ANN001
    with bot.runtime.db.read() as session:
        return list(session.exec(select(OutboxMessage).where(OutboxMessage.kind == "card")
                                 .order_by(col(OutboxMessage.id))).all())


def test_an_uncertain_post_with_250_newer_messages_in_15_message_pages_is_found_not_posted_twice(unlisted,
                                                                                                  clock) -> None:
    fake = unlisted.fake
    for n in range(100):  # an hour older than the flag: the search never reads them
        fake.add_user_message("C7", user="UCUST", text=f"old chatter {n}")
    clock.advance(timedelta(hours=1))
    fake.drop_after_answer("chat.postMessage")  # Slack stores the card, the bot never hears so
    assert "Flagged as" in unlisted.slack.command("/recovery new Refund lost for 3 weeks", channel="C7").text
    unlisted.settle()
    assert _card_rows(unlisted)[0].uncertain and len(unlisted.cards()) == 1
    for n in range(250):
        fake.add_user_message("C7", user="UCUST", text=f"busy channel {n}")

    clock.advance(timedelta(seconds=2))
    assert "Flagged as" in unlisted.slack.command("/recovery new Parcel crushed", channel="C8").text
    unlisted.settle()
    assert [card.channel for card in unlisted.cards()] == ["C7", "C8"], "the search holds no other send back"

    minutes = 0
    while _card_rows(unlisted)[0].state != "sent" and minutes < 30:
        clock.advance(timedelta(seconds=61))
        minutes += 1
        unlisted.settle()

    card = unlisted.card(1)
    assert [c.ts for c in unlisted.cards() if c.channel == "C7"] == [card.ts], "found, not posted twice"
    assert _card_rows(unlisted)[0].result_ts == card.ts
    pages = fake.attempts("conversations.history")
    assert len(pages) == 17, "251 messages since the flag, 15 a page; the 100 older ones never read"
    assert minutes == 16, "one page a minute (and a second): the first at once, then one each minute"
    assert all(call.params.get("oldest") for call in pages)
    assert fake.rate_limited() == {}, "waited its turn instead of meeting 429"


def test_the_quote_of_a_flagged_thread_reply_is_found(unlisted) -> None:
    parent = unlisted.fake.add_user_message("C1", user="UCUST", text="Where is my order?")
    reply = unlisted.fake.add_user_message("C1", user="UCUST", text="Still nothing after 10 days",
                                           thread_ts=parent.ts)
    assert unlisted.slack.react(channel="C1", ts=reply.ts).status == 200
    unlisted.settle()

    assert "Still nothing after 10 days" in unlisted.card(1).plain()
    assert "Where is my order?" not in unlisted.card(1).plain()


def test_quotes_under_a_one_a_minute_budget_come_later_and_never_hold_a_card_back(unlisted, clock) -> None:
    for channel, text in (("C1", "Charged twice"), ("C2", "Wrong size sent"), ("C3", "Never delivered")):
        complaint = unlisted.fake.add_user_message(channel, user="UCUST", text=text)
        assert unlisted.slack.react(channel=channel, ts=complaint.ts).status == 200
    unlisted.settle()

    def quoted() -> list[bool]:
        return [text in unlisted.card(n).plain()
                for n, text in ((1, "Charged twice"), (2, "Wrong size sent"), (3, "Never delivered"))]

    assert len(unlisted.cards()) == 3, "every card at once"
    assert quoted() == [True, False, False], "the budget had one history call"
    clock.advance(timedelta(seconds=61))
    unlisted.settle()
    assert sorted(quoted()) == [False, True, True]
    clock.advance(timedelta(seconds=61))
    unlisted.settle()
    assert quoted() == [True, True, True]
    assert len(unlisted.cards()) == 3 and len(unlisted.fake.calls("chat.update")) == 2
    assert unlisted.fake.rate_limited() == {}
