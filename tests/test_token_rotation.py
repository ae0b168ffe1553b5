"""Rotating bot tokens refreshed from the scheduler tick ahead of their 12 hours, once however
many replicas tick; a refresh Slack refuses parks that workspace's messages until a reinstall.

The double's tokens expire on the bot's fake clock here, so moving the clock expires them.
The outbox sends with the environment's one token (lenient tokens): what is checked is which
rows go out; the refreshed token itself is checked against the double.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from itertools import count

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.oauth.installation_store import Installation
from sqlmodel import select

from bot.devkit.clock import FakeClock
from bot.devkit.slack_double import FakeSlack
from bot.devkit.slack_workspaces import ROTATED_TOKEN_SECONDS
from bot.workspaces import installed
from storage.models import OutboxMessage
from storage.slack_oauth import installation_store
from tests.conftest import ServedBot

pytestmark = pytest.mark.workspaces  # their own CI step (pyproject.toml)

A, B = "T1", "T2"
A_CHANNEL, B_CHANNEL = "CA", "CB"
CLIENT_ID, CLIENT_SECRET = "111.222", "client-secret"
_ids = count(1)


@pytest.fixture
def fake_slack(clock: FakeClock) -> Iterator[FakeSlack]:
    """The double on the bot's clock, tokens included: a rotated token expires 12 fake hours on."""
    def now() -> float:
        return clock.now().timestamp()
    with FakeSlack(team_id=A, clock=now, message_clock=now) as fake:
        fake.add_workspace(B, token="xoxb-b-static", name="Bravo")
        yield fake


@pytest.fixture
def rotating(settings):  # noqa: ANN001, ANN201 - Settings
    return replace(settings, slack_client_id=CLIENT_ID, slack_client_secret=CLIENT_SECRET)


def _install(bot: ServedBot, team: str) -> Installation:
    """Install with token rotation on, as the OAuth flow does: a code exchanged for a rotating
    token, saved in the store."""
    code = f"code{next(_ids)}"
    bot.fake.add_oauth_code(code, team_id=team, token_rotation=True)
    answer = WebClient(base_url=bot.fake.api_url).oauth_v2_access(client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                                                                  code=code)
    installation = Installation(
        app_id=answer["app_id"], enterprise_id=None, team_id=team, team_name=answer["team"]["name"],
        bot_token=answer["access_token"], bot_refresh_token=answer["refresh_token"],
        bot_token_expires_at=int(bot.clock.now().timestamp()) + answer["expires_in"], bot_id=f"B{team}",
        bot_user_id=answer["bot_user_id"], bot_scopes=answer["scope"], user_id="U1",
        installed_at=bot.clock.now().timestamp())
    _store(bot).save(installation)
    installed(bot.runtime.db, team, now=bot.clock.now(), team_name=installation.team_name)
    return installation


def _store(bot: ServedBot):  # noqa: ANN202
    return installation_store(bot.runtime.db.engine, client_id=CLIENT_ID)


def _refreshes(bot: ServedBot) -> int:
    return sum(1 for call in bot.fake.attempts("oauth.v2.access") if call.params.get("grant_type") == "refresh_token")


def _works(bot: ServedBot, token: str) -> str | None:
    """None if Slack takes the token, else what it says."""
    try:
        WebClient(token=token, base_url=bot.fake.api_url).auth_test()
    except SlackApiError as refused:
        return refused.response["error"]
    return None


def _flag(bot: ServedBot, team: str, channel: str, summary: str) -> None:
    """`/recovery new` typed in ``channel`` of ``team``."""
    assert bot.slack.command(f"/recovery new {summary}", channel=channel, team=team).status == 200


def _cards(bot: ServedBot, channel: str) -> list[str]:
    return [message.text for message in bot.fake.messages(channel) if message.text.startswith("Recovery #")]


