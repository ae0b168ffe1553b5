"""Pacing within Slack's limits: the outbox spends Slack's budget before Slack has to say 429,
so a burst of flags is drained at the rate Slack allows, every card once, cards first."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlmodel import select

from bot.devkit.clock import FakeClock
from bot.devkit.slack_double import FakeSlack
from bot.pacing import POST, Limits, Pacer, key
from bot.settings import Settings
from storage import outbox_store
from storage.models import Incident

CHANNEL = "C1"


@pytest.fixture
def fake_slack(clock: FakeClock) -> Iterator[FakeSlack]:
    """Slack's limits on the test's clock: per channel 1 post a second with a burst of 3."""
    now = lambda: clock.now().timestamp()  # noqa: E731
    with FakeSlack(team_id="T1", rate_limits=True, clock=now, message_clock=now) as fake:
        yield fake


@pytest.fixture
def paced(make_bot, settings: Settings):  # noqa: ANN001, ANN201
    return make_bot(replace(settings, slack_pacing=True))


def _card_posts(fake: FakeSlack) -> Counter[str]:
    """Accepted card posts, by card title: a title seen twice is a card posted twice."""
    return Counter(str(call.params.get("text")) for call in fake.calls("chat.postMessage")
                   if str(call.params.get("text", "")).startswith("Recovery #"))


def test_a_bucket_lets_a_burst_through_then_one_call_per_interval() -> None:
    clock = FakeClock()
    pacer = Pacer(Limits(posts_per_second=1.0, post_burst=2), clock)
    channel = [key("T1", POST, CHANNEL)]

    assert [pacer.take(channel) for _ in range(3)] == [0.0, 0.0, 1.0]
    clock.advance(timedelta(seconds=0.5))
    assert pacer.take(channel) == 0.5
    assert pacer.take([key("T1", POST, "C2")]) == 0.0, "another channel has a bucket of its own"
    clock.advance(timedelta(seconds=0.5))
    assert pacer.take(channel) == 0.0


def test_a_429_closes_its_bucket_for_retry_after_and_unused_tokens_come_back() -> None:
    clock = FakeClock()
    pacer = Pacer(Limits(), clock)
    update = [key("T1", "chat.update")]

    pacer.hold(update[0], 30)
    assert pacer.take(update) == 30.0
    assert pacer.empty() == {update[0]}
    clock.advance(timedelta(seconds=30))
    assert pacer.take(update) == 0.0 and pacer.empty() == set()

    channel = [key("T1", POST, CHANNEL)]
    pacer.take(channel), pacer.take(channel)
    pacer.give_back(channel)
    assert pacer.take(channel) == 0.0, "a token taken for a call not made is there again"


def test_twenty_flags_in_one_channel_within_a_second_are_paced_to_its_limit_each_card_once(paced, clock) -> None:
    """Slack's limit here: 1 post a second per channel, bursts of 3. The bot keeps to 1 a second
    with bursts of 2, so the 20 cards take 18 seconds and Slack never has to refuse one."""
    complaints = [paced.fake.add_user_message(CHANNEL, user="UCUST", text=f"Order {n} never arrived")
                  for n in range(20)]
    for complaint in complaints:
        assert paced.slack.react(channel=CHANNEL, ts=complaint.ts).status == 200

    cards_by_second = []
    for _ in range(20):
        paced.settle()
        cards_by_second.append(len(paced.cards()))
        clock.advance(timedelta(seconds=1))

    assert cards_by_second == [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 20]
    posts = _card_posts(paced.fake)
    assert len(posts) == 20 and set(posts.values()) == {1}, "all 20 cards, each once"
    assert sorted(int(card.text.split("#")[1].split(":")[0]) for card in paced.cards()) == list(range(1, 21))
    assert sum(paced.fake.rate_limited().values()) <= 5
    assert paced.fake.rate_limited().get("chat.postMessage", 0) == 0, "paced, not refused"


def test_cards_go_before_reminders_and_reminders_before_digests(paced, clock) -> None:
    for summary in ("First customer waited", "Second customer waited"):  # spends the channel's burst
        assert "Flagged as" in paced.slack.command(f"/recovery new {summary}", channel=CHANNEL).text
    paced.settle()
    assert len(paced.cards()) == 2
    with paced.runtime.db.transaction() as session:
        first = session.exec(select(Incident).where(Incident.number == 1)).one()
        outbox_store.enqueue(session, workspace_id=first.workspace_id, kind="post", now=clock.now(), channel=CHANNEL,
                             payload={"text": "Daily digest"})
        outbox_store.enqueue(session, workspace_id=first.workspace_id, kind="reply", now=clock.now(),
                             channel=CHANNEL, incident_id=first.id, payload={"text": "Reminder: claim #1"})
    assert "Flagged as" in paced.slack.command("/recovery new Third customer waited", channel=CHANNEL).text

    paced.settle()
    for _ in range(3):
        clock.advance(timedelta(seconds=1))
        paced.settle()

    posted = [str(call.params.get("text")) for call in paced.fake.calls("chat.postMessage")]
    assert posted[2:] == ["Recovery #3: Third customer waited", "Reminder: claim #1", "Daily digest"]


def test_updates_of_one_card_held_back_by_a_429_become_one_update_of_its_latest_state(paced, clock) -> None:
    assert "Flagged as" in paced.slack.command("/recovery new Parcel lost twice", channel=CHANNEL).text
    paced.settle()
    paced.fake.fail_next("chat.update", status=429, retry_after=20)
    paced.slack.command("/recovery claim 1", user="U1", channel=CHANNEL)
    paced.settle()
    paced.slack.command("/recovery assign 1 <@U2>", user="U1", channel=CHANNEL)
    paced.settle()
    assert len(paced.fake.attempts("chat.update")) == 1, "Retry-After holds every update back, not just its row"

    clock.advance(timedelta(seconds=20))
    paced.settle()

    card_ts = paced.card(1).ts
    card_updates = [call for call in paced.fake.attempts("chat.update") if call.params.get("ts") == card_ts]
    # The hand-over also redraws the live prompt (its own message), once.
    assert len(card_updates) == 2 and len(paced.fake.calls("chat.update")) == 2
    assert "<@U2>" in paced.card(1).plain(), "the one update shows the latest owner"
