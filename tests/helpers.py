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


def schema_differences(connection) -> list:  # noqa: ANN001 - a SQLAlchemy Connection
    """What the migrated database lacks or has beyond our models and slack_sdk's OAuth stores'
    tables (storage/slack_oauth.py), each compared on its own tables: [] when equal."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from storage.models import metadata
    from storage.slack_oauth import store_metadata

    differences = []
    for expected in (metadata, store_metadata()):
        names = set(expected.tables)
        context = MigrationContext.configure(connection, opts={
            "include_object": lambda obj, name, type_, *_: type_ != "table" or name in names})
        differences += compare_metadata(context, expected)
    return differences