def test_a_rotating_token_is_refreshed_from_the_tick_two_hours_ahead(make_bot, rotating):
    bot = make_bot(rotating)
    first = _install(bot, B)
    bot.clock.advance(timedelta(seconds=ROTATED_TOKEN_SECONDS) - timedelta(hours=2))
    bot.runtime.ticker.tick()
    assert _refreshes(bot) == 0, "exactly two hours ahead is not yet within them"
    bot.clock.advance(timedelta(seconds=1))
    bot.runtime.ticker.tick()
    assert _refreshes(bot) == 1
    bot_row, installation = _store(bot).find_bot(enterprise_id=None, team_id=B), _store(bot).find_installation(
        enterprise_id=None, team_id=B)
    assert bot_row.bot_token.startswith("xoxe.xoxb-") and bot_row.bot_token != first.bot_token
    assert (installation.bot_token, installation.bot_refresh_token) == (bot_row.bot_token, bot_row.bot_refresh_token)
    assert installation.bot_refresh_token != first.bot_refresh_token
    assert bot_row.bot_token_expires_at == int(bot.clock.now().timestamp()) + ROTATED_TOKEN_SECONDS

    bot.clock.advance(timedelta(hours=2))
    assert _works(bot, first.bot_token) == "token_expired"
    assert _works(bot, bot_row.bot_token) is None, "the new token is the one Slack takes"
    bot.runtime.ticker.tick()
    assert _refreshes(bot) == 1, "the new token has 10 hours left: nothing to do"
    _flag(bot, B, B_CHANNEL, "Wrong size")
    bot.settle()
    assert _cards(bot, B_CHANNEL) == ["Recovery #1: Wrong size"]


def test_three_replicas_refresh_once(make_bot, rotating):
    replicas = [make_bot(rotating) for _ in range(3)]
    first = _install(replicas[0], B)
    replicas[0].clock.advance(timedelta(hours=11))
    start = threading.Barrier(3)

    def tick(replica: ServedBot) -> None:
        start.wait()
        replica.runtime.ticker.tick()

    threads = [threading.Thread(target=tick, args=(replica,)) for replica in replicas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for replica in replicas:
        replica.runtime.ticker.tick()
    assert _refreshes(replicas[0]) == 1
    assert [call.params.get("refresh_token") for call in replicas[0].fake.calls("oauth.v2.access")
            if call.params.get("grant_type") == "refresh_token"] == [first.bot_refresh_token]
    token = _store(replicas[0]).find_bot(enterprise_id=None, team_id=B).bot_token
    replicas[0].clock.advance(timedelta(hours=2))
    assert _works(replicas[0], token) is None


def test_a_refused_refresh_parks_the_workspaces_messages_until_a_reinstall(make_bot, rotating, caplog):
    bot = make_bot(rotating)
    _store(bot).save(Installation(app_id="A1", enterprise_id=None, team_id=A, team_name="Alpha", bot_token="xoxb-a-static",
                                  bot_id=f"B{A}", bot_user_id=f"UBOT{A}", user_id="U1",
                                  installed_at=bot.clock.now().timestamp()))  # A's token does not rotate
    first = _install(bot, B)
    # Someone else spent the single-use refresh token (a copy of the database, say).
    WebClient(base_url=bot.fake.api_url).oauth_v2_access(client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                                                         grant_type="refresh_token",
                                                         refresh_token=first.bot_refresh_token)
    bot.clock.advance(timedelta(hours=11))
    with caplog.at_level(logging.ERROR, logger="bot.token_rotation"):
        bot.runtime.ticker.tick()
        bot.runtime.ticker.tick()
    assert [record.getMessage() for record in caplog.records if record.name == "bot.token_rotation"] == [
        "Slack refused to refresh the bot token of workspace T2 (invalid_refresh_token). Nothing more can be "
        "posted there: its messages are kept, parked as token_expired, until someone installs the app in that "
        "workspace again."], "said once, in words; not asked again"
    assert _refreshes(bot) == 2, "ours and the one that spent it"

    _flag(bot, B, B_CHANNEL, "Wrong size")
    _flag(bot, A, A_CHANNEL, "Late parcel")
    bot.settle()
    assert _cards(bot, A_CHANNEL) == ["Recovery #1: Late parcel"], "the other workspace is untouched"
    assert _cards(bot, B_CHANNEL) == []
    with bot.runtime.db.read() as session:
        parked = session.exec(select(OutboxMessage.state, OutboxMessage.last_error)
                              .where(OutboxMessage.workspace_id == B)).all()
    assert parked == [("parked", "token_expired")]

    _install(bot, B)
    bot.settle()
    assert _cards(bot, B_CHANNEL) == ["Recovery #1: Wrong size"], "sent once the app is installed again"
    bot.clock.advance(timedelta(hours=11))
    bot.runtime.ticker.tick()
    assert _refreshes(bot) == 3, "the new installation's token is refreshed as usual"
