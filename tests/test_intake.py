"""Flagging a complaint: reaction, shortcut, command, and the card that follows."""
from __future__ import annotations

from sqlmodel import select

from storage.models import Incident
from tests.helpers import mrkdwn_texts


def _incidents(bot) -> list[Incident]:  # noqa: ANN001
    with bot.runtime.db.transaction() as session:
        return list(session.exec(select(Incident)).all())


def test_reaction_opens_incident_and_posts_card_with_excerpt_and_link(bot):
    complaint = bot.fake.add_user_message("C1", user="UCUST", text="My order arrived broken & late <!channel>")
    answer = bot.slack.react(channel="C1", ts=complaint.ts, user="U1")
    assert answer.status == 200
    assert len(_incidents(bot)) == 1, "the incident is stored before Slack gets its 200"
    bot.settle()
    card = bot.card(1)
    assert card.channel == "C1"
    shown = card.plain()
    assert "My order arrived broken" in shown
    assert all("<!channel>" not in text for text in mrkdwn_texts(card)), "user text must not ping the channel"
    assert "&lt;!channel&gt;" in card.text
    assert "unclaimed" in shown and "[Claim]" in shown and "[Assign]" in shown
    assert "https://fake.slack.test/archives/C1/p" in str(card.blocks)


def test_second_flag_of_a_message_makes_no_second_incident(bot):
    complaint = bot.fake.add_user_message("C1", user="UCUST", text="Charged twice")
    assert bot.slack.react(channel="C1", ts=complaint.ts, user="U1", event_id="Ev1").status == 200
    assert bot.slack.react(channel="C1", ts=complaint.ts, user="U1", event_id="Ev1", retry=1).status == 200
    assert bot.slack.react(channel="C1", ts=complaint.ts, user="U2", event_id="Ev2").status == 200
    bot.settle()
    assert len(_incidents(bot)) == 1
    assert len(bot.cards()) == 1


def test_other_reactions_are_ignored(bot):
    complaint = bot.fake.add_user_message("C1", user="UCUST", text="Nice work")
    assert bot.slack.react(channel="C1", ts=complaint.ts, reaction="tada").status == 200
    bot.settle()
    assert _incidents(bot) == []
    assert bot.cards() == []


def test_cards_go_to_the_recovery_channel_when_set(make_bot, settings):
    from dataclasses import replace
    bot = make_bot(replace(settings, recovery_channel="CREC"))
    complaint = bot.fake.add_user_message("C1", user="UCUST", text="Rude agent on the phone")
    bot.slack.react(channel="C1", ts=complaint.ts)
    bot.settle()
    assert bot.card(1).channel == "CREC"


def test_incidents_are_numbered_per_workspace_in_order(bot):
    for n in range(3):
        message = bot.fake.add_user_message("C1", user="UCUST", text=f"Complaint {n}")
        bot.slack.react(channel="C1", ts=message.ts)
    bot.settle()
    assert sorted(incident.number for incident in _incidents(bot)) == [1, 2, 3]
    assert [card.text.split(":")[0] for card in bot.cards()] == ["Recovery #1", "Recovery #2", "Recovery #3"]


def test_shortcut_opens_modal_and_submission_opens_incident_with_details(bot):
    complaint = bot.fake.add_user_message("C1", user="UCUST", text="Wrong size delivered")
    answer = bot.slack.shortcut(callback_id="recovery.flag_message", channel="C1", message=complaint)
    assert answer.status == 200
    assert bot.fake.wait_for(lambda: len(bot.fake.views()) == 1)
    view = bot.fake.views()[0]
    assert view["title"]["text"] == "Flag as complaint"
    answer = bot.slack.submit(view, {"summary": "Wrong size, customer upset", "customer_name": "Dana <script>",
                                     "contact_channel": "email", "severity": "high", "category": "delivery"})
    assert answer.status == 200 and answer.body == ""
    bot.settle()
    shown = bot.card(1).plain()
    assert "Wrong size, customer upset" in shown
    assert "Dana &lt;script&gt; via email" in shown
    assert "Recovery #1 · HIGH: Wrong size, customer upset" in shown, "the severity as a word in the header"
    incident = _incidents(bot)[0]
    assert (incident.origin_channel, incident.origin_ts) == ("C1", complaint.ts)
    assert incident.excerpt == "Wrong size delivered"


def test_command_with_summary_flags_by_hand(bot):
    answer = bot.slack.command("/recovery new Customer waited 3 weeks for a refund", channel="C7")
    assert answer.status == 200
    assert "Flagged as #1" in answer.text
    bot.settle()
    card = bot.card(1)
    assert card.channel == "C7"
    assert "Customer waited 3 weeks for a refund" in card.plain()


def test_command_without_summary_opens_a_modal_that_requires_one(bot):
    answer = bot.slack.command("/recovery new", channel="C7")
    assert answer.status == 200
    assert bot.fake.wait_for(lambda: len(bot.fake.views()) == 1)
    view = bot.fake.views()[0]
    refused = bot.slack.submit(view, {})
    assert refused.json()["response_action"] == "errors"
    assert "summary" in refused.json()["errors"]
    assert _incidents(bot) == []
    accepted = bot.slack.submit(view, {"summary": "Billing error on invoice 889"})
    assert accepted.status == 200
    bot.settle()
    assert "Billing error on invoice 889" in bot.card(1).plain()


def test_flags_at_once_get_every_number_once_in_order_even_when_messages_are_flagged_twice(bot):
    """Sixteen flags in flight together, four of them a second flag of a message flagged at the
    same moment: twelve incidents numbered 1 to 12 (a second flag draws no number), each once."""
    from concurrent.futures import ThreadPoolExecutor

    messages = [bot.fake.add_user_message("C1", user="UCUST", text=f"Complaint {n}") for n in range(12)]
    flags = [(message.ts, f"U{n}") for n, message in enumerate(messages)] + [(m.ts, "UAGAIN") for m in messages[:4]]
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda flag: bot.slack.react(channel="C1", ts=flag[0], user=flag[1]), flags))
    assert [answer.status for answer in answers] == [200] * 16
    incidents = _incidents(bot)
    assert sorted(incident.number for incident in incidents) == list(range(1, 13))
    assert sorted(incident.origin_ts for incident in incidents) == sorted(message.ts for message in messages)
    bot.settle()
    assert sorted(int(card.text.split("#")[1].split(":")[0]) for card in bot.cards()) == list(range(1, 13))
