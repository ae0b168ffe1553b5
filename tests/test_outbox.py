"""The outbox: every post and update leaves after commit, survives Slack failures and
restarts, keeps each thread in order, and never shows a message twice."""
from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import pytest
from slack_sdk import WebClient
from sqlmodel import col, select

from bot.devkit.slack_double import Call, Message
from bot.service import Locator
from bot.views.card import render_card
from bot.views.ids import OUTBOX_EVENT_TYPE
from storage import channel_store, outbox_store
from storage.models import Incident, OutboxMessage, StepRecord
from tests.conftest import LEAD


# Helpers -------------------------------------------------------------------------------


def _flag_by_reaction(bot, text: str = "Package never arrived") -> Message:  # noqa: ANN001
    complaint = bot.fake.add_user_message("C1", user="UCUST", text=text)
    assert bot.slack.react(channel="C1", ts=complaint.ts).status == 200
    return complaint


def _flag_by_command(bot, summary: str = "Customer waited 3 weeks for a refund") -> None:  # noqa: ANN001
    """A flag with no enrichment to do: the card is the first and only Slack call owed."""
    assert "Flagged as" in bot.slack.command(f"/recovery new {summary}", channel="C7").text


def _rows(bot, kind: str | None = None) -> list[OutboxMessage]:  # noqa: ANN001
    with bot.runtime.db.transaction() as session:
        query = select(OutboxMessage).order_by(col(OutboxMessage.id))
        if kind is not None:
            query = query.where(OutboxMessage.kind == kind)
        return list(session.exec(query).all())


def _incident(bot, number: int = 1) -> Incident:  # noqa: ANN001
    with bot.runtime.db.transaction() as session:
        return session.exec(select(Incident).where(Incident.number == number)).one()


def _posts(bot, *, accepted: bool = False, threaded: bool | None = None) -> list[Call]:  # noqa: ANN001
    """chat.postMessage requests (all tries, or only those Slack accepted)."""
    found = bot.fake.calls("chat.postMessage") if accepted else bot.fake.attempts("chat.postMessage")
    if threaded is None:
        return found
    return [call for call in found if bool(call.params.get("thread_ts")) == threaded]


def _card_posts(bot, *, accepted: bool = False) -> list[Call]:  # noqa: ANN001
    return [call for call in _posts(bot, accepted=accepted, threaded=False)
            if str(call.params.get("text", "")).startswith("Recovery #")]


def _lookups(bot, calls: list[Call]) -> list[Call]:  # noqa: ANN001
    """History/replies reads that search for an outbox id (not the excerpt fetch)."""
    return [call for call in calls if call.method in ("conversations.history", "conversations.replies")
            and str(call.params.get("include_all_metadata")).lower() in ("1", "true")]


def _between(bot, first: Call, second: Call) -> list[Call]:  # noqa: ANN001
    attempts = bot.fake.attempts()
    return attempts[attempts.index(first) + 1:attempts.index(second)]


def _slack_accepts_as_if_sent_by_the_bot(bot, row: OutboxMessage, *, text: str, channel: str,  # noqa: ANN001
                                         blocks: list | None = None, thread_ts: str | None = None) -> str:
    """What an earlier, now dead, sender got Slack to store before it could record it."""
    client = WebClient(base_url=bot.fake.api_url, token="xoxb-test")
    response = client.chat_postMessage(
        channel=channel, text=text, blocks=blocks, thread_ts=thread_ts,
        metadata={"event_type": OUTBOX_EVENT_TYPE, "event_payload": {"outbox_id": row.id}})
    return response["ts"]


def _lease(bot, row: OutboxMessage) -> outbox_store.Leased:  # noqa: ANN001
    with bot.runtime.db.transaction() as session:
        leased = outbox_store.lease_many(session, [row.id], now=bot.clock.now(), lease_for=timedelta(seconds=60))
    assert len(leased) == 1
    return leased[0]


