"""The workspace's Settings modal and its confirmation: one text input per setting, prefilled
with the value in force, each saying whether it is the workspace's own or the environment's.

Inputs are plain text in `.env`'s own syntax (bot/workspace_config.py parses them with the
environment's parsers), so whatever an admin learnt writing `.env` holds here; an emptied
input gives the setting back to the environment.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from slack_sdk.models.blocks import ContextBlock, InputBlock, MarkdownTextObject, PlainTextInputElement
from slack_sdk.models.views import View

from bot.views import ids

TITLE: Final = "Settings"
SUBMIT: Final = "Save"
INTRO: Final = ("Each workspace's own values. Empty a field to go back to the environment's value. "
                "Changes take effect at once and are recorded.")


def settings_modal(rows: Sequence[tuple[str, str, str, str, bool]]) -> View:
    """``rows``: (block id, label, current text, example, from the environment)."""
    blocks: list = [ContextBlock(elements=[MarkdownTextObject(text=INTRO)])]
    for block_id, label, current, example, default in rows:
        hint = ("Default, from the environment." if default else "Set for this workspace.") + f" Like: {example}"
        blocks.append(InputBlock(
            block_id=block_id, label=label, optional=True, hint=hint,
            element=PlainTextInputElement(action_id=block_id, initial_value=current or None,
                                          placeholder=example, max_length=500)))
    return View(type="modal", callback_id=ids.SETTINGS_MODAL, title=TITLE, submit=SUBMIT, close="Cancel",
                blocks=blocks)


def saved_text(changes: Sequence[tuple[str, str]]) -> str:
    """The private confirmation: each change as "label: value" in plain words."""
    if not changes:
        return "Saved. Nothing changed."
    return "Saved. From now on: " + "; ".join(f"{label} {words}" for label, words in changes) + "."
