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


# The OAuth install, as a browser goes through it: our /slack/install, Slack's consent page
# (the double's approve_install), back to our /slack/oauth_redirect with the state cookie.


def base_url(bot) -> str:  # noqa: ANN001 - a ServedBot
    return bot.url.removesuffix("/slack/events")


def http_get(url: str, cookie: str | None = None) -> tuple[int, dict[str, str], str]:
    """(status, headers in lower case, body) of a GET, redirects not followed."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""),
                           headers={"Cookie": cookie} if cookie else {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read().decode()
    finally:
        connection.close()


def start_install(bot) -> tuple[str, str]:  # noqa: ANN001 - a ServedBot
    """GET /slack/install: Slack's consent page URL and the state cookie."""
    status, headers, _ = http_get(base_url(bot) + "/slack/install")
    assert status == 302
    return headers["location"], headers["set-cookie"].split(";")[0]


def page_text(page: str) -> str:
    """What an install page says, its one paragraph."""
    import re

    return re.search(r"<p>(.*)</p>", page, re.S).group(1)


def oauth_install(bot, fake, team_id: str, **consent) -> tuple[int, str]:  # noqa: ANN001, ANN003
    """Install the bot in ``team_id`` through the whole flow: (status, what the last page says)."""
    consent_page, cookie = start_install(bot)
    status, _, page = http_get(fake.approve_install(consent_page, team_id=team_id, **consent), cookie)
    return status, page_text(page)
