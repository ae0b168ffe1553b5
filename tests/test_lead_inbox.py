"""The lead's Slack (issue 13 items 2, 3 and 5): approval requests and escalations reach the
leads by DM or in LEAD_CHANNEL with something to press, every copy is redrawn once someone
acts, approvals are reminded and expire, nudges carry the step's buttons, and mentions
notify only who must act. Through signed requests into the real app and the Slack double."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from bot.devkit.slack_double import Message
from tests.conftest import LEAD, ServedBot
from tests.helpers import claim_first, dms, flag_by_command, tick

OWNER = "U2"
OTHER = "U3"


def _thread(bot: ServedBot) -> list[Message]:
    return bot.thread(bot.card(1))


def _prompt(bot: ServedBot) -> Message:
    return [m for m in _thread(bot) if any(b.get("block_id", "").startswith("step_") for b in m.blocks)][-1]


def _click(bot: ServedBot, message: Message, label: str, user: str = OWNER) -> None:
    assert bot.slack.click(message, label, user=user).status == 200
    bot.settle()


def _form(bot: ServedBot, fields: dict, user: str = OWNER) -> None:
    opened = len(bot.fake.views())
    bot.slack.click(_prompt(bot), "Done", user=user)
    assert bot.fake.wait_for(lambda: len(bot.fake.views()) > opened)
    assert bot.slack.submit(bot.fake.views()[-1], fields, user=user).body == ""
    bot.settle()


def _to_remedy(bot: ServedBot, *, customer: bool = True) -> None:
    """#1 (customer Ana Lopez, by email) claimed by OWNER, through the fix."""
    if customer:
        complaint = bot.fake.add_user_message("C1", user="UCUST", text="My parcel arrived crushed")
        assert bot.slack.shortcut(callback_id="recovery.flag_message", channel="C1", message=complaint).status == 200
        assert bot.fake.wait_for(lambda: len(bot.fake.views()) == 1)
        assert bot.slack.submit(bot.fake.views()[0], {"summary": "Parcel arrived crushed", "customer_name": "Ana Lopez",
                                                      "contact_channel": "email"}).body == ""
        bot.settle()
    else:
        flag_by_command(bot)
    claim_first(bot, OWNER)
    _click(bot, _prompt(bot), "Done")
    _click(bot, _prompt(bot), "Done")
    _form(bot, {"root_cause": "delivery", "fix_note": "Reshipped by courier"})


@pytest.fixture
def eur_bot(make_bot, settings) -> ServedBot:  # noqa: ANN001
    return make_bot(replace(settings, currency="EUR"))


def test_an_approval_request_reaches_the_lead_by_dm_with_everything_to_decide_and_is_approved_there(eur_bot):
    bot = eur_bot
    _to_remedy(bot)
    _form(bot, {"remedy_kind": "refund", "amount": "80", "remedy_note": "Second time this month"})

    waiting = [m for m in _thread(bot) if m.text.startswith("⏳")][-1]
    assert waiting.text == ("⏳ Waiting for a lead: refund € 80 on #1 is over the € 50 an agent may give alone. "
                            "The leads were asked by DM; their answer will show here.")
    assert "<@" not in waiting.text, "the owner pressed it: nobody is pinged in the thread"
    [asked] = dms(bot, LEAD)
    assert asked.text == ("💶 Approval needed on #1: <@U2> asks to give refund € 80, over the € 50 an agent may "
                          "give alone.")
    body = asked.plain()
    for line in ("*Customer:* Ana Lopez (via email)", "*Complaint:* Parcel arrived crushed",
                 "*Agent's note:* Second time this month", "*Root cause:* delivery (Reshipped by courier)"):
        assert line in body
    buttons = asked.blocks[-1]["elements"]
    assert [(b["text"]["text"], b.get("style")) for b in buttons] == [
        ("Approve", "primary"), ("Decline", None), ("Open card", None)]
    assert buttons[0]["accessibility_label"] == "Approve refund € 80 on incident #1"
    card = bot.card(1)
    assert buttons[2]["url"] == f"https://fake.slack.test/archives/{card.channel}/p{card.ts.replace('.', '')}"

    _click(bot, asked, "Approve", user=LEAD)
    [decided] = dms(bot, LEAD)
    assert decided.text.startswith("✅ Approved: refund € 80 on #1, by <@ULEAD> <!date^")
    assert "[Approve]" not in decided.plain() and "[Open card]" in decided.plain()
    assert "Customer buy-in" in _prompt(bot).plain(), "the incident moved on"
    ended = [m for m in _thread(bot) if "Go above and beyond*: Done" in m.text][-1]
    assert "Done by <@U2>, approved by <@ULEAD>" in ended.text and "refund € 80" in ended.text
    assert "Waiting for approval" not in bot.card(1).plain()