def _render_card(bot, number: int = 1) -> tuple[str, list[dict]]:  # noqa: ANN001
    state = bot.runtime.service.incident(Locator(_incident(bot, number).workspace_id, number=number))
    return render_card(state, playbook=bot.runtime.service.playbook, policy=bot.runtime.service.policy,
                       now=bot.clock.now(), escalated=False)


def _payload_text(row: OutboxMessage) -> str:
    """What the row says; a step prompt is drawn when sent, so any words stand in for it."""
    return json.loads(row.payload).get("text", "Next step")


# 1. Rate limits ------------------------------------------------------------------------


def test_rate_limited_card_waits_for_retry_after_then_is_posted_once(bot):
    bot.fake.fail_next("chat.postMessage", status=429, retry_after=30)
    _flag_by_reaction(bot)
    bot.settle()
    assert bot.cards() == [], "Slack said 429: no card yet"
    assert len(_card_posts(bot)) == 1
    assert _rows(bot, "card")[0].state == "pending", "the card is kept for later, not dropped"

    bot.clock.advance(timedelta(seconds=29))
    bot.settle()
    assert len(_card_posts(bot)) == 1, "not retried before Retry-After (30 s) has passed"

    bot.clock.advance(timedelta(seconds=2))
    bot.settle()
    assert len(bot.cards()) == 1
    assert len(_card_posts(bot, accepted=True)) == 1
    assert len(_card_posts(bot)) == 2
    assert _incident(bot).card_ts == bot.card(1).ts


def _enrichment_reads(bot) -> list[Call]:  # noqa: ANN001
    """The excerpt and permalink fetches (not the lookups of an uncertain post)."""
    reads = bot.fake.attempts("conversations.history") + bot.fake.attempts("chat.getPermalink")
    return [call for call in reads if call not in _lookups(bot, reads)]


@pytest.mark.parametrize(("method", "status", "error"), [
    ("conversations.history", 429, None),
    ("chat.getPermalink", 429, None),
    ("conversations.history", 200, "not_in_channel"),
    ("chat.getPermalink", 200, "not_in_channel"),
], ids=["text-429", "link-429", "text-not_in_channel", "link-not_in_channel"])
def test_a_flag_whose_details_slack_will_not_give_still_gets_its_card_at_once_and_once(bot, method, status,
                                                                                       error):
    bot.fake.fail_next(method, status=status, retry_after=30 if status == 429 else None, error=error)
    _flag_by_reaction(bot, "Package never arrived")
    assert [row.kind for row in _rows(bot)] == ["card", "reaction_add", "ephemeral"], \
        "one card row (no enrichment row), one receipt, the flagger's offer to add details"
    bot.settle()
    card = bot.card(1)
    assert len(_card_posts(bot)) == 1
    text_missing = method == "conversations.history"
    assert ("Package never arrived" in card.plain()) != text_missing, "the detail Slack gave is on the card"
    assert ("https://fake.slack.test/archives/C1/p" in str(card.blocks)) == text_missing
    row = _rows(bot, "card")[0]
    assert row.state == "sent" and ("text: " if text_missing else "permalink: ") in (row.last_error or "")

    bot.clock.advance(timedelta(minutes=5))
    if status == 429:
        bot.settle()
        card = bot.card(1)
        assert "Package never arrived" in card.plain(), "a detail Slack only delayed is filled in later"
        assert "https://fake.slack.test/archives/C1/p" in str(card.blocks)
        assert len(_card_posts(bot)) == 1 and len(_enrichment_reads(bot)) == 3
        return
    assert bot.settle() == 0, "nothing left to do: the card is not held for a detail Slack refuses"
    assert len(_card_posts(bot)) == 1 and len(_enrichment_reads(bot)) == 2


