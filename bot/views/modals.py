"""Modals: flagging a complaint and choosing an assignee. Field names live here so the
handler that reads a submission and the view that draws it cannot drift apart."""
from __future__ import annotations

import json

from slack_sdk.models.blocks import (
    InputBlock, Option, PlainTextInputElement, SectionBlock, MarkdownTextObject, StaticSelectElement,
    UserSelectElement,
)
from slack_sdk.models.views import View

from bot.domain.types import CONTACT_CHANNELS, Severity

__all__ = ["CONTACT_CHANNELS"]
from bot.views import ids
from bot.views.text import cut, safe

SUMMARY = "summary"
CUSTOMER = "customer_name"
CONTACT = "contact_channel"
SEVERITY = "severity"
CATEGORY = "category"
SUMMARY_MAX = 300


def flag_modal(*, callback_id: str, metadata: dict, excerpt: str | None, summary_required: bool) -> View:
    blocks = []
    if excerpt:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=cut("> " + safe(excerpt, 2900), 3000))))
    blocks += [
        InputBlock(block_id=SUMMARY, label="Summary", optional=not summary_required,
                   element=PlainTextInputElement(action_id=SUMMARY, max_length=SUMMARY_MAX,
                                                 placeholder="What went wrong for the customer?")),
        InputBlock(block_id=CUSTOMER, label="Customer name", optional=True,
                   element=PlainTextInputElement(action_id=CUSTOMER, max_length=200)),
        InputBlock(block_id=CONTACT, label="Contact channel", optional=True,
                   hint="Reply on the channel the customer chose.",
                   element=StaticSelectElement(action_id=CONTACT, options=[
                       Option(text=channel, value=channel) for channel in CONTACT_CHANNELS])),
        InputBlock(block_id=SEVERITY, label="Severity", optional=True,
                   element=StaticSelectElement(action_id=SEVERITY, options=[
                       Option(text=severity.value, value=severity.value) for severity in Severity])),
        InputBlock(block_id=CATEGORY, label="Category", optional=True,
                   element=PlainTextInputElement(action_id=CATEGORY, max_length=100)),
    ]
    return View(type="modal", callback_id=callback_id, title="Flag as complaint", submit="Flag",
                close="Cancel", private_metadata=json.dumps(metadata), blocks=blocks)


def assign_modal(*, incident_id: int, ref: str) -> View:
    return View(
        type="modal", callback_id=ids.ASSIGN_MODAL, title=cut(f"Assign {ref}", 24), submit="Assign",
        close="Cancel", private_metadata=json.dumps({"incident_id": incident_id}),
        blocks=[InputBlock(block_id=ids.ASSIGN_USER_BLOCK, label="New owner",
                           element=UserSelectElement(action_id=ids.ASSIGN_USER_ACTION))],
    )
