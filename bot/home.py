"""The Home tab a person sees: built at send time from the database (never stale).

A minimal stand-in, with the signature of the real one, so the publishing pipeline
(bot/outbox_home.py) has something to publish: a header and the person's open incidents.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from slack_sdk.models.blocks import HeaderBlock, MarkdownTextObject, SectionBlock

from bot.domain.playbook import Playbook
from bot.domain.types import Policy
from storage import repository
from storage.db import Database

# (card channel, card ts) -> the card's link, built from the workspace's url (auth.test).
CardLinks = Callable[[str, str], str] | None


def home_view(db: Database, *, workspace_id: str, user_id: str, is_lead: bool, now: datetime,  # noqa: ARG001
              playbook: Playbook, policy: Policy, links: CardLinks) -> dict:  # noqa: ARG001
    """The person's Home view, as views.publish takes it."""
    with db.read() as session:
        mine = repository.list_incidents(session, workspace_id=workspace_id, scope="mine", user_id=user_id, now=now)
    refs = ", ".join(state.ref for state in mine)
    line = f"*My incidents:* {len(mine)} open" + (f" ({refs})" if refs else "")
    blocks = [HeaderBlock(text="Recovery"), SectionBlock(text=MarkdownTextObject(text=line))]
    return {"type": "home", "blocks": [block.to_dict() for block in blocks]}
