"""Forms that cannot be filled wrong: number fields where a number is meant (satisfaction 1 to
10, the remedy's amount labelled with the team's currency), submit labels that say what
pressing them does ("Record fix", "Give remedy" or "Ask a lead" as the amount is typed,
"Record follow-up"), and the fix's root cause starting at the flag's category.

Through signed requests into the served bot and the Slack double, which holds each view with
its hash and what was typed into it, and refuses what Slack would refuse."""
from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.devkit.slack_double import FakeSlack, Message
from bot.service import Locator
from tests.conftest import LEAD, ServedBot
from tests.helpers import claim_first, flag_by_command

OWNER = "U2"
NUMBER_ERROR = "Enter a whole number from 1 to 10."


def _prompt(bot: ServedBot) -> Message:
    """The current step's prompt: the newest thread message with buttons."""
    return [m for m in bot.thread(bot.card(1)) if any(b.get("type") == "actions" for b in m.blocks)][-1]


def _open(bot: ServedBot, label: str, *, user: str = OWNER) -> dict:
    """Press the prompt's button and return the form it opened, as the double holds it."""
    before = len(bot.fake.views())
    assert bot.slack.click(_prompt(bot), label, user=user).status == 200
    assert bot.fake.wait_for(lambda: len(bot.fake.views()) > before), f"{label} opened no form"
    return bot.fake.views()[-1]


def _view(bot: ServedBot, view_id: str) -> dict:
    return next(view for view in bot.fake.views() if view["id"] == view_id)


def _submit_label(bot: ServedBot, view_id: str) -> str:
    return _view(bot, view_id)["submit"]["text"]


def _block(view: dict, block_id: str) -> dict:
    return next(block for block in view["blocks"] if block.get("block_id") == block_id)


def _at_fix(bot: ServedBot) -> None:
    claim_first(bot, OWNER)
    for _ in range(2):
        bot.slack.click(_prompt(bot), "Done", user=OWNER)
        bot.settle()


def _at_remedy(bot: ServedBot) -> None:
    flag_by_command(bot)
    _at_fix(bot)
    form = _open(bot, "Done")
    assert bot.slack.submit(form, {"root_cause": "delivery", "fix_note": "Reshipped"}, user=OWNER).body == ""
    bot.settle()


def _type(bot: ServedBot, view_id: str, block_id: str, value: str, *, user: str = OWNER,
          expect: str | None = None) -> None:
    """Type into the form as it is now; with ``expect``, wait for the submit label it should get."""
    answer = bot.slack.type_into(_view(bot, view_id), block_id, value, user=user)
    assert answer is not None and answer.status == 200 and answer.body == "", "the input dispatches, acked empty"
    if expect is not None:
        assert bot.fake.wait_for(lambda: _submit_label(bot, view_id) == expect), (
            f"submit reads {_submit_label(bot, view_id)!r}, not {expect!r}")


def _incident(bot: ServedBot):  # noqa: ANN202
    return bot.runtime.service.incident(Locator("T1", number=1))


def test_the_remedy_form_asks_for_an_amount_in_the_teams_currency_and_says_it_gives_the_remedy(make_bot, settings):
    bot = make_bot(replace(settings, currency="EUR"))
    _at_remedy(bot)
    form = _open(bot, "Done")
    assert form["title"]["text"] == "Make it right #1"
    assert form["submit"]["text"] == "Give remedy"
    amount = _block(form, "amount")
    assert amount["label"]["text"] == "Amount (€)"
    assert amount["hint"]["text"] == "Over € 50 needs a lead's approval."
    assert amount["dispatch_action"] is True and _block(form, "remedy_kind")["dispatch_action"] is True
    assert amount["element"] == {
        "type": "number_input", "action_id": "amount", "is_decimal_allowed": True, "min_value": "0",
        "max_value": "999999999.99", "placeholder": {"type": "plain_text", "text": "0", "emoji": True},
        "dispatch_action_config": {"trigger_actions_on": ["on_character_entered"]},
    }


def test_typing_over_the_limit_turns_the_submit_into_ask_a_lead_and_back_under_it_give_remedy(bot):
    _at_remedy(bot)
    form = _open(bot, "Done")
    opened_hash = form["hash"]
    _type(bot, form["id"], "remedy_kind", "refund")
    _type(bot, form["id"], "amount", "120", expect="Ask a lead")
    redrawn = _view(bot, form["id"])
    assert redrawn["hash"] != opened_hash, "redrawn through views.update, which gave it a new hash"
    assert redrawn["state"]["values"]["amount"]["amount"] == {"type": "number_input", "value": "120"}, (
        "the same block and action ids: Slack keeps what was typed")
    assert [call.params["hash"] for call in bot.fake.calls("views.update")] == [opened_hash], (
        "each redraw quotes the hash of the view it was typed into; typing the kind changed no label")

    _type(bot, form["id"], "amount", "20", expect="Give remedy")
    _type(bot, form["id"], "amount", "50.01", expect="Ask a lead")
    _type(bot, form["id"], "amount", "50", expect="Give remedy")
    _type(bot, form["id"], "remedy_kind", "none", expect="Record no remedy")
    _type(bot, form["id"], "remedy_kind", "gift", expect="Give remedy")
    _type(bot, form["id"], "amount", "75", expect="Ask a lead")

    assert bot.slack.submit(_view(bot, form["id"]), {}, user=OWNER).body == "", "what was typed is submitted"
    bot.settle()
    assert _incident(bot).approval == "pending", "the label told the truth: it went to a lead"
    assert _prompt(bot).text.startswith("⏳ Waiting for a lead: gift $ 75 on #1")
    assert bot.fake.messages(f"D{LEAD}")[-1].text.startswith("💶 Approval needed on #1")


