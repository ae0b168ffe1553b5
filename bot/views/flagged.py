"""The flagger's private answers: after a form, which incident it is and where its card is;
after a reaction, an offer to add the customer's details."""
from __future__ import annotations

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement, MarkdownTextObject, SectionBlock

from bot.domain.types import IncidentState
from bot.views import ids


def answer_text(state: IncidentState, *, card_link: str | None, again: bool) -> str:
    """The number first, then the card: linked when Slack gave its link, else its channel;
    a card Slack never took (refused, or given up on) is not pointed at."""
    opening = f"This message was already flagged as {state.ref}." if again else f"Flagged as {state.ref}."
    if state.card_ts is None:
        return f"{opening} `/recovery show {state.number}` shows it."
    card = f"<{card_link}|Its card>" if card_link else "Its card"
    return f"{opening} {card} is in <#{state.card_channel}>."


def details_offer_text(state: IncidentState) -> str:
    return (f"Flagged as {state.ref}. Add the customer's name, contact channel and severity so the owner can "
            "reply right:")


def details_offer_blocks(state: IncidentState) -> list[Block]:
    """After a reaction flag, which asked nothing: the flagger alone sees it, and it opens the
    form Edit details opens."""
    return [SectionBlock(text=MarkdownTextObject(text=details_offer_text(state))),
            ActionsBlock(block_id="details_offer", elements=[ButtonElement(
                text=ids.LABEL_ADD_DETAILS, action_id=ids.ADD_DETAILS, value=ids.incident_value(state.id),
                accessibility_label=f"Add the customer's details to {state.ref}")])]
