"""The card's ⋯ menu: Edit details (the flag form, pre-filled) and Cancel incident, for whoever
may; the flagger's private Add details after a reaction; and one taxonomy for the flag's
category and the fix's root cause."""
from __future__ import annotations

import json
from dataclasses import replace
from collections.abc import Callable
from datetime import datetime, timezone

import pytest

from sqlmodel import select

from bot.devkit.driver import Answer
from bot.devkit.slack_double import Message
from bot.domain.playbook import DEFAULT_PLAYBOOK
from bot.domain.rules import Intent, may
from bot.domain.types import Actor, IncidentState, Refusal, Status, StepKey
from bot.views import modals
from storage.models import Incident, TimelineEvent
from tests.conftest import LEAD, ServedBot
from tests.helpers import claim_first, flag_by_command, flag_by_reaction

FLAGGER = "U1"
OWNER = "U2"
STRANGER = "U3"
OFFER = ("Flagged as #1. Add the customer's name, contact channel and severity so the owner can reply right:")


def _menu(card: Message) -> list[dict] | None:
    """The options of the card's ⋯ menu, or None without one."""
    menus = [element for block in card.blocks for element in block.get("elements", []) + [block.get("accessory", {})]
             if element.get("type") == "overflow"]
    assert len(menus) <= 1
    return menus[0]["options"] if menus else None


def _form(bot: ServedBot, press: Callable[[], Answer]) -> dict:
    """The form a press opened (after the ack, as Slack's trigger allows)."""
    before = len(bot.fake.views())
    assert press().status == 200
    assert bot.fake.wait_for(lambda: len(bot.fake.views()) > before), "no form opened"
    return bot.fake.views()[-1]


def _refused(bot: ServedBot, press: Callable[[], Answer], *, user: str) -> str:
    """The one line a press got instead of a form, privately."""
    views, told = len(bot.fake.views()), len(bot.fake.ephemerals(user))
    assert press().status == 200
    assert bot.fake.wait_for(lambda: bot.settle() >= 0 and len(bot.fake.ephemerals(user)) > told)
    assert len(bot.fake.views()) == views and len(bot.fake.ephemerals(user)) == told + 1
    return bot.fake.ephemerals(user)[-1].text


def _edit_form(bot: ServedBot, *, user: str) -> dict:
    return _form(bot, lambda: bot.slack.overflow(bot.card(1), "Edit details", user=user))


def _as_filled(view: dict, **changes: str) -> dict[str, str]:
    """What Slack sends back: every input as the form shows it, with ``changes`` typed or picked."""
    values = {}
    for block in view["blocks"]:
        element = block.get("element", {})
        if element.get("initial_value"):
            values[block["block_id"]] = element["initial_value"]
        elif element.get("initial_option"):
            values[block["block_id"]] = element["initial_option"]["value"]
    return values | changes


def _timeline(bot: ServedBot) -> list[str]:
    return bot.slack.command("/recovery show 1", user=OWNER).text.splitlines()


def _incident(bot: ServedBot, number: int = 1) -> Incident:
    with bot.runtime.db.read() as session:
        return session.exec(select(Incident).where(Incident.number == number)).one()


def _event_kinds(bot: ServedBot) -> list[str]:
    with bot.runtime.db.read() as session:
        return list(session.exec(select(TimelineEvent.kind).order_by(TimelineEvent.id)).all())


def test_an_open_card_has_the_menu_with_edit_and_cancel_and_a_closed_one_has_none(bot):
    flag_by_command(bot)
    options = _menu(bot.card(1))
    assert [option["text"]["text"] for option in options] == ["Edit details", "Cancel incident"]
    assert [option["value"] for option in options] == [f"{_incident(bot).id}/edit", f"{_incident(bot).id}/cancel"]
    claim_first(bot, OWNER)
    assert _menu(bot.card(1)) is not None, "still there once owned"
    bot.slack.command("/recovery cancel 1 duplicate", user=OWNER)
    bot.settle()
    assert _menu(bot.card(1)) is None