def test_a_lead_sees_give_remedy_for_any_amount_since_their_own_counts_as_approved(bot):
    _at_remedy(bot)
    form = _open(bot, "Done", user=LEAD)
    _type(bot, form["id"], "amount", "5000", user=LEAD)
    _type(bot, form["id"], "remedy_kind", "none", user=LEAD, expect="Record no remedy")
    _type(bot, form["id"], "remedy_kind", "refund", user=LEAD, expect="Give remedy")
    assert _view(bot, form["id"])["state"]["values"]["amount"]["amount"]["value"] == "5000"

    assert bot.slack.submit(_view(bot, form["id"]), {}, user=LEAD).body == ""
    bot.settle()
    incident = _incident(bot)
    assert (incident.approval, incident.remedy_amount, incident.current_step) == (
        "approved", Decimal(5000), "buy_in")


def test_a_stale_redraw_is_dropped_quietly(bot, caplog):
    _at_remedy(bot)
    form = _open(bot, "Done")
    stale = _view(bot, form["id"])
    _type(bot, form["id"], "amount", "120", expect="Ask a lead")
    redrawn = dict(_view(bot, form["id"]))

    caplog.set_level(logging.INFO, logger="handlers.steps")
    attempts = len(bot.fake.attempts("views.update"))
    answer = bot.slack.view_action(stale, {"type": "number_input", "block_id": "amount", "action_id": "amount",
                                           "value": "200"}, user=OWNER)
    assert answer.status == 200 and answer.body == ""
    assert bot.fake.wait_for(lambda: any("(hash_conflict)" in r.getMessage() for r in caplog.records))
    assert len(bot.fake.attempts("views.update")) == attempts + 1
    assert _view(bot, form["id"]) == redrawn, "Slack refused the stale hash: the form is as it was"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert bot.fake.ephemerals() == [], "nobody is told about it"

    assert bot.slack.submit(_view(bot, form["id"]), {"remedy_kind": "refund", "amount": "20"}, user=OWNER).body == ""


def test_the_fix_form_says_record_fix_and_starts_at_the_flagged_category_when_it_is_a_root_cause(bot):
    bot.slack.command("/recovery new", channel="C1")
    assert bot.fake.wait_for(lambda: len(bot.fake.views()) == 1)
    flag = bot.fake.views()[0]
    assert bot.slack.submit(flag, {"summary": "Parcel lost", "category": "delivery"}).body == ""
    bot.settle()
    _at_fix(bot)
    form = _open(bot, "Done")
    assert form["submit"]["text"] == "Record fix"
    cause = _block(form, "root_cause")["element"]
    assert cause["initial_option"] == {"text": {"type": "plain_text", "text": "delivery", "emoji": True},
                                       "value": "delivery"}
    assert bot.slack.submit(form, {"fix_note": "Reshipped"}, user=OWNER).body == "", "the pre-selected cause is sent"
    bot.settle()
    assert _incident(bot).root_cause == "delivery"


def test_a_category_that_is_no_root_cause_leaves_the_fix_form_without_a_choice(bot):
    bot.slack.command("/recovery new", channel="C1")
    assert bot.fake.wait_for(lambda: len(bot.fake.views()) == 1)
    assert bot.slack.submit(bot.fake.views()[0], {"summary": "Rude courier", "category": "courier manners"}).body == ""
    bot.settle()
    _at_fix(bot)
    form = _open(bot, "Done")
    assert "initial_option" not in _block(form, "root_cause")["element"]
    refused = bot.slack.submit(form, {"fix_note": "Complained to the courier"}, user=OWNER)
    assert refused.json() == {"response_action": "errors",
                              "errors": {"root_cause": "Pick the root cause from the list."}}


