"""Modals: flagging a complaint and choosing an assignee. Field names live here so the
handler that reads a submission and the view that draws it cannot drift apart."""
from __future__ import annotations

import json
from decimal import Decimal

from slack_sdk.models.blocks import (
    InputBlock, NumberInputElement, Option, PlainTextInputElement, SectionBlock, MarkdownTextObject,
    StaticSelectElement, UserSelectElement,
)
from slack_sdk.models.views import View

from bot.domain.types import BUY_AGAIN_ANSWERS, CONTACT_CHANNELS, REMEDY_KINDS, IncidentState, Severity

__all__ = ["CONTACT_CHANNELS"]
from bot.views import ids
from bot.domain.money import currency_symbol, format_amount
from bot.domain.parsing import CSAT_RANGE, MAX_TYPED_AMOUNT
from bot.domain.steps import needs_approval
from bot.domain.text import cut, safe

SUMMARY = "summary"
CUSTOMER = "customer_name"
CONTACT = "contact_channel"
SEVERITY = "severity"
CATEGORY = "category"
SUMMARY_MAX = 300


def flag_modal(*, callback_id: str, metadata: dict, excerpt: str | None, summary_required: bool,
               root_causes: tuple[str, ...], initial: IncidentState | None = None, title: str = "Flag as complaint",
               submit: str = "Flag") -> View:
    """The flag form; with ``initial``, the same form pre-filled from an incident (Edit details).
    The category is chosen from the playbook's root causes, the list the fix step records, so
    the digest counts one taxonomy; a playbook without root causes keeps it free text."""
    blocks = []
    if excerpt:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=cut("> " + safe(excerpt, 2900), 3000))))
    summary = (initial.summary or initial.excerpt)[:SUMMARY_MAX] if initial else ""
    blocks += [
        InputBlock(block_id=SUMMARY, label="Summary", optional=not summary_required,
                   element=PlainTextInputElement(action_id=SUMMARY, max_length=SUMMARY_MAX,
                                                 placeholder="What went wrong for the customer?",
                                                 initial_value=summary or None)),
        InputBlock(block_id=CUSTOMER, label="Customer name", optional=True,
                   element=PlainTextInputElement(action_id=CUSTOMER, max_length=200,
                                                 initial_value=initial.customer_name if initial else None)),
        InputBlock(block_id=CONTACT, label="Contact channel", optional=True,
                   hint="Reply on the channel the customer chose.",
                   element=_choice(CONTACT, CONTACT_CHANNELS, initial.contact_channel if initial else None)),
        InputBlock(block_id=SEVERITY, label="Severity", optional=True,
                   element=_choice(SEVERITY, tuple(severity.value for severity in Severity),
                                   initial.severity.value if initial else None)),
        InputBlock(block_id=CATEGORY, label="Category", optional=True, element=_category(
            root_causes, initial.category if initial else None)),
    ]
    return View(type="modal", callback_id=callback_id, title=cut(title, 24), submit=submit,
                close="Cancel", private_metadata=json.dumps(metadata), blocks=blocks)


def edit_details_modal(state: IncidentState, *, root_causes: tuple[str, ...]) -> View:
    """Edit details: the flag form, filled in as the card reads, the complaint quoted."""
    return flag_modal(callback_id=ids.EDIT_DETAILS_MODAL, excerpt=state.excerpt or None, summary_required=True,
                      root_causes=root_causes, initial=state, title=f"Details of {state.ref}",
                      submit=ids.LABEL_SAVE_DETAILS, metadata={"incident_id": state.id})


def _choice(action_id: str, choices: tuple[str, ...], initial: str | None) -> StaticSelectElement:
    """A select whose initial option is one of its options, as Slack requires."""
    options = [Option(text=cut(choice, 75), value=choice[:150]) for choice in choices[:100]]
    chosen = next((option for option, choice in zip(options, choices) if choice == initial), None)
    return StaticSelectElement(action_id=action_id, options=options, initial_option=chosen)


def _category(root_causes: tuple[str, ...], current: str | None) -> StaticSelectElement | PlainTextInputElement:
    """The root causes; an incident's own category from an older playbook stays choosable."""
    if not root_causes:
        return PlainTextInputElement(action_id=CATEGORY, max_length=100, initial_value=current or None)
    choices = root_causes if current is None or current in root_causes else (*root_causes, current)
    return _choice(CATEGORY, choices, current)


def assign_modal(*, incident_id: int, ref: str) -> View:
    return View(
        type="modal", callback_id=ids.ASSIGN_MODAL, title=cut(f"Assign {ref}", 24), submit="Assign",
        close="Cancel", private_metadata=json.dumps({"incident_id": incident_id}),
        blocks=[InputBlock(block_id=ids.ASSIGN_USER_BLOCK, label="New owner",
                           element=UserSelectElement(action_id=ids.ASSIGN_USER_ACTION))],
    )


ROOT_CAUSE = "root_cause"
FIX_NOTE = "fix_note"
REMEDY_KIND = "remedy_kind"
AMOUNT = "amount"
REMEDY_NOTE = "remedy_note"
CSAT = "csat"
BUY_AGAIN = "buy_again"
FOLLOW_UP_NOTE = "follow_up_note"
REASON = "reason"


def _step_metadata(incident_id: int, seq: int) -> str:
    return json.dumps({"incident_id": incident_id, "seq": seq})