def test_with_lead_channel_the_request_goes_there_once_and_no_lead_is_dmed(make_bot, settings, fake_slack):
    fake_slack.add_channel("CLEADS", name="support-leads")
    bot = make_bot(replace(settings, lead_channel="CLEADS", lead_user_ids=frozenset({LEAD, "ULEE"})))
    _to_remedy(bot, customer=False)
    _form(bot, {"remedy_kind": "refund", "amount": "120"})
    assert [m.text.startswith("💶 Approval needed on #1") for m in bot.fake.messages("CLEADS")] == [True]
    assert dms(bot, LEAD) == [] and dms(bot, "ULEE") == []
    assert "The leads were asked in <#CLEADS>" in [m for m in _thread(bot) if m.text.startswith("⏳")][-1].text


def _requests(bot: ServedBot) -> list[Message]:
    """The lead's DM without the daily roll-ups the days passing bring (tests/test_rollup.py)."""
    return [m for m in dms(bot, LEAD) if not m.text.startswith("Leads' roll-up")]


def test_an_approval_nobody_decides_is_reminded_then_expires_and_the_owner_offers_again(bot):
    _to_remedy(bot, customer=False)
    _form(bot, {"remedy_kind": "refund", "amount": "120"})
    bot.clock.advance(timedelta(hours=24, seconds=1))
    assert tick(bot) == 1
    first, reminder = _requests(bot)
    assert reminder.text.startswith("💶 Reminder: still waiting. Approval needed on #1")
    assert "[Approve] [Decline]" in reminder.plain()

    bot.clock.advance(timedelta(hours=24))
    assert tick(bot) == 1
    expired = [m for m in _thread(bot) if m.text.startswith("⌛ <@U2>")]
    assert [m.text for m in expired] == [
        "⌛ <@U2>, no lead decided on refund $ 120 for #1 in time, so the request expired. Offer something within "
        "$ 50, or record it again to ask the leads again."]
    for copy in _requests(bot):
        assert copy.text.startswith("⌛ Nobody decided on refund $ 120 for #1; the request expired <!date^")
        assert "[Approve]" not in copy.plain()
    prompt = _prompt(bot)
    assert "Go above and beyond" in prompt.plain() and prompt.text.startswith("<@U2>, next step on #1"), \
        "the scheduler put it back before the owner: they are pinged"
    answer = bot.slack.click(first, "Approve", user=LEAD)
    assert answer.status == 200
    bot.settle()
    assert bot.fake.ephemerals(LEAD)[-1].text == "That step is already done."
    assert tick(bot) == 0, "expired once"


def test_an_escalation_reaches_the_lead_with_assign_and_snooze_and_assign_works_from_the_dm(bot):
    flag_by_command(bot)
    bot.clock.advance(timedelta(minutes=20, seconds=1))
    assert tick(bot) == 2
    [escalation] = dms(bot, LEAD)
    assert escalation.text == "🚨 #1 has no owner and is 10m late: nobody has claimed it."
    assert bot.card(1).blocks[1]["text"]["text"] == "*Escalated*"

    assert bot.slack.pick_user(escalation, "Assign to…", OTHER, user=LEAD).status == 200
    bot.settle()
    [settled] = dms(bot, LEAD)
    assert settled.text.startswith(f"✅ #1 is now owned by <@{OTHER}> (<@{LEAD}>, <!date^")
    assert "[Snooze 1 hour]" not in settled.plain()
    prompt = _prompt(bot)
    assert prompt.text == f"<@{OTHER}>, next step on #1: Acknowledge and take ownership", \
        "assigned by someone else: the new owner is pinged"
    assert bot.fake.ephemerals(LEAD)[-1].text == f"<@{OTHER}> now owns #1."