def test_satisfaction_is_a_number_from_1_to_10_and_a_forged_one_is_refused_with_nothing_recorded(bot):
    _at_remedy(bot)
    assert bot.slack.submit(_open(bot, "Done"), {"remedy_kind": "refund", "amount": "20"}, user=OWNER).body == ""
    bot.settle()
    bot.slack.click(_prompt(bot), "Agreed", user=OWNER)
    bot.settle()
    bot.clock.advance(timedelta(days=3, minutes=1))
    bot.runtime.ticker.tick()
    bot.settle()
    form = _open(bot, "Record follow-up")
    assert form["submit"]["text"] == "Record follow-up"
    assert _block(form, "csat")["element"] == {"type": "number_input", "action_id": "csat",
                                               "is_decimal_allowed": False, "min_value": "1", "max_value": "10"}

    for forged in ("11", "ten", "0", "7.5"):
        refused = bot.slack.submit(form, {"csat": forged, "buy_again": "yes"}, user=OWNER)
        assert refused.json() == {"response_action": "errors", "errors": {"csat": NUMBER_ERROR}}, forged
    bot.settle()
    incident = _incident(bot)
    assert (incident.status, incident.current_step, incident.csat) == ("open", "follow_up", None)

    assert bot.slack.submit(form, {"csat": "9", "buy_again": "yes"}, user=OWNER).body == ""
    bot.settle()
    assert (_incident(bot).status, _incident(bot).csat) == ("closed", 9)


# The double refuses the views Slack would refuse, so a form Slack cannot draw fails here too.

@pytest.fixture
def client(fake_slack: FakeSlack) -> WebClient:
    return WebClient(token="xoxb-test", base_url=fake_slack.api_url)


def _number_view(**element: object) -> dict:
    return {"type": "modal", "title": {"type": "plain_text", "text": "t"},
            "submit": {"type": "plain_text", "text": "Go"},
            "blocks": [{"type": "input", "block_id": "n", "label": {"type": "plain_text", "text": "n"},
                        "element": {"type": "number_input", "action_id": "n", **element}}]}


@pytest.mark.parametrize("element", [
    {},
    {"is_decimal_allowed": "false"},
    {"is_decimal_allowed": False, "min_value": "1.5"},
    {"is_decimal_allowed": False, "initial_value": "ten"},
    {"is_decimal_allowed": True, "max_value": 10},
    {"is_decimal_allowed": False, "min_value": "10", "max_value": "1"},
    {"is_decimal_allowed": False, "min_value": "1", "max_value": "10", "initial_value": "11"},
    {"is_decimal_allowed": True, "min_value": "0", "initial_value": "-0.5"},
])
def test_the_double_refuses_a_number_input_slack_could_not_draw(client: WebClient, fake_slack: FakeSlack, element):
    with pytest.raises(SlackApiError) as refused:
        client.views_open(trigger_id="1.t", view=_number_view(**element))
    assert refused.value.response["error"] == "invalid_arguments"
    opened = client.views_open(trigger_id="1.t", view=_number_view(is_decimal_allowed=False))["view"]
    with pytest.raises(SlackApiError) as refused:
        client.views_update(view_id=opened["id"], view=_number_view(**element))
    assert refused.value.response["error"] == "invalid_arguments"
    assert fake_slack.views() == [opened]


def test_the_double_refuses_an_initial_option_that_is_not_an_option_and_inputs_without_a_submit(client):
    select = {"type": "modal", "title": {"type": "plain_text", "text": "t"},
              "submit": {"type": "plain_text", "text": "Go"},
              "blocks": [{"type": "input", "block_id": "s", "label": {"type": "plain_text", "text": "s"},
                          "element": {"type": "static_select", "action_id": "s",
                                      "options": [{"text": {"type": "plain_text", "text": "a"}, "value": "a"}],
                                      "initial_option": {"text": {"type": "plain_text", "text": "b"}, "value": "b"}}}]}
    for view in (select, {**_number_view(is_decimal_allowed=True), "submit": None}):
        with pytest.raises(SlackApiError) as refused:
            client.views_open(trigger_id="1.t", view={k: v for k, v in view.items() if v is not None})
        assert refused.value.response["error"] == "invalid_arguments"


def test_the_double_gives_each_change_a_new_hash_refuses_a_stale_one_and_keeps_what_was_typed(
        client: WebClient, fake_slack: FakeSlack):
    view = _number_view(is_decimal_allowed=False, min_value="1", max_value="10")
    opened = client.views_open(trigger_id="1.t", view=view)["view"]
    assert opened["state"] == {"values": {}}
    typed, action_id, dispatches = fake_slack.type_into_view(opened["id"], "n", {"type": "number_input", "value": "8"})
    assert (action_id, dispatches) == ("n", False) and typed["hash"] == opened["hash"], "typing is no update"

    updated = client.views_update(view_id=opened["id"], hash=opened["hash"], view=view)["view"]
    assert updated["hash"] != opened["hash"]
    assert updated["state"] == {"values": {"n": {"n": {"type": "number_input", "value": "8"}}}}
    with pytest.raises(SlackApiError) as refused:
        client.views_update(view_id=opened["id"], hash=opened["hash"], view={**view, "callback_id": "late"})
    assert refused.value.response["error"] == "hash_conflict"
    assert "callback_id" not in fake_slack.views()[0], "a refused update changes nothing"

    renamed = {**view, "blocks": [{**view["blocks"][0], "block_id": "m"}]}
    assert client.views_update(view_id=opened["id"], view=renamed)["view"]["state"] == {"values": {}}, (
        "an input under a new block id starts empty, as in Slack")
