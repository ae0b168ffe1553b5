"""Receipts: the flagged message shows where its incident stands (👀 open, ✅ closed, 👀 taken
back on cancel), and a flag made through a form is answered privately with the incident's
number and a link to its card. Receipts are best effort: Slack refusing one holds nothing back."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlmodel import col, select

from bot.devkit.slack_double import Message
from storage.models import Incident, OutboxMessage
from tests.conftest import LEAD, ServedBot

BOT = "UBOT"
OWNER = "U2"
EYES = {"eyes": [BOT]}


def _complaint(bot: ServedBot, channel: str = "C1", text: str = "Parcel arrived crushed") -> Message:
    return bot.fake.add_user_message(channel, user="UCUST", text=text)


def _flag_by_reaction(bot: ServedBot, channel: str = "C1") -> Message:
    complaint = _complaint(bot, channel)
    assert bot.slack.react(channel=channel, ts=complaint.ts).status == 200
    bot.settle()
    return complaint


def _flag_by_shortcut(bot: ServedBot, complaint: Message, *, user: str = "U1") -> None:
    before = len(bot.fake.views())
    assert bot.slack.shortcut(callback_id="recovery.flag_message", channel=complaint.channel, message=complaint,
                              user=user).status == 200
    assert bot.fake.wait_for(lambda: len(bot.fake.views()) > before)
    answer = bot.slack.submit(bot.fake.views()[-1], {"summary": "Crushed parcel"}, user=user)
    assert answer.status == 200 and answer.body == "", "the form closes at once"
    bot.settle()


def _card_link(bot: ServedBot, number: int = 1) -> str:
    card = bot.card(number)
    return f"https://fake.slack.test/archives/{card.channel}/p{card.ts.replace('.', '')}"


def _prompt(bot: ServedBot) -> Message:
    return [m for m in bot.thread(bot.card(1)) if any(b.get("type") == "actions" for b in m.blocks)][-1]


def _submit_form(bot: ServedBot, label: str, values: dict[str, object]) -> None:
    before = len(bot.fake.views())
    assert bot.slack.click(_prompt(bot), label, user=OWNER).status == 200
    assert bot.fake.wait_for(lambda: len(bot.fake.views()) > before)
    assert bot.slack.submit(bot.fake.views()[-1], values, user=OWNER).body == ""
    bot.settle()


def _recover_to_close(bot: ServedBot) -> None:
    """Claim and walk every step of #1 until it closes."""
    bot.slack.click(bot.card(1), "Claim", user=OWNER)
    bot.settle()
    for _ in ("acknowledge", "apologize"):
        bot.slack.click(_prompt(bot), "Done", user=OWNER)
        bot.settle()
    _submit_form(bot, "Done", {"root_cause": "delivery", "fix_note": "Reshipped"})
    _submit_form(bot, "Done", {"remedy_kind": "discount", "amount": "20"})
    bot.slack.click(_prompt(bot), "Agreed", user=OWNER)
    bot.settle()
    bot.clock.advance(timedelta(days=3, minutes=1))
    assert bot.runtime.ticker.tick().follow_ups == 1
    bot.settle()
    _submit_form(bot, "Record follow-up", {"csat": "9", "buy_again": "yes"})
    assert "*Closed*" in bot.card(1).plain()


# The reactions ---------------------------------------------------------------------------


def test_a_flag_by_reaction_puts_eyes_on_the_flagged_message(bot):
    complaint = _flag_by_reaction(bot)
    assert bot.fake.reactions("C1", complaint.ts) == EYES
    assert bot.fake.reactions(bot.card(1).channel, bot.card(1).ts) == {}, "the receipt is on the message, not the card"


def test_closing_adds_a_check_mark_beside_the_eyes(bot):
    complaint = _flag_by_reaction(bot)
    _recover_to_close(bot)
    assert bot.fake.reactions("C1", complaint.ts) == {"eyes": [BOT], "white_check_mark": [BOT]}
    assert len(bot.fake.calls("reactions.add")) == 2


def test_cancelling_takes_the_eyes_back(bot):
    complaint = _flag_by_reaction(bot)
    assert bot.slack.command("/recovery cancel 1 duplicate of #0", user=LEAD).text == "#1 is cancelled."
    bot.settle()
    assert bot.fake.reactions("C1", complaint.ts) == {}
    assert [call.params["name"] for call in bot.fake.calls("reactions.remove")] == ["eyes"]