def test_snooze_one_hour_from_the_escalation_snoozes_the_incident(bot):
    flag_by_command(bot)
    claim_first(bot, OWNER)
    bot.clock.advance(timedelta(minutes=30, seconds=1))
    assert tick(bot) == 2
    [escalation] = dms(bot, LEAD)
    assert escalation.text == f"🚨 #1 is stuck at *Acknowledge and take ownership*, 15m late; the owner is <@{OWNER}>."
    _click(bot, escalation, "Snooze 1 hour", user=LEAD)
    assert dms(bot, LEAD)[0].text.startswith(f"💤 <@{LEAD}> snoozed #1 until <!date^")
    assert "Snoozed until" in bot.card(1).plain()


def test_a_stranger_cannot_snooze_from_a_forwarded_escalation(bot):
    flag_by_command(bot)
    claim_first(bot, OWNER)
    bot.clock.advance(timedelta(minutes=30, seconds=1))
    tick(bot)
    [escalation] = dms(bot, LEAD)
    _click(bot, escalation, "Snooze 1 hour", user="U9")
    assert bot.fake.ephemerals("U9")[-1].text == "Only the owner of #1 or a lead can snooze it."
    assert "Snoozed" not in bot.card(1).plain()


def test_need_help_goes_to_the_leads_with_the_same_buttons(bot):
    flag_by_command(bot)
    claim_first(bot, OWNER)
    prompt = _prompt(bot)
    need_help = next(e for e in prompt.blocks[-1]["elements"] if e.get("text", {}).get("text") == "Need help")
    assert "style" not in need_help, "asking for help is not a danger"
    assert need_help["accessibility_label"] == "Need help: Acknowledge and take ownership on incident #1"
    _click(bot, prompt, "Need help")
    [called] = dms(bot, LEAD)
    assert called.text == f"🆘 <@{OWNER}> asks for help with #1 at *Acknowledge and take ownership*."
    assert bot.slack.pick_user(called, "Assign to…", OTHER, user=LEAD).status == 200
    bot.settle()
    assert dms(bot, LEAD)[0].text.startswith(f"✅ #1 is now owned by <@{OTHER}>")


def test_a_nudge_carries_the_steps_buttons_and_done_on_it_completes_the_step(bot):
    flag_by_command(bot)
    claim_first(bot, OWNER)
    bot.clock.advance(timedelta(minutes=15, seconds=1))
    assert tick(bot) == 1
    nudge = [m for m in _thread(bot) if m.text.startswith("⏰")][-1]
    assert "[Done] [Skip] [Need help]" in nudge.plain()
    _click(bot, nudge, "Done")
    assert "Apologize" in _prompt(bot).plain()


def test_the_unclaimed_nudge_is_broadcast_to_the_channel_with_claim(bot):
    flag_by_command(bot)
    bot.clock.advance(timedelta(minutes=10, seconds=1))
    assert tick(bot) == 1
    broadcast = [m for m in bot.fake.messages("C1") if m.text.startswith("⏰")]
    assert len(broadcast) == 1 and broadcast[0].broadcast and broadcast[0].thread_ts == bot.card(1).ts
    assert "<!here>" in broadcast[0].text
    _click(bot, broadcast[0], "Claim", user=OTHER)
    assert "Owner" in bot.card(1).plain() and f"<@{OTHER}>" in bot.card(1).plain()


def test_the_owner_is_pinged_only_when_someone_else_moved_the_step(bot):
    flag_by_command(bot)
    claim_first(bot, OWNER)
    assert _prompt(bot).text == "Next step on #1: Acknowledge and take ownership", "they claimed it themselves"
    _click(bot, _prompt(bot), "Done")
    assert _prompt(bot).text == "Next step on #1: Apologize", "after their own click: no ping"
    _click(bot, _prompt(bot), "Done", user=LEAD)
    assert _prompt(bot).text == f"<@{OWNER}>, next step on #1: Understand and fix", "a lead moved it: ping"


