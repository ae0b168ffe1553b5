"""The playbook end to end through signed HTTP requests: every step in the thread, the
modals and their inline errors, lead approval, buy-in, the follow-up when due, close."""
from __future__ import annotations

from datetime import timedelta

from bot.devkit.slack_double import Message
from tests.conftest import LEAD, ServedBot
from tests.helpers import dms

OWNER = "U2"


def _flag_and_claim(bot: ServedBot, text: str = "Parcel arrived crushed") -> Message:
    complaint = bot.fake.add_user_message("C1", user="UCUST", text=text)
    bot.slack.react(channel="C1", ts=complaint.ts)
    bot.settle()
    bot.slack.click(bot.card(1), "Claim", user=OWNER)
    bot.settle()
    return bot.card(1)


def _prompt(bot: ServedBot) -> Message:
    """The newest thread message that still has buttons: the current step's prompt."""
    live = [m for m in bot.thread(bot.card(1)) if any(b.get("type") == "actions" for b in m.blocks)]
    assert live, "no step prompt with buttons in the thread"
    return live[-1]


def _open_form(bot: ServedBot, message: Message, label: str, *, user: str = OWNER) -> dict:
    before = len(bot.fake.views())
    assert bot.slack.click(message, label, user=user).status == 200
    assert bot.fake.wait_for(lambda: len(bot.fake.views()) > before), f"{label} opened no modal"
    return bot.fake.views()[-1]


def _done(bot: ServedBot, user: str = OWNER) -> None:
    bot.slack.click(_prompt(bot), "Done", user=user)
    bot.settle()


def _through_fix(bot: ServedBot) -> None:
    _flag_and_claim(bot)
    _done(bot)
    _done(bot)
    view = _open_form(bot, _prompt(bot), "Done")
    assert bot.slack.submit(view, {"root_cause": "delivery", "fix_note": "Reshipped"}, user=OWNER).body == ""
    bot.settle()


def _remedy(bot: ServedBot, kind: str, amount: str, user: str = OWNER):  # noqa: ANN202
    view = _open_form(bot, _prompt(bot), "Done", user=user)
    answer = bot.slack.submit(view, {"remedy_kind": kind, "amount": amount}, user=user)
    bot.settle()
    return answer