def test_edit_details_opens_the_flag_form_filled_in_and_saving_high_shows_in_the_header_and_timeline(bot):
    flag_by_command(bot)
    claim_first(bot, OWNER)
    view = _edit_form(bot, user=OWNER)
    assert view["callback_id"] == "recovery.edit_details_modal"
    assert (view["title"]["text"], view["submit"]["text"], view["close"]["text"]) == (
        "Details of #1", "Save details", "Cancel")
    elements = {block["block_id"]: block["element"] for block in view["blocks"]}
    assert elements["summary"]["initial_value"] == "Customer double charged"
    assert elements["severity"]["initial_option"]["value"] == "normal"
    assert "initial_option" not in elements["contact_channel"] and "initial_option" not in elements["category"]
    assert json.loads(view["private_metadata"]) == {"incident_id": _incident(bot).id}

    assert bot.slack.submit(view, _as_filled(view, severity="high"), user=OWNER).body == ""
    bot.settle()
    assert bot.card(1).blocks[0]["text"]["text"] == "Recovery #1 · HIGH: Customer double charged"
    edited = [line for line in _timeline(bot) if "edited the details" in line]
    assert len(edited) == 1 and edited[0].endswith(f" · <@{OWNER}> edited the details: severity high")
    assert _incident(bot).severity == "high"

    again = _edit_form(bot, user=OWNER)
    assert {block["block_id"]: block["element"] for block in again["blocks"]}["severity"]["initial_option"] == {
        "text": {"type": "plain_text", "text": "high", "emoji": True}, "value": "high"}, "filled in as it now is"


def test_every_changed_field_is_named_once_and_the_card_shows_them(bot):
    flag_by_command(bot)
    view = _edit_form(bot, user=FLAGGER)
    answer = bot.slack.submit(view, _as_filled(view, summary="Charged twice for order 1182",
                                               customer_name="Ana <!here> Lopez", contact_channel="email",
                                               category="billing"), user=FLAGGER)
    assert answer.body == ""
    bot.settle()
    card = bot.card(1)
    assert card.blocks[0]["text"]["text"] == "Recovery #1: Charged twice for order 1182"
    fields = [field["text"] for field in card.blocks[2]["fields"]]
    assert "*Customer*\nAna &lt;!here&gt; Lopez via email" in fields and "*Category*\nbilling" in fields
    edited = [line for line in _timeline(bot) if "edited the details" in line]
    assert len(edited) == 1
    assert edited[0].endswith(f" · <@{FLAGGER}> edited the details: summary “Charged twice for order 1182”, "
                              "customer name “Ana &lt;!here&gt; Lopez”, contact channel email, category billing")

    view = _edit_form(bot, user=FLAGGER)
    assert bot.slack.submit(view, _as_filled(view, customer_name=""), user=FLAGGER).body == ""
    bot.settle()
    assert [line for line in _timeline(bot) if "edited the details" in line][-1].endswith(
        "edited the details: customer name removed")
    assert _incident(bot).customer_name is None


def test_saving_with_nothing_changed_records_nothing_and_says_so_in_the_form(bot):
    flag_by_command(bot)
    view = _edit_form(bot, user=LEAD)
    events = _event_kinds(bot)
    answer = bot.slack.submit(view, _as_filled(view), user=LEAD)
    assert answer.json() == {"response_action": "errors", "errors": {
        "summary": "Nothing to save: the details of #1 already read that way. Change a field, or press Cancel."}}
    assert _event_kinds(bot) == events and bot.settle() == 0, "no event, no redraw"


def test_someone_who_is_not_owner_flagger_or_lead_is_refused_with_who_can(bot):
    flag_by_command(bot)
    claim_first(bot, OWNER)
    press = lambda: bot.slack.overflow(bot.card(1), "Edit details", user=STRANGER)  # noqa: E731
    assert _refused(bot, press, user=STRANGER) == (
        f"Only <@{OWNER}> (its owner), <@{FLAGGER}> (who flagged it) or <@{LEAD}> (a lead) can edit the details of #1.")

    view = _edit_form(bot, user=OWNER)
    refused = bot.slack.submit(view, _as_filled(view, severity="critical"), user=STRANGER)
    assert refused.json()["errors"] == {"summary": f"Only <@{OWNER}> (its owner), <@{FLAGGER}> (who flagged it) or "
                                                   f"<@{LEAD}> (a lead) can edit the details of #1."}
    assert _incident(bot).severity == "normal"


