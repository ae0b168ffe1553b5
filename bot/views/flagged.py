"""The flagger's private answer after a form: which incident it is and where its card is."""
from __future__ import annotations

from bot.domain.types import IncidentState


def answer_text(state: IncidentState, *, card_link: str | None, again: bool) -> str:
    """The number first, then the card: linked when Slack gave its link, else its channel;
    a card Slack never took (refused, or given up on) is not pointed at."""
    opening = f"This message was already flagged as {state.ref}." if again else f"Flagged as {state.ref}."
    if state.card_ts is None:
        return f"{opening} `/recovery show {state.number}` shows it."
    card = f"<{card_link}|Its card>" if card_link else "Its card"
    return f"{opening} {card} is in <#{state.card_channel}>."