def test_whole_recovery_from_flag_to_closed_card(bot):
    _flag_and_claim(bot)
    first = _prompt(bot)
    assert "Acknowledge and take ownership" in first.plain()
    for label in ("[Done]", "[Skip]", "[Need help]"):
        assert label in first.plain()
    _done(bot)
    acknowledged = next(m for m in bot.thread(bot.card(1)) if m.ts == first.ts)
    assert "Done by <@U2>" in acknowledged.plain() and "[Done]" not in acknowledged.plain()
    assert "Apologize" in _prompt(bot).plain()
    assert "Apologize" in bot.card(1).plain()
    _done(bot)

    view = _open_form(bot, _prompt(bot), "Done")
    assert bot.slack.submit(view, {"root_cause": "delivery", "fix_note": "Reshipped a new one"},
                            user=OWNER).body == ""
    bot.settle()
    assert "Go above and beyond" in _prompt(bot).plain()

    assert _remedy(bot, "refund", "120").body == ""
    approval = _prompt(bot)
    assert approval.text == ("⏳ Waiting for a lead: refund $ 120 on #1 is over the $ 50 an agent may give alone. "
                             "The leads were asked by DM; their answer will show here.")
    assert "[Approve] [Decline]" in approval.plain()
    asked = dms(bot, LEAD)[-1]
    assert asked.text.startswith("💶 Approval needed on #1: <@U2> asks to give refund $ 120")
    assert "[Approve] [Decline] [Open card]" in asked.plain()
    bot.slack.click(approval, "Approve", user=OWNER)
    bot.settle()
    assert bot.fake.ephemerals(OWNER)[-1].text == f"Only <@{LEAD}> can approve this; they have been asked."
    bot.slack.click(approval, "Approve", user=LEAD)
    bot.settle()
    decided = next(m for m in bot.thread(bot.card(1)) if m.ts == approval.ts)
    assert decided.text.startswith(f"✅ Approved: refund $ 120 on #1, by <@{LEAD}>") and "[Approve]" not in decided.plain()
    assert dms(bot, LEAD)[-1].text == decided.text and "[Approve]" not in dms(bot, LEAD)[-1].plain()
    remedy_step = [m for m in bot.thread(bot.card(1)) if "Go above and beyond*: Done" in m.text][-1]
    assert f"Done by <@{OWNER}>, approved by <@{LEAD}>" in remedy_step.text, "the step is the owner's"

    buy_in = _prompt(bot)
    assert "[Agreed] [Not yet]" in buy_in.plain()
    bot.slack.click(buy_in, "Agreed", user=OWNER)
    bot.settle()
    assert any("follow-up on #1 is due" in m.plain() for m in bot.thread(bot.card(1)))
    assert all("Record follow-up" not in m.plain() for m in bot.thread(bot.card(1))), "not asked for early"

    assert bot.runtime.ticker.tick().follow_ups == 0
    bot.clock.advance(timedelta(days=3) - timedelta(minutes=1))
    assert bot.runtime.ticker.tick().follow_ups == 0
    bot.settle()
    assert all("Record follow-up" not in m.plain() for m in bot.thread(bot.card(1)))
    bot.clock.advance(timedelta(minutes=2))
    assert bot.runtime.ticker.tick().follow_ups == 1
    assert bot.runtime.ticker.tick().follow_ups == 0, "prompted once"
    bot.settle()
    prompt = _prompt(bot)
    assert "[Record follow-up]" in prompt.plain() and "<@U2>" in prompt.text
    reminders = dms(bot, OWNER)
    assert len(reminders) == 1 and "[Record follow-up]" in reminders[0].plain()

    view = _open_form(bot, prompt, "Record follow-up")
    refused = bot.slack.submit(view, {"csat": "11", "buy_again": "yes"}, user=OWNER)
    assert refused.json()["response_action"] == "errors" and "csat" in refused.json()["errors"]
    assert bot.slack.submit(view, {"csat": "9", "buy_again": "yes", "follow_up_note": "Happy"},
                            user=OWNER).body == ""
    bot.settle()
    card = bot.card(1).plain()
    assert "*Closed*" in card
    assert "9/10" in card and "would buy again: yes" in card and "refund $ 120" in card
    assert "Total time" in card and "[Claim]" not in card and "[Assign]" not in card


def test_remedy_under_the_limit_needs_no_approval(bot):
    _through_fix(bot)
    _remedy(bot, "discount", "20")
    assert "Customer buy-in" in _prompt(bot).plain()
    assert all("[Approve]" not in m.plain() for m in bot.thread(bot.card(1)))


def test_declined_remedy_sends_the_owner_back_with_the_reason(bot):
    _through_fix(bot)
    _remedy(bot, "replacement", "400")
    view = _open_form(bot, _prompt(bot), "Decline", user=LEAD)
    assert bot.slack.submit(view, {}, user=LEAD).json()["response_action"] == "errors"
    assert bot.slack.submit(view, {"reason": "Too much; offer a voucher"}, user=LEAD).body == ""
    bot.settle()
    thread = "\n".join(m.plain() for m in bot.thread(bot.card(1)))
    assert "declined by <@ULEAD>" in thread and "Too much; offer a voucher" in thread
    assert "Go above and beyond" in _prompt(bot).plain()


def test_only_a_lead_sees_the_decline_form(bot):
    _through_fix(bot)
    _remedy(bot, "refund", "400")
    bot.slack.click(_prompt(bot), "Decline", user=OWNER)
    assert bot.fake.wait_for(lambda: bot.settle() > 0 or bot.fake.ephemerals(OWNER) != [])
    bot.settle()
    assert bot.fake.ephemerals(OWNER)[-1].text == f"Only <@{LEAD}> can decline this; they have been asked."
    assert len(bot.fake.views()) == 2, "only the fix and remedy forms were opened"


def test_remedy_form_shows_inline_errors_and_saves_nothing(bot):
    _through_fix(bot)
    view = _open_form(bot, _prompt(bot), "Done")
    for amount in ("-5", "lots", "1e9"):
        answer = bot.slack.submit(view, {"remedy_kind": "refund", "amount": amount}, user=OWNER)
        assert answer.json()["response_action"] == "errors" and "amount" in answer.json()["errors"]
    missing = bot.slack.submit(view, {"amount": "10"}, user=OWNER)
    assert "remedy_kind" in missing.json()["errors"]
    bot.settle()
    assert "Go above and beyond" in _prompt(bot).plain()


