"""A workspace uninstalls the app (or revokes its bot token): its sends and timers stop at once,
the other workspace's go on; its data is kept, or erased with UNINSTALL_ERASE; a reinstall
picks up where it left off, each message and reminder once.

Workspace A is the double's first (T1), B a second (T2), both talking to one bot through
signed requests. The outbox sends with the environment's one token (lenient tokens): what
is checked is which rows go out.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from itertools import count

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.oauth.installation_store import Installation
from sqlalchemy import func
from sqlmodel import select

from bot.workspaces import installed
from storage import workspace_store
from storage.models import DigestRun, Incident, Notification, OutboxMessage, StepRecord, TimelineEvent
from storage.slack_oauth import installation_store
from tests.conftest import ServedBot

pytestmark = pytest.mark.workspaces  # their own CI step (pyproject.toml)

A, B = "T1", "T2"
A_CHANNEL, B_CHANNEL = "CA", "CB"
CLIENT_ID = "111.222"
_ids = count(1)


@pytest.fixture
def served(make_bot, settings) -> ServedBot:  # noqa: ANN001
    bot = make_bot(replace(settings, slack_client_id=CLIENT_ID, slack_client_secret="client-secret"))
    bot.fake.add_workspace(B, token="xoxb-b-1", name="Bravo")
    _store_install(bot, B, "xoxb-b-1")
    _store_install(bot, A, "xoxb-a-1")
    with bot.runtime.db.transaction() as session:
        for team in (A, B):
            workspace_store.mark(session, team, status=workspace_store.INSTALLED, now=bot.clock.now())
    return bot


def _store_install(bot: ServedBot, team: str, token: str) -> None:
    """What the OAuth flow saves for a workspace it installs in."""
    installation_store(bot.runtime.db.engine, client_id=CLIENT_ID).save(Installation(
        app_id="A1", enterprise_id=None, team_id=team, team_name=team, bot_token=token, bot_id=f"B{team}",
        bot_user_id=f"UBOT{team}", bot_scopes="chat:write", user_id="U1",
        installed_at=bot.clock.now().timestamp()))


def _bot_token(bot: ServedBot, team: str) -> str | None:
    found = installation_store(bot.runtime.db.engine, client_id=CLIENT_ID).find_bot(enterprise_id=None, team_id=team)
    return found.bot_token if found else None


def _flag(bot: ServedBot, team: str, channel: str, summary: str) -> None:
    """`/recovery new` typed in ``channel`` of ``team``."""
    assert bot.slack.command(f"/recovery new {summary}", channel=channel, team=team).status == 200


def _cards(bot: ServedBot, channel: str) -> list[str]:
    return [message.text for message in bot.fake.messages(channel) if message.text.startswith("Recovery #")]


def _alerts(bot: ServedBot, channel: str) -> list[tuple[str, str]]:
    """(card, reminder mark) for every nudge (⏰) and escalation (🚨) in the channel's threads."""
    return [(card.text.split(":")[0], reply.text[0]) for card in bot.fake.messages(channel)
            for reply in bot.fake.thread(channel, card.ts) if reply.text.startswith(("⏰", "🚨"))]


def _reminders_claimed(bot: ServedBot, team: str) -> int:
    with bot.runtime.db.read() as session:
        return session.exec(select(func.count()).select_from(Notification).join(
            Incident, Incident.id == Notification.incident_id).where(Incident.workspace_id == team)).one()


def _outbox_states(bot: ServedBot, team: str) -> list[str]:
    with bot.runtime.db.read() as session:
        return sorted(session.exec(select(OutboxMessage.state).where(OutboxMessage.workspace_id == team)).all())