def _select(block_id: str, label: str, choices: tuple[str, ...] | list[str], *, hint: str | None = None,
            initial: str | None = None, dispatch: bool = False) -> InputBlock:
    options = [Option(text=cut(choice, 75), value=choice[:150]) for choice in choices[:100]]
    chosen = next((option for option in options if option.value == initial), None)
    return InputBlock(block_id=block_id, label=label, hint=hint, dispatch_action=dispatch or None,
                      element=StaticSelectElement(action_id=block_id, options=options, initial_option=chosen))


def _text(block_id: str, label: str, *, multiline: bool = False, optional: bool = False,
          placeholder: str | None = None, max_length: int = 2000) -> InputBlock:
    return InputBlock(block_id=block_id, label=label, optional=optional, element=PlainTextInputElement(
        action_id=block_id, multiline=multiline, placeholder=placeholder, max_length=max_length))


def _known_cause(category: str | None, root_causes: tuple[str, ...]) -> str | None:
    """The root cause a flag's category names, if it names one (as the fix step reads a root
    cause: whatever the case): the flag and the fix speak of causes with one list of words."""
    wanted = (category or "").strip().casefold()
    return next((cause for cause in root_causes if cause.casefold() == wanted), None) if wanted else None


def fix_modal(*, incident_id: int, seq: int, ref: str, root_causes: tuple[str, ...],
              category: str | None = None) -> View:
    """The root cause starts at the flag's category when that is one of the causes: the person
    who flagged it often knew, and the fixer confirms rather than retypes."""
    return View(type="modal", callback_id=ids.FIX_MODAL, title=cut(f"Fix {ref}", 24), submit=ids.LABEL_RECORD_FIX,
                close="Cancel", private_metadata=_step_metadata(incident_id, seq), blocks=[
                    _select(ROOT_CAUSE, "Root cause", root_causes, initial=_known_cause(category, root_causes),
                            hint="The recurring causes show up in the daily digest."),
                    _text(FIX_NOTE, "What was done to fix it", multiline=True)])


def remedy_submit_label(kind: str | None, amount: Decimal | None, *, limit: Decimal, by_lead: bool) -> str:
    """What pressing submit will do with the remedy typed so far: an amount over the limit
    from an agent goes to a lead (the same rule the step applies), a lead's own is given.
    An amount that is not a number yet says "Give remedy": the submission will point at it."""
    if kind == "none":
        return ids.LABEL_RECORD_NO_REMEDY
    if amount is not None and needs_approval(amount, limit, by_lead=by_lead):
        return ids.LABEL_ASK_A_LEAD
    return ids.LABEL_GIVE_REMEDY


def remedy_modal(*, incident_id: int, seq: int, ref: str, limit: Decimal, currency: str,
                 submit: str = ids.LABEL_GIVE_REMEDY) -> View:
    """The kind and the amount dispatch as they change, so the submit label is redrawn
    (`remedy_submit_label`) with the same block and action ids, which keeps what was typed.
    The amount dispatches on each character rather than on Enter: nobody presses Enter in a
    form's number field, and a label that only changed then would say "Give remedy" over an
    amount that will ask a lead."""
    amount = NumberInputElement(action_id=AMOUNT, is_decimal_allowed=True, min_value="0",
                                max_value=f"{MAX_TYPED_AMOUNT:f}", placeholder="0",
                                dispatch_action_config={"trigger_actions_on": ["on_character_entered"]})
    return View(type="modal", callback_id=ids.REMEDY_MODAL, title=cut(f"Make it right {ref}", 24),
                submit=submit, close="Cancel", private_metadata=_step_metadata(incident_id, seq), blocks=[
                    _select(REMEDY_KIND, "Remedy", REMEDY_KINDS, dispatch=True),
                    InputBlock(block_id=AMOUNT, label=f"Amount ({currency_symbol(currency)})", optional=True,
                               hint=f"Over {format_amount(limit, currency)} needs a lead's approval.",
                               dispatch_action=True, element=amount),
                    _text(REMEDY_NOTE, "Note", optional=True, max_length=500)])


def follow_up_modal(*, incident_id: int, seq: int, ref: str) -> View:
    """Satisfaction is a number field from 1 to 10, so Slack refuses "ten" or 11 before it is
    sent; the submission is still checked, for a forged or an old form."""
    return View(type="modal", callback_id=ids.FOLLOW_UP_MODAL, title=cut(f"Follow-up {ref}", 24),
                submit=ids.LABEL_RECORD_FOLLOW_UP, close="Cancel", private_metadata=_step_metadata(incident_id, seq),
                blocks=[
                    InputBlock(block_id=CSAT, label="Satisfaction with the resolution (1-10)",
                               element=NumberInputElement(action_id=CSAT, is_decimal_allowed=False,
                                                          min_value=str(CSAT_RANGE[0]), max_value=str(CSAT_RANGE[1]))),
                    _select(BUY_AGAIN, "Would they buy from us again?", BUY_AGAIN_ANSWERS),
                    _text(FOLLOW_UP_NOTE, "Note", multiline=True, optional=True)])


def reason_modal(*, callback_id: str, incident_id: int, seq: int, title: str, label: str) -> View:
    return View(type="modal", callback_id=callback_id, title=cut(title, 24), submit="Confirm", close="Cancel",
                private_metadata=_step_metadata(incident_id, seq),
                blocks=[_text(REASON, label, multiline=True, max_length=1000)])