def test_fix_form_requires_root_cause_and_note(bot):
    _flag_and_claim(bot)
    _done(bot)
    _done(bot)
    view = _open_form(bot, _prompt(bot), "Done")
    errors = bot.slack.submit(view, {}, user=OWNER).json()["errors"]
    assert set(errors) == {"root_cause", "fix_note"}


def test_not_yet_goes_back_to_make_it_right(bot):
    _through_fix(bot)
    _remedy(bot, "gift", "10")
    bot.slack.click(_prompt(bot), "Not yet", user=OWNER)
    bot.settle()
    assert "Go above and beyond" in _prompt(bot).plain()


def test_bystander_cannot_complete_skip_or_snooze_and_is_told_politely(bot):
    _flag_and_claim(bot)
    prompt = _prompt(bot)
    bot.slack.click(prompt, "Done", user="U9")
    bot.slack.choose(prompt, "Snooze", "4 hours", user="U9")
    bot.slack.click(prompt, "Skip", user="U9")

    def all_three_told() -> bool:
        bot.settle()  # each refusal is queued after its ack, and sent from the outbox
        return len(bot.fake.ephemerals("U9")) == 3

    assert bot.fake.wait_for(all_three_told), bot.fake.ephemerals("U9")
    assert all("Only the owner of #1 or a lead" in m.text for m in bot.fake.ephemerals("U9"))
    assert "Acknowledge" in _prompt(bot).plain() and _prompt(bot).ts == prompt.ts
    assert len(bot.fake.views()) == 0


def test_second_click_on_a_done_step_changes_nothing_and_says_so(bot):
    _flag_and_claim(bot)
    prompt = _prompt(bot)
    bot.slack.click(prompt, "Done", user=OWNER)
    bot.slack.click(prompt, "Done", user=OWNER)
    bot.settle()
    assert "already done" in bot.fake.ephemerals(OWNER)[-1].text
    assert "Apologize" in _prompt(bot).plain()
    prompts = [m for m in bot.thread(bot.card(1)) if "Apologize" in m.plain()]
    assert len(prompts) == 1


def test_skip_asks_a_reason_and_records_it(bot):
    _flag_and_claim(bot)
    view = _open_form(bot, _prompt(bot), "Skip")
    assert bot.slack.submit(view, {}, user=OWNER).json()["errors"] == {"reason": "A reason is required."}
    assert bot.slack.submit(view, {"reason": "Customer called us first"}, user=OWNER).body == ""
    bot.settle()
    thread = "\n".join(m.plain() for m in bot.thread(bot.card(1)))
    assert "Skipped by <@U2>" in thread and "Customer called us first" in thread
    assert "Apologize" in _prompt(bot).plain()


def test_snooze_menu_and_command_pause_the_incident(bot):
    _flag_and_claim(bot)
    bot.slack.choose(_prompt(bot), "Snooze", "4 hours", user=OWNER)
    bot.settle()
    assert "Snoozed until" in bot.card(1).plain()
    answer = bot.slack.command("/recovery snooze 1 2h", user=OWNER)
    assert "snoozed for 2h" in answer.text
    assert "Only the owner" in bot.slack.command("/recovery snooze 1 2h", user="U9").text


def test_need_help_calls_the_leads_now(bot):
    bot.fake.add_user(OWNER, display_name="ben")
    _flag_and_claim(bot)
    bot.slack.click(_prompt(bot), "Need help", user=OWNER)
    bot.settle()
    assert any(m.text.startswith("🆘 @ben asked the leads for help with #1 at *Acknowledge")
               for m in bot.thread(bot.card(1)))
    called = dms(bot, LEAD)[-1]
    assert called.text == f"🆘 <@{OWNER}> asks for help with #1 at *Acknowledge and take ownership*."
    assert "[Open card] [Snooze 1 hour]" in called.plain()
    assert [e["type"] for e in called.blocks[-1]["elements"]] == ["button", "users_select", "button"]