def test_uninstall_stops_only_that_workspace_and_a_reinstall_resumes_it_once(served):
    bot = served
    _flag(bot, A, A_CHANNEL, "Late parcel")
    _flag(bot, B, B_CHANNEL, "Wrong size")
    bot.settle()
    _flag(bot, B, B_CHANNEL, "Broken zip")  # queued, not sent yet
    bot.clock.advance(timedelta(minutes=10, seconds=1))
    assert bot.runtime.ticker.tick().alerts == 3, "A#1, B#1 and B#2 are owed their nudges, queued"

    assert bot.slack.uninstall(B).status == 200
    assert _bot_token(bot, B) is None, "B's token is gone from the store"
    assert _bot_token(bot, A) == "xoxb-a-1"
    bot.settle()
    assert _cards(bot, A_CHANNEL) == ["Recovery #1: Late parcel"] and _alerts(bot, A_CHANNEL) == [("Recovery #1", "⏰")]
    assert _cards(bot, B_CHANNEL) == ["Recovery #1: Wrong size"], "B's queued card waits"
    assert _alerts(bot, B_CHANNEL) == [], "and so do B's queued nudges"
    assert "dead" not in _outbox_states(bot, B) and "pending" in _outbox_states(bot, B)

    bot.clock.advance(timedelta(minutes=10))
    claimed = _reminders_claimed(bot, B)
    assert bot.runtime.ticker.tick().alerts == 1, "A#1's escalation; none of B's timers fires"
    assert _reminders_claimed(bot, B) == claimed
    bot.settle()
    assert _alerts(bot, A_CHANNEL) == [("Recovery #1", "⏰"), ("Recovery #1", "🚨")]
    assert _alerts(bot, B_CHANNEL) == []

    bot.fake.add_workspace(B, token="xoxb-b-2")
    _store_install(bot, B, "xoxb-b-2")
    installed(bot.runtime.db, B, now=bot.clock.now())
    bot.settle()
    assert _cards(bot, B_CHANNEL) == ["Recovery #1: Wrong size", "Recovery #2: Broken zip"]
    assert _alerts(bot, B_CHANNEL) == [("Recovery #1", "⏰"), ("Recovery #2", "⏰")], "what waited goes, once"
    assert bot.runtime.ticker.tick().alerts == 0, "the escalations B missed do not burst out on reinstall"

    bot.clock.advance(timedelta(minutes=9, seconds=59))
    assert bot.runtime.ticker.tick().alerts == 0
    bot.clock.advance(timedelta(seconds=2))
    assert bot.runtime.ticker.tick().alerts == 2, "B's escalations, 10 minutes on, as they stood at the uninstall"
    bot.settle()
    bot.clock.advance(timedelta(hours=1))
    assert bot.runtime.ticker.tick().alerts == 0
    bot.settle()
    assert _cards(bot, B_CHANNEL) == ["Recovery #1: Wrong size", "Recovery #2: Broken zip"]
    assert _alerts(bot, B_CHANNEL) == [("Recovery #1", "⏰"), ("Recovery #1", "🚨"),
                                       ("Recovery #2", "⏰"), ("Recovery #2", "🚨")]
    assert _alerts(bot, A_CHANNEL) == [("Recovery #1", "⏰"), ("Recovery #1", "🚨")]


def test_a_revoked_bot_token_stops_the_workspace_like_an_uninstall(served):
    bot = served
    _flag(bot, B, B_CHANNEL, "Wrong size")
    assert bot.slack.revoke_tokens(B).status == 200
    _flag(bot, A, A_CHANNEL, "Late parcel")
    bot.settle()
    assert _bot_token(bot, B) is None and _bot_token(bot, A) == "xoxb-a-1"
    assert _cards(bot, B_CHANNEL) == [] and _cards(bot, A_CHANNEL) == ["Recovery #1: Late parcel"]
    with bot.runtime.db.read() as session:
        assert workspace_store.find(session, B).status == "uninstalled"
        assert workspace_store.installed_count(session) == 1
    bot.fake.add_workspace(B, token="xoxb-b-2")
    _store_install(bot, B, "xoxb-b-2")
    installed(bot.runtime.db, B, now=bot.clock.now())
    bot.settle()
    assert _cards(bot, B_CHANNEL) == ["Recovery #1: Wrong size"]
    assert {call.token for call in bot.fake.calls("chat.postMessage") if call.params.get("channel") == B_CHANNEL} == {
        "xoxb-b-2"}, "sent with the new install's token"


def test_the_double_refuses_a_dead_token_as_slack_does(served):
    bot = served
    client = WebClient(token="xoxb-b-1", base_url=bot.fake.api_url)
    assert client.auth_test()["team_id"] == B
    bot.fake.revoke_bot_token(B)
    with pytest.raises(SlackApiError) as refused:
        client.auth_test()
    assert refused.value.response["error"] == "token_revoked"
    bot.fake.add_workspace(B, token="xoxb-b-2")
    bot.fake.uninstall_app(B)
    with pytest.raises(SlackApiError) as refused:
        WebClient(token="xoxb-b-2", base_url=bot.fake.api_url).auth_test()
    assert refused.value.response["error"] == "invalid_auth"