def test_an_uncertain_card_post_is_looked_up_not_enriched_or_posted_again(bot):
    bot.fake.fail_next("chat.postMessage", status=503)
    _flag_by_reaction(bot, "Charged twice for one order")
    bot.settle()
    row = _rows(bot, "card")[0]
    assert row.uncertain and bot.cards() == []
    stored = _incident(bot)
    assert stored.excerpt == "Charged twice for one order" and stored.permalink, \
        "what was fetched is kept with the retry"
    text, blocks = _render_card(bot)
    assert "Charged twice for one order" in text
    ts = _slack_accepts_as_if_sent_by_the_bot(bot, row, text=text, blocks=blocks, channel="C1")

    bot.clock.advance(timedelta(seconds=1))
    bot.settle()
    assert len(bot.cards()) == 1 and _incident(bot).card_ts == ts, "found in Slack, not posted again"
    assert len(_card_posts(bot)) == 2, "only the failed try and our simulated one"
    assert len(_lookups(bot, bot.fake.attempts())) == 1
    assert len(_enrichment_reads(bot)) == 2, "the text and link were fetched once, not again on the retry"


# 2. Server errors and dropped connections ---------------------------------------------


def test_card_failing_with_500_is_looked_up_in_slack_before_it_is_sent_again(bot):
    bot.fake.fail_next("chat.postMessage", status=500)
    _flag_by_command(bot)
    bot.settle()
    assert bot.cards() == []
    bot.settle()
    assert len(_card_posts(bot)) == 1, "backoff: not retried at once"

    bot.clock.advance(timedelta(seconds=1))
    bot.settle()
    first, second = _card_posts(bot)
    assert _lookups(bot, _between(bot, first, second)), "the 2nd try first looks for the 1st in the channel"
    assert len(bot.cards()) == 1
    assert len(_card_posts(bot, accepted=True)) == 1


def test_card_survives_a_dropped_connection_a_500_and_a_503_with_growing_backoff(bot):
    with bot.runtime.db.transaction() as session:  # C7 known internal: the first connection is the card's post
        channel_store.remember(session, workspace_id="T1", channel="C7", shared=False, now=bot.clock.now())
    bot.fake.drop_connections(1)
    bot.fake.fail_next("chat.postMessage", status=500)
    bot.fake.fail_next("chat.postMessage", status=503)
    _flag_by_command(bot)
    bot.settle()
    assert len(_card_posts(bot)) == 1

    for wait in (1, 2, 4):
        bot.clock.advance(timedelta(seconds=wait - 0.1))
        bot.settle()
        tries = len(_card_posts(bot))
        assert bot.cards() == [], f"retried before the {wait} s backoff ran out"
        bot.clock.advance(timedelta(seconds=0.1))
        bot.settle()
        assert len(_card_posts(bot)) == tries + 1, f"retried once the {wait} s backoff ran out"

    posts = _card_posts(bot)
    assert len(posts) == 4
    for earlier, later in zip(posts, posts[1:]):
        assert _lookups(bot, _between(bot, earlier, later)), "every resend is preceded by a lookup"
    assert len(bot.cards()) == 1
    assert _rows(bot, "card")[0].state == "sent"


def test_card_that_slack_stored_despite_answering_503_is_not_posted_again(bot):
    bot.fake.fail_next("chat.postMessage", status=503)
    _flag_by_command(bot)
    bot.settle()
    row = _rows(bot, "card")[0]
    assert row.uncertain, "a 5xx on a post leaves its outcome unknown"
    text, blocks = _render_card(bot)
    ts = _slack_accepts_as_if_sent_by_the_bot(bot, row, text=text, blocks=blocks, channel="C7")

    bot.clock.advance(timedelta(seconds=1))
    bot.settle()
    assert len(bot.cards()) == 1, "the card Slack kept is not posted a second time"
    assert len(_card_posts(bot)) == 2, "only the failed try and our simulated one"
    assert _incident(bot).card_ts == ts


# 3. Outcome unknown: the sender died mid-call -----------------------------------------