def test_a_forged_menu_value_naming_another_incident_or_none_changes_nothing(bot):
    flag_by_command(bot)
    claim_first(bot, OWNER)
    bot.slack.command("/recovery new Second complaint", user=LEAD, channel="C1")
    bot.settle()
    other = _incident(bot, 2)
    card = bot.card(1)

    def forged(value: str):  # noqa: ANN202 - the driver's answer
        return lambda: bot.slack.send_interaction(bot.slack._action_payload(card, OWNER, {
            "action_id": "recovery.card_menu", "block_id": "card_actions", "type": "overflow",
            "selected_option": {"text": {"type": "plain_text", "text": "Edit details"}, "value": value}}))

    assert _refused(bot, forged(f"{other.id}/edit"), user=OWNER) == (
        f"Only <@{LEAD}> (who flagged it, a lead) can edit the details of #2.")
    assert _refused(bot, forged(f"{other.id}/cancel"), user=OWNER) == "Only the owner of #2 or a lead can cancel it."
    assert _refused(bot, forged("999999/edit"), user=OWNER) == (
        "That incident was not found in this workspace. `/recovery list` shows the open ones.")

    view = _edit_form(bot, user=OWNER)
    forged_form = {**view, "private_metadata": json.dumps({"incident_id": other.id})}
    refused = bot.slack.submit(forged_form, _as_filled(view, severity="critical"), user=OWNER)
    assert refused.json()["response_action"] == "errors"
    assert (_incident(bot, 1).severity, _incident(bot, 2).severity) == ("normal", "normal")
    assert all(kind != "details_edited" for kind in _event_kinds(bot))


def test_cancel_from_the_menu_asks_why_then_cancels_with_the_commands_rules(bot):
    flag_by_command(bot)
    claim_first(bot, OWNER)
    assert _refused(bot, lambda: bot.slack.overflow(bot.card(1), "Cancel incident", user=STRANGER),
                    user=STRANGER) == "Only the owner of #1 or a lead can cancel it."

    view = _form(bot, lambda: bot.slack.overflow(bot.card(1), "Cancel incident", user=OWNER))
    assert view["callback_id"] == "recovery.cancel_modal" and view["title"]["text"] == "Cancel #1"
    assert bot.slack.submit(view, {}, user=OWNER).json()["errors"] == {"reason": "A reason is required."}
    assert bot.slack.submit(view, {"reason": "customer withdrew it"}, user=OWNER).body == ""
    bot.settle()
    card = bot.card(1)
    assert card.blocks[1]["text"]["text"] == "*Cancelled*"
    assert "*Why cancelled*\ncustomer withdrew it" in [field["text"] for field in card.blocks[2]["fields"]]
    assert bot.thread(card)[-1].text == f"<@{OWNER}> cancelled #1: customer withdrew it."

    late = bot.slack.submit(view, {"reason": "again"}, user=OWNER)
    assert late.json()["errors"] == {"reason": "Incident #1 is cancelled; nothing more can change on it."}


def test_a_reaction_flag_offers_the_flagger_add_details_privately_once(bot):
    complaint = flag_by_reaction(bot, "C1", "My parcel never came", user=FLAGGER)
    bot.slack.react(channel="C1", ts=complaint.ts, user=STRANGER)
    bot.settle()
    offers = bot.fake.ephemerals()
    assert [(offer.channel, offer.visible_to, offer.text) for offer in offers] == [("C1", FLAGGER, OFFER)]
    assert offers[0].plain().splitlines()[-1] == "[Add details]"

    view = _form(bot, lambda: bot.slack.click(offers[0], "Add details", user=FLAGGER))
    assert view["callback_id"] == "recovery.edit_details_modal"
    assert view["blocks"][0]["text"]["text"] == "> My parcel never came", "the complaint quoted"
    answer = bot.slack.submit(view, _as_filled(view, customer_name="Dana", contact_channel="phone",
                                               severity="critical"), user=FLAGGER)
    assert answer.body == ""
    bot.settle()
    assert bot.card(1).blocks[0]["text"]["text"] == "Recovery #1 · CRITICAL: My parcel never came"
    assert "*Customer*\nDana via phone" in [field["text"] for field in bot.card(1).blocks[2]["fields"]]


def test_a_form_flag_gets_its_answer_and_no_offer(bot):
    complaint = bot.fake.add_user_message("C1", user="UCUST", text="Wrong size delivered")
    view = _form(bot, lambda: bot.slack.shortcut(callback_id="recovery.flag_message", channel="C1",
                                                 message=complaint))
    assert bot.slack.submit(view, {"summary": "Wrong size"}).body == ""
    bot.settle()
    assert [message.text.split(".")[0] for message in bot.fake.ephemerals()] == ["Flagged as #1"]
    assert all("Add details" not in message.plain() for message in bot.fake.ephemerals())