def test_a_cancel_waits_for_the_eyes_it_takes_back(bot):
    """Slack held the 👀 back (429); the cancel's removal must not overtake it, or the eyes
    would land afterwards and stay on a cancelled incident's message."""
    bot.fake.fail_next("reactions.add", status=429, retry_after=30)
    complaint = _flag_by_reaction(bot)
    assert bot.card(1).channel == "C1", "the card did not wait for the receipt"
    bot.slack.command("/recovery cancel 1 not a complaint", user=LEAD)
    bot.settle()
    assert bot.fake.calls("reactions.remove") == []
    assert "cancelled" in bot.card(1).plain()
    bot.clock.advance(timedelta(seconds=30))
    bot.settle()
    assert [call.method for call in bot.fake.calls() if call.method.startswith("reactions.")] == [
        "reactions.add", "reactions.remove"]
    assert bot.fake.reactions("C1", complaint.ts) == {}


def test_eyes_already_there_count_as_done(bot):
    complaint = _complaint(bot)
    bot.fake.fail_next("reactions.add", status=200, error="already_reacted")
    bot.slack.react(channel="C1", ts=complaint.ts)
    bot.settle()
    assert _receipt_rows(bot) == [("reaction_add", "sent", None)]


def test_a_refused_receipt_holds_back_neither_the_card_nor_its_thread(bot):
    bot.fake.fail_next("reactions.add", status=200, error="message_not_found")
    complaint = _flag_by_reaction(bot)
    assert bot.fake.reactions("C1", complaint.ts) == {}
    bot.slack.click(bot.card(1), "Claim", user=OWNER)
    bot.settle()
    assert "Acknowledge and take ownership" in _prompt(bot).plain()
    assert _receipt_rows(bot) == [("reaction_add", "sent", "receipt not shown: message_not_found")]
    assert bot.fake.calls("reactions.add") == [], "tried once, not again"


def test_a_flag_by_command_has_no_message_and_gets_no_receipt(bot):
    assert bot.slack.command("/recovery new Refund never arrived", channel="C7").text.startswith("Flagged as #1.")
    bot.settle()
    bot.slack.command("/recovery cancel 1 sorted by phone", channel="C7", user=LEAD)
    bot.settle()
    assert [call.method for call in bot.fake.calls() if call.method.startswith("reactions.")] == []
    assert _receipt_rows(bot) == []


@pytest.mark.parametrize("recovery_channel", [None, "CREC"], ids=["card-held-back", "card-in-recovery-channel"])
def test_a_message_in_a_channel_shared_with_a_customer_still_gets_its_receipt(make_bot, settings, fake_slack,
                                                                              recovery_channel):
    fake_slack.strict(channels=True)
    fake_slack.add_channel("CEXT", members=[BOT, "U1", "UCUST"], is_ext_shared=True)
    fake_slack.add_channel("CREC", members=[BOT, "U1", OWNER])
    bot = make_bot(replace(settings, recovery_channel=recovery_channel))
    complaint = _flag_by_reaction(bot, channel="CEXT")
    assert bot.fake.reactions("CEXT", complaint.ts) == EYES
    assert [m.ts for m in bot.fake.messages("CEXT")] == [complaint.ts], "nothing but the receipt in CEXT"
    assert [card.channel for card in bot.cards()] == ([] if recovery_channel is None else ["CREC"])


# The flagger's answer ----------------------------------------------------------------------


def test_a_shortcut_flag_is_answered_privately_with_the_number_and_a_link_to_the_card(bot):
    complaint = _complaint(bot)
    _flag_by_shortcut(bot, complaint)
    told = bot.fake.ephemerals("U1")
    assert [(m.channel, m.text) for m in told] == [("C1", f"Flagged as #1. <{_card_link(bot)}|Its card> is in <#C1>.")]
    assert bot.fake.ephemerals("UCUST") == []
    assert bot.fake.reactions("C1", complaint.ts) == EYES


def test_a_second_shortcut_flag_of_a_message_is_told_which_incident_it_is(bot):
    complaint = _complaint(bot)
    _flag_by_shortcut(bot, complaint)
    _flag_by_shortcut(bot, complaint, user="U3")
    assert len(bot.cards()) == 1
    assert [m.text for m in bot.fake.ephemerals("U3")] == [
        f"This message was already flagged as #1. <{_card_link(bot)}|Its card> is in <#C1>."]
    assert len(bot.fake.calls("reactions.add")) == 1