def test_card_accepted_by_slack_before_a_crash_is_not_posted_twice(bot):
    _flag_by_command(bot)
    row = _rows(bot, "card")[0]
    _lease(bot, row)
    text, blocks = _render_card(bot)
    ts = _slack_accepts_as_if_sent_by_the_bot(bot, row, text=text, blocks=blocks, channel="C7")

    bot.settle()
    assert len(_card_posts(bot)) == 1, "the dead sender's lease is still live"
    bot.clock.advance(timedelta(seconds=61))
    bot.settle()
    assert len(_card_posts(bot)) == 1, "found in the channel, not posted again"
    assert len(bot.cards()) == 1
    assert _incident(bot).card_ts == ts
    assert _rows(bot, "card")[0].state == "sent" and _rows(bot, "card")[0].result_ts == ts

    bot.slack.command("/recovery claim 1", user="U2")
    bot.settle()
    card = bot.card(1)
    assert card.ts == ts and "<@U2>" in card.plain(), "later updates go to the card Slack has"
    assert len(bot.thread(card)) == 1, "the step prompt is in that card's thread"


def test_a_kept_connection_slack_closed_while_idle_costs_the_next_card_nothing(bot):
    """Calls reuse an open connection; Slack closes idle ones. The next card must go at once
    on a new connection, not fail on the closed one and wait for a retry."""
    _flag_by_reaction(bot, "First complaint")
    bot.settle()
    bot.fake.close_idle_connections()
    _flag_by_reaction(bot, "Second complaint")
    bot.settle()
    assert len(bot.cards()) == 2
    assert len(_card_posts(bot)) == 2, "no card post was tried twice"
    assert _lookups(bot, bot.fake.attempts()) == [], "nothing was left uncertain"


def test_card_lost_in_a_crash_before_reaching_slack_is_posted_once_after_the_lease(bot):
    _flag_by_command(bot)
    _lease(bot, _rows(bot, "card")[0])

    bot.clock.advance(timedelta(seconds=30))
    bot.settle()
    assert bot.cards() == [], "the lease is still live"
    bot.clock.advance(timedelta(seconds=31))
    bot.settle()
    assert len(bot.cards()) == 1
    assert len(_card_posts(bot)) == 1
    methods = [call.method for call in bot.fake.attempts()]
    assert "conversations.history" in methods[:methods.index("chat.postMessage")], "it looked in the channel first"
    assert _incident(bot).card_ts == bot.card(1).ts


def test_step_prompt_accepted_before_a_crash_is_not_posted_twice_in_the_thread(bot):
    _flag_by_command(bot)
    bot.settle()
    bot.slack.command("/recovery claim 1", user="U2")
    step_row = _rows(bot, "step")[0]
    _lease(bot, step_row)
    card = bot.card(1)
    ts = _slack_accepts_as_if_sent_by_the_bot(bot, step_row, text=_payload_text(step_row),
                                              channel=card.channel, thread_ts=card.ts)

    bot.clock.advance(timedelta(seconds=61))
    bot.settle()
    assert [message.ts for message in bot.thread(bot.card(1))] == [ts]
    assert any(call.method == "conversations.replies" for call in _lookups(bot, bot.fake.attempts()))
    with bot.runtime.db.transaction() as session:
        recorded = session.exec(select(StepRecord.message_ts).where(StepRecord.seq == step_row.step_seq)).one()
    assert recorded == ts, "the step's message is the one Slack has"


# 4. Ordering ---------------------------------------------------------------------------


def test_step_prompt_waits_for_its_card_and_thread_keeps_its_order(bot):
    bot.fake.fail_next("chat.postMessage", status=500, count=2)
    _flag_by_command(bot)
    bot.slack.command("/recovery claim 1", user="U2")
    bot.settle()
    bot.clock.advance(timedelta(seconds=1))
    bot.settle()
    assert bot.cards() == []
    assert _posts(bot, threaded=True) == [], "no thread reply before its card exists"
    assert bot.fake.attempts("chat.update") == []

    bot.clock.advance(timedelta(seconds=2))
    bot.settle()
    card = bot.card(1)
    assert "<@U2>" in card.plain()
    bot.slack.command("/recovery assign 1 <@U3>", user="U2")
    bot.slack.command("/recovery assign 1 <@U4>", user="U3")
    bot.settle()

    thread = [message.plain() for message in bot.thread(bot.card(1))]
    assert len(thread) == 3
    assert "Acknowledge" in thread[0]
    assert "<@U3> now owns #1" in thread[1]
    assert "<@U4> now owns #1" in thread[2]
    posts = _posts(bot, accepted=True)
    assert not posts[0].params.get("thread_ts"), "the card went first"
    assert all(post.params.get("thread_ts") == card.ts for post in posts[1:])