def test_after_a_reassignment_the_live_prompt_names_the_new_owner_and_its_clock_restarts(bot):
    flag_by_command(bot)
    claim_first(bot, OWNER)
    bot.clock.advance(timedelta(minutes=16))
    assert tick(bot) == 1, "the first owner was nudged"
    prompt_ts = _prompt(bot).ts
    bot.slack.command(f"/recovery assign 1 <@{OTHER}>", user=LEAD)
    bot.settle()
    live = next(m for m in _thread(bot) if m.ts == prompt_ts)
    assert live.text == f"<@{OTHER}>, next step on #1: Acknowledge and take ownership"
    due = bot.clock.now() + timedelta(minutes=15)
    assert f"Due <!date^{int(due.timestamp())}^" in live.plain()
    bot.clock.advance(timedelta(minutes=14))
    assert tick(bot) == 0, "the new owner has the step's whole time"
    bot.clock.advance(timedelta(minutes=1, seconds=1))
    assert tick(bot) == 1
    assert [m for m in _thread(bot) if m.text.startswith("⏰")][-1].text.startswith(f"⏰ <@{OTHER}>, ")


def test_a_leads_own_remedy_over_the_limit_needs_nobody(bot):
    _to_remedy(bot, customer=False)
    # A lead recording it counts as approved at once: no request, nobody asked.
    opened = len(bot.fake.views())
    assert bot.slack.click(_prompt(bot), "Done", user=LEAD).status == 200
    assert bot.fake.wait_for(lambda: len(bot.fake.views()) > opened)
    assert bot.slack.submit(bot.fake.views()[-1], {"remedy_kind": "refund", "amount": "500"}, user=LEAD).body == ""
    bot.settle()
    assert dms(bot, LEAD) == [] and not any(m.text.startswith("⏳") for m in _thread(bot))
    ended = [m for m in _thread(bot) if "Go above and beyond*: Done" in m.text][-1]
    assert f"Done by <@{LEAD}>" in ended.text and "refund $ 500" in ended.text and "approved by" not in ended.text


def test_nothing_for_the_leads_is_posted_in_a_lead_channel_shared_with_another_org(make_bot, settings, fake_slack):
    fake_slack.add_channel("CPARTNER", name="partner-leads", is_ext_shared=True, is_shared=True)
    bot = make_bot(replace(settings, lead_channel="CPARTNER"))
    _to_remedy(bot, customer=False)
    _form(bot, {"remedy_kind": "refund", "amount": "120"})
    assert bot.fake.messages("CPARTNER") == []
    assert "shared with another organization" in bot.slack.command("/recovery health", user=LEAD).text


def _buttons(node: object) -> list[dict]:
    if isinstance(node, list):
        return [button for item in node for button in _buttons(item)]
    if not isinstance(node, dict):
        return []
    own = [node] if node.get("type") == "button" else []
    return own + [button for value in node.values() if isinstance(value, (dict, list)) for button in _buttons(value)]


def test_every_button_the_bot_posts_names_its_incident_for_a_screen_reader_and_none_is_red(bot):
    """Item 9: a button's accessibility label says what it does to which incident (a screen
    reader lists buttons out of context); Decline and Need help are not styled as danger."""
    flag_by_command(bot)
    bot.clock.advance(timedelta(minutes=20, seconds=1))
    tick(bot)
    claim_first(bot, OWNER)
    _click(bot, _prompt(bot), "Done")
    _click(bot, _prompt(bot), "Done")
    _form(bot, {"root_cause": "delivery", "fix_note": "Reshipped"})
    _form(bot, {"remedy_kind": "refund", "amount": "120"})
    posted = bot.fake.all_messages()
    buttons = _buttons([message.blocks for message in posted])
    assert len(buttons) > 10
    for button in buttons:
        assert "#1" in button.get("accessibility_label", ""), button
        assert button.get("style") != "danger", button
