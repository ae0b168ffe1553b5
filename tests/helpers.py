"""Small readers for what the bot posted, shared by the test files."""
from __future__ import annotations

from bot.devkit.slack_double import Message


def mrkdwn_texts(message: Message) -> list[str]:
    """Every string Slack parses as mrkdwn: the fallback text and every mrkdwn object."""
    return message.mrkdwn_texts()


def flag_by_reaction(bot, channel: str, text: str, *, user: str) -> Message:  # noqa: ANN001 - a ServedBot
    """A customer's message in ``channel``, flagged by ``user`` with the flag reaction."""
    complaint = bot.fake.add_user_message(channel, user="UCUST", text=text)
    assert bot.slack.react(channel=channel, ts=complaint.ts, user=user).status == 200
    return complaint


def flag_by_command(bot) -> None:  # noqa: ANN001 - a ServedBot
    """Incident #1 (in a fresh database), flagged with `/recovery new` in C1, its card sent."""
    bot.slack.command("/recovery new Customer double charged", channel="C1")
    bot.settle()


def claim_first(bot, owner: str) -> None:  # noqa: ANN001 - a ServedBot
    bot.slack.command("/recovery claim 1", user=owner)
    bot.settle()


def tick(bot) -> int:  # noqa: ANN001 - a ServedBot
    """How many nudges and escalations the tick queued; what it queued is then sent."""
    queued = bot.runtime.ticker.tick().alerts
    bot.settle()
    return queued


def dms(bot, user: str) -> list[Message]:  # noqa: ANN001 - a ServedBot
    """What the bot posted in its DM with ``user``, oldest first."""
    return bot.fake.messages(f"D{user}")