def test_a_failing_thread_reply_holds_back_the_next_one(bot):
    _flag_by_command(bot)
    bot.slack.command("/recovery claim 1", user="U2")
    bot.settle()
    bot.fake.fail_next("chat.postMessage", status=503)
    bot.slack.command("/recovery assign 1 <@U3>", user="U2")
    bot.slack.command("/recovery assign 1 <@U4>", user=LEAD)
    bot.settle()
    assert len(bot.thread(bot.card(1))) == 1, "only the step prompt: the U3 notice failed, U4 waits"

    bot.clock.advance(timedelta(seconds=1))
    bot.settle()
    thread = [message.plain() for message in bot.thread(bot.card(1))]
    assert len(thread) == 3
    assert "<@U3> now owns" in thread[1] and "<@U4> now owns" in thread[2]


# 5. Restart ----------------------------------------------------------------------------


def test_work_queued_before_a_restart_is_delivered_once_by_the_next_process(bot, make_bot, settings):
    _flag_by_reaction(bot, "Charged twice for one order")
    bot.slack.command("/recovery claim 1", user="U2")
    bot.runtime.stop()
    assert bot.fake.attempts("chat.postMessage") == []

    replacement = make_bot(settings)
    replacement.settle()
    card = replacement.card(1)
    assert "<@U2>" in card.plain()
    assert "Charged twice for one order" in card.plain(), "the excerpt fetch survived the restart too"
    assert len(replacement.thread(card)) == 1
    assert len(_posts(replacement, accepted=True)) == 2
    assert replacement.settle() == 0
    assert all(row.state == "sent" for row in _rows(replacement))


# 6. Two replicas -----------------------------------------------------------------------