def test_cancel_by_command_closes_the_card_for_good(bot):
    _flag_and_claim(bot)
    assert "reason" in bot.slack.command("/recovery cancel 1", user=OWNER).text
    assert "Only the owner" in bot.slack.command("/recovery cancel 1 duplicate", user="U9").text
    assert "#1 is cancelled" in bot.slack.command("/recovery cancel 1 duplicate of #4", user=OWNER).text
    bot.settle()
    card = bot.card(1).plain()
    assert "*Cancelled*" in card and "*Why cancelled*\nduplicate of #4" in card and "[Assign]" not in card
    bot.slack.click(_prompt(bot), "Done", user=OWNER)
    bot.settle()
    assert "cancelled" in bot.fake.ephemerals(OWNER)[-1].text


def test_timeline_records_every_change(bot):
    _through_fix(bot)
    shown = bot.slack.command("/recovery show 1").text
    for line in ("flagged it", "claimed it", "completed Acknowledge", "completed Apologize",
                 "completed Understand and fix"):
        assert line in shown


def test_playbook_file_changes_the_prompt_and_its_due_time(make_bot, settings, tmp_path):
    from dataclasses import replace
    playbook = tmp_path / "playbook.toml"
    playbook.write_text('[[steps]]\nkey = "acknowledge"\ntitle = "Call the customer back"\nsla = "5m"\n')
    custom = make_bot(replace(settings, playbook_file=playbook))
    _flag_and_claim(custom)
    prompt = _prompt(custom).plain()
    assert "Call the customer back" in prompt
    assert "10:05" in prompt, "claimed at 10:00, due five minutes later"


# --- one rule book: the same refusal whichever way a person asks ------------------------


def _told(bot: ServedBot, user: str, count: int) -> list[str]:
    """The ephemeral lines ``user`` has been shown, once there are ``count`` of them."""
    assert bot.fake.wait_for(lambda: bot.settle() >= 0 and len(bot.fake.ephemerals(user)) >= count)
    return [m.text for m in bot.fake.ephemerals(user)]


def test_a_cancelled_incident_refuses_a_button_a_form_and_a_command_in_the_same_words(bot):
    _flag_and_claim(bot)
    prompt = _prompt(bot)
    bot.slack.command("/recovery cancel 1 duplicate", user=OWNER)
    bot.settle()
    said = "Incident #1 is cancelled; nothing more can change on it."
    bot.slack.click(prompt, "Done", user=OWNER)
    bot.slack.click(prompt, "Skip", user=OWNER)
    assert _told(bot, OWNER, 2) == [said, said]
    assert bot.slack.command("/recovery snooze 1 1h", user=OWNER).text == said
    assert bot.slack.command("/recovery assign 1 <@U3>", user=OWNER).text == said
    assert len(bot.fake.views()) == 0


def test_a_bystander_is_refused_in_the_same_words_by_button_form_and_command(bot):
    _flag_and_claim(bot)
    bot.slack.choose(_prompt(bot), "Snooze", "1 hour", user="U9")
    bot.slack.click(bot.card(1), "Assign", user="U9")
    assert sorted(_told(bot, "U9", 2)) == ["Only the owner of #1 or a lead can assign it.",
                                           "Only the owner of #1 or a lead can snooze it."]
    assert bot.slack.command("/recovery snooze 1 1h", user="U9").text == "Only the owner of #1 or a lead can snooze it."
    assert bot.slack.command("/recovery assign 1 <@U9>", user="U9").text == \
        "Only the owner of #1 or a lead can assign it."
    assert len(bot.fake.views()) == 0


def test_a_form_opened_before_a_reassignment_is_refused_as_its_button_now_is(bot):
    _flag_and_claim(bot)
    view = _open_form(bot, _prompt(bot), "Skip")
    bot.slack.command("/recovery assign 1 <@U3>", user=LEAD)
    bot.settle()
    bot.slack.click(_prompt(bot), "Skip", user=OWNER)
    said = "Only the owner of #1 or a lead can skip a step."
    assert _told(bot, OWNER, 1) == [said]
    answer = bot.slack.submit(view, {"reason": "customer called us"}, user=OWNER).json()
    assert answer == {"response_action": "errors", "errors": {"reason": said}}
    assert len(bot.fake.views()) == 1
