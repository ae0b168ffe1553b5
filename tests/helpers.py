"""Small readers for what the bot posted, shared by the test files."""
from __future__ import annotations

from bot.devkit.slack_double import Message


def mrkdwn_texts(message: Message) -> list[str]:
    """Every string Slack parses as mrkdwn: the fallback text and every mrkdwn object."""
    found = [message.text]

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn" and isinstance(node.get("text"), str):
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(message.blocks)
    return found


def flag_by_reaction(bot, channel: str, text: str, *, user: str) -> Message:  # noqa: ANN001 - a ServedBot
    """A customer's message in ``channel``, flagged by ``user`` with the flag reaction."""
    complaint = bot.fake.add_user_message(channel, user="UCUST", text=text)
    assert bot.slack.react(channel=channel, ts=complaint.ts, user=user).status == 200
    return complaint