def test_two_replicas_draining_one_backlog_post_each_card_once(bot, make_bot, settings):
    for n in range(30):
        _flag_by_reaction(bot, f"Complaint {n}")
    other = make_bot(settings)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def drain(replica) -> None:  # noqa: ANN001
        barrier.wait()
        try:
            replica.settle()
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=drain, args=(replica,)) for replica in (bot, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    numbers = sorted(int(card.text.split(":")[0].removeprefix("Recovery #")) for card in bot.cards())
    assert numbers == list(range(1, 31)), "every card exactly once"
    assert len(_posts(bot)) == 30, "no card was even tried twice"
    assert all(row.state == "sent" for row in _rows(bot))


def test_a_row_taken_over_while_its_first_sender_was_stuck_is_posted_once(bot, make_bot, settings):
    """Sender A leases a batch and is stuck on a Slack call past the lease; sender B takes the
    rows over. When A gets going again it must find the rows gone and leave them to B."""
    for n in range(8):
        _flag_by_reaction(bot, f"Complaint {n}")
    other = make_bot(settings)
    bot.fake.stall("chat.getPermalink", 10)
    stuck = threading.Thread(target=bot.settle)
    stuck.start()
    assert bot.fake.wait_for(lambda: len(bot.fake.attempts("chat.getPermalink")) == 1)
    bot.clock.advance(timedelta(seconds=20))
    taking_over = threading.Thread(target=other.settle)
    taking_over.start()
    assert bot.fake.wait_for(lambda: len(bot.fake.attempts("chat.getPermalink")) == 2), "B took over a row"
    bot.fake.unstall()
    stuck.join(timeout=30)
    taking_over.join(timeout=30)

    numbers = sorted(int(card.text.split(":")[0].removeprefix("Recovery #")) for card in bot.cards())
    assert numbers == list(range(1, 9)), "every card exactly once"
    assert len(_card_posts(bot)) == 8, "no card was even tried twice"
    assert all(row.state == "sent" for row in _rows(bot))


# 7. Permanent errors -------------------------------------------------------------------


def test_a_reply_slack_refuses_for_good_is_kept_as_dead_and_does_not_block_the_thread(bot):
    _flag_by_command(bot)
    bot.slack.command("/recovery claim 1", user="U2")
    bot.settle()
    bot.fake.fail_next("chat.postMessage", status=200, error="invalid_blocks")
    bot.slack.command("/recovery assign 1 <@U3>", user="U2")
    bot.slack.command("/recovery assign 1 <@U4>", user="U3")
    bot.settle()

    thread = [message.plain() for message in bot.thread(bot.card(1))]
    assert len(thread) == 2
    assert "<@U4> now owns" in thread[1], "the next reply still went out"
    refused = [row for row in _rows(bot, "reply") if "<@U3> now owns" in row.payload]
    assert len(refused) == 1
    assert refused[0].state == "dead" and refused[0].last_error == "invalid_blocks"
    assert "<@U4>" in bot.card(1).plain()


# 8. Background sender ------------------------------------------------------------------


def test_background_sender_posts_the_card_and_prompt_without_being_asked(bot):
    bot.runtime.start_background()
    _flag_by_reaction(bot)
    assert bot.fake.wait_for(lambda: len(bot.cards()) == 1)
    bot.slack.command("/recovery claim 1", user="U2")
    assert bot.fake.wait_for(lambda: len(bot.thread(bot.card(1))) == 1)
    assert bot.fake.wait_for(lambda: "<@U2>" in bot.card(1).plain())


# 9. Acks stay fast while Slack is slow -------------------------------------------------


def test_reaction_command_and_click_are_answered_fast_while_slack_is_stalled(bot):
    _flag_by_reaction(bot, "First complaint")
    bot.settle()
    card = bot.card(1)
    lookups_before = len(bot.fake.attempts("conversations.history"))
    bot.runtime.start_background()
    bot.fake.stall(None, 5)
    try:
        started = time.monotonic()
        complaint = bot.fake.add_user_message("C1", user="UCUST", text="Second complaint")
        answers = [
            bot.slack.react(channel="C1", ts=complaint.ts),
            bot.slack.command("/recovery claim 1", user="U2"),
            bot.slack.click(card, "Claim", user="U3"),
        ]
        assert bot.fake.wait_for(
            lambda: len(bot.fake.attempts("conversations.history")) > lookups_before, timeout=1), \
            "the sender is stuck in a stalled Slack call meanwhile"
        assert bot.fake.calls("chat.postMessage")[1:] == [], "Slack is still holding everything"
        for answer in answers:
            assert answer.status == 200
            assert answer.seconds < 1, f"an ack took {answer.seconds:.2f}s while Slack was stalled"
        assert "You now own #1" in answers[1].text
        assert time.monotonic() - started < 3
    finally:
        bot.fake.unstall()
    assert bot.fake.wait_for(lambda: len(bot.cards()) == 2 and len(bot.thread(bot.card(1))) == 1)
    assert bot.fake.wait_for(lambda: sorted(m.visible_to for m in bot.fake.ephemerals()) == ["U1", "U1", "U3"]), \
        "the flagger's two offers to add details, and U3's refusal"


def test_a_write_outside_a_transaction_refuses_a_second_statement(bot):
    """On PostgreSQL a flag and a simple decision are written outside a transaction
    (Database.single_statement), each statement committing on its own: a second statement
    there would break the write's all-or-nothing, so it is refused before it runs, and the
    connection goes back to the pool as any other."""
    db = bot.runtime.db
    if db.dialect != "postgresql":
        pytest.skip("on SQLite single_statement is an ordinary transaction")
    with pytest.raises(RuntimeError, match="second statement"), db.single_statement() as session:
        outbox_store.enqueue(session, workspace_id="T1", kind="dm", now=bot.clock.now(), channel="U1", user_id="U1",
                             payload={"text": "first"})
        session.connection().execute(select(Incident.id))  # the queued row goes first, then this
    assert [(row.kind, row.payload) for row in _rows(bot)] == [("dm", '{"text": "first"}')], \
        "the first statement committed by itself; the second never ran"
    for _ in range(3):  # the pool's connections: none still counts statements
        with db.transaction() as session:
            for _ in range(2):
                session.connection().execute(select(Incident.id))