def _rows(bot: ServedBot, model, team: str) -> int:  # noqa: ANN001 - a table model
    with bot.runtime.db.read() as session:
        if hasattr(model, "workspace_id"):
            return session.exec(select(func.count()).select_from(model).where(model.workspace_id == team)).one()
        return session.exec(select(func.count()).select_from(model).join(Incident, Incident.id == model.incident_id)
                            .where(Incident.workspace_id == team)).one()


def test_uninstall_erase_deletes_only_that_workspaces_data(make_bot, settings):
    bot = make_bot(replace(settings, slack_client_id=CLIENT_ID, slack_client_secret="client-secret",
                           uninstall_erase=True))
    bot.fake.add_workspace(B, token="xoxb-b-1")
    _store_install(bot, B, "xoxb-b-1")
    _store_install(bot, A, "xoxb-a-1")
    for summary in ("Wrong size", "Broken zip", "No refund"):
        _flag(bot, B, B_CHANNEL, summary)
        _flag(bot, A, A_CHANNEL, summary)
    bot.settle()
    bot.slack.command("/recovery claim 1", user="U2", channel=A_CHANNEL)
    bot.settle()
    models = (Incident, StepRecord, TimelineEvent, OutboxMessage)
    a_before = {model.__name__: _rows(bot, model, A) for model in models}
    assert all(_rows(bot, model, B) for model in models)

    assert bot.slack.uninstall(B).status == 200
    assert _rows(bot, Incident, B) == 3, "erased by the tick, never in the ack"
    assert bot.runtime.ticker.tick().workspaces_erased == 1
    assert {model.__name__: _rows(bot, model, B) for model in models} == dict.fromkeys(a_before, 0)
    assert {model.__name__: _rows(bot, model, A) for model in models} == a_before
    assert bot.runtime.ticker.tick().workspaces_erased == 0, "done once"

    bot.fake.add_workspace(B, token="xoxb-b-2")
    _store_install(bot, B, "xoxb-b-2")
    installed(bot.runtime.db, B, now=bot.clock.now())
    _flag(bot, B, B_CHANNEL, "Back again")
    bot.settle()
    assert _cards(bot, B_CHANNEL)[-1] == "Recovery #1: Back again", "a fresh start: numbers begin at 1"


def test_uninstall_without_erase_keeps_the_data(served):
    bot = served
    _flag(bot, B, B_CHANNEL, "Wrong size")
    bot.settle()
    bot.slack.uninstall(B)
    assert bot.runtime.ticker.tick().workspaces_erased == 0
    assert _rows(bot, Incident, B) == 1 and _rows(bot, TimelineEvent, B) >= 1
    with bot.runtime.db.read() as session:
        assert session.exec(select(func.count()).select_from(DigestRun)).one() == 0


def test_the_pause_counts_from_the_first_of_slacks_two_events(served):
    """Removing the app, Slack sends tokens_revoked and app_uninstalled; the second must not
    restart the pause, or the reminders owed would come early after the reinstall."""
    bot = served
    _flag(bot, B, B_CHANNEL, "Wrong size")
    bot.settle()
    assert bot.slack.revoke_tokens(B).status == 200
    bot.clock.advance(timedelta(minutes=5))
    assert bot.slack.uninstall(B).status == 200
    bot.clock.advance(timedelta(minutes=5))
    bot.fake.add_workspace(B, token="xoxb-b-2")
    _store_install(bot, B, "xoxb-b-2")
    installed(bot.runtime.db, B, now=bot.clock.now())
    bot.clock.advance(timedelta(minutes=9, seconds=59))
    assert bot.runtime.ticker.tick().alerts == 0, "10 minutes away: the claim's 10 minutes start again"
    bot.clock.advance(timedelta(seconds=2))
    assert bot.runtime.ticker.tick().alerts == 1
    bot.settle()
    assert _alerts(bot, B_CHANNEL) == [("Recovery #1", "⏰")]


def test_single_workspace_mode_resumes_when_slack_takes_the_new_token(make_bot, settings):
    """With SLACK_BOT_TOKEN and no OAuth, reinstalling is a new token and a restart: Slack
    confirming it is the news that the workspace is back."""
    bot = make_bot(settings)
    assert bot.slack.uninstall(A).status == 200
    bot.slack.command("/recovery new Late parcel", channel=A_CHANNEL)
    bot.settle()
    assert _cards(bot, A_CHANNEL) == []
    restarted = make_bot(settings)
    assert restarted.runtime.identity_check.attempt()
    restarted.settle()
    assert _cards(bot, A_CHANNEL) == ["Recovery #1: Late parcel"]