def test_the_flag_forms_category_is_the_fix_steps_root_causes(bot):
    complaint = bot.fake.add_user_message("C1", user="UCUST", text="Billed twice")
    shortcut = _form(bot, lambda: bot.slack.shortcut(callback_id="recovery.flag_message", channel="C1",
                                                     message=complaint))
    new = _form(bot, lambda: bot.slack.command("/recovery new", channel="C1"))
    for view in (shortcut, new):
        category = next(block for block in view["blocks"] if block.get("block_id") == "category")
        assert category["element"]["type"] == "static_select"
        assert tuple(option["value"] for option in category["element"]["options"]) == \
            bot.runtime.service.playbook.root_causes == DEFAULT_PLAYBOOK.root_causes

    assert bot.slack.submit(shortcut, {"category": "billing"}).body == ""
    assert bot.slack.submit(new, {"summary": "Refund missing", "category": "not a cause"}).body == ""
    bot.settle()
    assert (_incident(bot, 1).category, _incident(bot, 2).category) == ("billing", None), "only a listed cause"


def test_a_playbook_without_root_causes_keeps_a_free_text_category():
    view = modals.flag_modal(callback_id="recovery.flag_modal", metadata={}, excerpt=None, summary_required=False,
                             root_causes=()).to_dict()
    category = next(block for block in view["blocks"] if block.get("block_id") == "category")
    assert category["element"] == {"type": "plain_text_input", "action_id": "category", "max_length": 100}


def _state(*, owner: str | None, flagged_by: str = FLAGGER) -> IncidentState:
    now = datetime(2026, 11, 2, 10, 0, tzinfo=timezone.utc)
    return IncidentState(id=1, workspace_id="T1", number=4, status=Status.OPEN, current_step=StepKey.CLAIM, step_seq=0,
                         step_started_at=now, step_due_at=None, created_at=now, flagged_by=flagged_by, summary="s",
                         origin_channel="C1", origin_ts="1.2", card_channel="C1", owner_id=owner)


@pytest.mark.parametrize("state, leads, line", [
    (_state(owner=None), frozenset(), f"Only <@{FLAGGER}> (who flagged it) or a lead can edit the details of #4."),
    (_state(owner=FLAGGER), frozenset({"UL1", "UL2"}),
     f"Only <@{FLAGGER}> (its owner, who flagged it) or a lead (<@UL1>, <@UL2>) can edit the details of #4."),
    (_state(owner=OWNER, flagged_by="UL1"), frozenset({"UL1", "UL2"}),
     f"Only <@{OWNER}> (its owner), <@UL1> (who flagged it, a lead) or <@UL2> (a lead) can edit the details of #4."),
])
def test_the_refusal_names_each_person_who_may_edit_once(state, leads, line):
    refusal = may(state, Actor(STRANGER), Intent.EDIT, now=state.created_at, playbook=DEFAULT_PLAYBOOK, leads=leads)
    assert refusal == Refusal(line)
    assert may(state, Actor(state.flagged_by), Intent.EDIT, now=state.created_at, playbook=DEFAULT_PLAYBOOK) is None
    assert may(state, Actor(STRANGER, is_lead=True), Intent.EDIT, now=state.created_at,
               playbook=DEFAULT_PLAYBOOK) is None


def test_with_a_recovery_channel_the_offer_comes_as_a_dm(make_bot, settings):
    """The card went elsewhere, so nothing checked whether the flagged channel is shared with
    the customer: the offer stays out of it."""
    bot = make_bot(replace(settings, recovery_channel="CREC"))
    flag_by_reaction(bot, "C1", "My parcel never came", user=FLAGGER)
    bot.settle()
    assert bot.fake.ephemerals() == []
    (offer,) = bot.fake.messages(f"D{FLAGGER}")
    assert offer.text == OFFER
    view = _form(bot, lambda: bot.slack.click(offer, "Add details", user=FLAGGER))
    assert bot.slack.submit(view, _as_filled(view, severity="low"), user=FLAGGER).body == ""
    bot.settle()
    assert bot.card(1).blocks[0]["text"]["text"] == "Recovery #1 · LOW: My parcel never came"