def test_the_recovery_new_form_is_answered_with_a_link_to_the_card(bot):
    assert bot.slack.command("/recovery new", channel="C7").status == 200
    assert bot.fake.wait_for(lambda: len(bot.fake.views()) == 1)
    assert bot.slack.submit(bot.fake.views()[0], {"summary": "Billing error on invoice 889"}).body == ""
    bot.settle()
    assert [(m.channel, m.text) for m in bot.fake.ephemerals("U1")] == [
        ("C7", f"Flagged as #1. <{_card_link(bot)}|Its card> is in <#C7>.")]
    assert bot.fake.calls("reactions.add") == []


def test_the_answer_links_the_card_in_the_recovery_channel(make_bot, settings):
    bot = make_bot(replace(settings, recovery_channel="CREC"))
    _flag_by_shortcut(bot, _complaint(bot))
    assert bot.card(1).channel == "CREC"
    assert [(m.channel, m.text) for m in bot.fake.ephemerals("U1")] == [
        ("C1", f"Flagged as #1. <{_card_link(bot)}|Its card> is in <#CREC>.")]


def test_a_flag_from_a_channel_the_bot_is_not_in_is_answered_by_dm(make_bot, settings, fake_slack):
    """Cards go to the recovery channel, so the bot need not be in the channel flagged from:
    it can neither react nor post an ephemeral there, and the answer comes as a DM."""
    fake_slack.strict(channels=True)
    fake_slack.add_channel("C1", members=["U1", "UCUST"])
    fake_slack.add_channel("CREC", members=[BOT, "U1", OWNER])
    bot = make_bot(replace(settings, recovery_channel="CREC"))
    complaint = _complaint(bot)
    _flag_by_shortcut(bot, complaint)
    assert bot.card(1).channel == "CREC"
    assert bot.fake.ephemerals("U1") == []
    assert [m.text for m in bot.fake.messages("DU1")] == [
        f"Flagged as #1. <{_card_link(bot)}|Its card> is in <#CREC>."]
    assert bot.fake.reactions("C1", complaint.ts) == {}
    assert ("reaction_add", "sent", "receipt not shown: not_in_channel") in _receipt_rows(bot)


def test_the_answer_points_at_the_timeline_when_slack_refused_the_card(bot):
    bot.fake.fail_next("chat.postMessage", status=200, error="invalid_blocks")
    _flag_by_shortcut(bot, _complaint(bot))
    assert bot.cards() == []
    assert [m.text for m in bot.fake.ephemerals("U1")] == ["Flagged as #1. `/recovery show 1` shows it."]


def test_a_flag_by_reaction_gets_no_answer_naming_the_card_only_the_offer_to_add_details(bot):
    _flag_by_reaction(bot)
    assert [m.text for m in bot.fake.ephemerals()] == [
        "Flagged as #1. Add the customer's name, contact channel and severity so the owner can reply right:"]


# Helpers -----------------------------------------------------------------------------------


def _receipt_rows(bot: ServedBot) -> list[tuple[str, str, str | None]]:
    with bot.runtime.db.read() as session:
        rows = session.exec(select(OutboxMessage).where(col(OutboxMessage.kind).startswith("reaction_"))
                            .order_by(col(OutboxMessage.id))).all()
        return [(row.kind, row.state, row.last_error) for row in rows]


def test_each_flags_rows_carry_its_own_incident_so_no_incident_waits_behind_another(bot):
    """A flag's rows are queued before its incident has an id (on PostgreSQL the flag's single
    statement writes them with it): each must still name its own incident, in its keys too,
    else one incident's messages would queue behind another's."""
    for channel in ("C1", "C2"):
        complaint = _complaint(bot, channel)
        assert bot.slack.react(channel=channel, ts=complaint.ts).status == 200
    bot.settle()
    with bot.runtime.db.read() as session:
        ids = dict(session.exec(select(Incident.number, Incident.id)).all())
        rows = session.exec(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    assert sorted(ids) == [1, 2] and len(set(ids.values())) == 2
    assert [(row.incident_id, row.kind, row.ordering_key, row.state) for row in rows] == [
        (ids[number], kind, f"{key}:{ids[number]}", "sent") for number in (1, 2)
        for kind, key in (("card", "incident"), ("reaction_add", "receipt"), ("ephemeral", "incident"))]
