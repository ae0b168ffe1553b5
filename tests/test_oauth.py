"""Installing in several workspaces: the OAuth dance through HTTP against the strict double,
and every Slack call made with the token of the workspace it is for."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from itertools import count
from urllib.parse import urlsplit
from pathlib import Path

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import update

from bot.devkit.slack_double import FakeSlack
from bot.settings import Settings, SettingsError
from storage import outbox_store
from storage.slack_oauth import STATES_TABLE, store_metadata
from tests.helpers import base_url as _base
from tests.helpers import http_get as _get
from tests.helpers import oauth_install as _install
from tests.helpers import page_text as _paragraph
from tests.helpers import start_install as _start

pytestmark = pytest.mark.workspaces  # their own CI step (pyproject.toml)

_IDS = count(1)
ROOT = Path(__file__).resolve().parent.parent
CLIENT_ID = "111.222"
CLIENT_SECRET = "client-secret"
INSTALLED = ("recovery-bot is installed in {team}. Invite it to your support channels: <code>/invite "
             "@recovery-bot</code> in each channel where complaints are flagged, and it is ready.")
EXPIRED = ('This install link has expired or was already used. Start again from '
           '<a href="/slack/install">/slack/install</a>.')
ORG_WIDE = ("recovery-bot is installed in one workspace at a time, not in a whole Enterprise Grid organization, "
            "and nothing was installed. Install it in each workspace, choosing that workspace on Slack's page. "
            'Start again from <a href="/slack/install">/slack/install</a>.')


@pytest.fixture
def installs(settings: Settings, fake_slack: FakeSlack) -> Settings:
    """Two workspaces in a strict double; the bot set up for installs, no SLACK_BOT_TOKEN."""
    fake_slack.strict(tokens=True, channels=True)
    fake_slack.add_workspace("T2", token="xoxb-T2-granted", bot_user_id="UBOT2", name="Globex")
    fake_slack.add_workspace("T3", token="xoxb-T3-granted", bot_user_id="UBOT3", name="Initech")
    fake_slack.add_channel("C1", team_id="T1", members=["UBOT", "U1"])
    fake_slack.add_channel("C2", team_id="T2", members=["UBOT2", "U2"])
    return replace(settings, slack_bot_token=None, slack_client_id=CLIENT_ID, slack_client_secret=CLIENT_SECRET)


@pytest.fixture
def served(make_bot, installs: Settings, fake_slack: FakeSlack):  # noqa: ANN001, ANN201
    bot = make_bot(installs)
    fake_slack.register_oauth_app(client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                                  redirect_uri=_base(bot) + "/slack/oauth_redirect")
    return bot


def _command(bot, text: str, *, team: str, user: str, channel: str):  # noqa: ANN001, ANN202
    name, _, rest = text.partition(" ")
    return bot.slack.send_form({
        "token": "legacy", "team_id": team, "team_domain": team.lower(), "channel_id": channel,
        "channel_name": "support", "user_id": user, "user_name": user.lower(), "command": name, "text": rest,
        "api_app_id": "A1", "is_enterprise_install": "false",
        "response_url": bot.fake.response_url(f"cmd{next(_IDS)}", user=user, channel=channel),
        "trigger_id": f"{team}.{user}.trigger",
    })


def test_install_asks_slack_for_the_manifests_scopes_with_a_state_in_the_table_and_the_cookie(served):
    consent_page, cookie = _start(served)
    parts = urlsplit(consent_page)
    query = dict(pair.split("=", 1) for pair in parts.query.split("&"))
    assert parts.netloc + parts.path == "slack.com/oauth/v2/authorize"
    assert query["client_id"] == CLIENT_ID
    assert query["scope"].split(",") == [
        "chat:write", "commands", "reactions:read", "reactions:write", "usergroups:read", "channels:history",
        "groups:history", "im:write", "im:history", "channels:read", "groups:read", "users:read", "files:write"]
    assert cookie == f"slack-app-oauth-state={query['state']}"
    with served.runtime.db.read() as session:
        states = session.connection().execute(store_metadata().tables[STATES_TABLE].select()).all()
    assert [row.state for row in states] == [query["state"]]


def test_two_workspaces_install_and_each_gets_its_cards_and_replies_with_its_own_token(served, fake_slack):
    assert _install(served, fake_slack, "T1") == (200, INSTALLED.format(team="Fake Workspace"))
    assert _install(served, fake_slack, "T2") == (200, INSTALLED.format(team="Globex"))
    tokens = served.runtime.tokens
    t1, t2 = tokens.bot_token("T1"), tokens.bot_token("T2")
    assert t2 == "xoxb-T2-granted" and t1 is not None and t1.startswith("xoxb-T1-")
    assert (tokens.bot("T2").bot_user_id, tokens.bot("T2").bot_id) == ("UBOT2", "BT2")

    assert _command(served, "/recovery new Parcel lost", team="T1", user="U1", channel="C1").status == 200
    assert _command(served, "/recovery new Invoice wrong", team="T2", user="U2", channel="C2").status == 200
    served.settle()
    first, second = fake_slack.messages("C1")[0], fake_slack.messages("C2")[0]
    number = {message.channel: re.match(r"Recovery #(\d+):", message.text).group(1) for message in (first, second)}
    assert _command(served, f"/recovery claim {number['C1']}", team="T1", user="U1", channel="C1").status == 200
    assert _command(served, f"/recovery claim {number['C2']}", team="T2", user="U2", channel="C2").status == 200
    served.settle()

    assert served.thread(first) and served.thread(second)
    tokens_by_channel = {}
    for call in fake_slack.calls("chat.postMessage") + fake_slack.calls("chat.update"):
        tokens_by_channel.setdefault(call.params["channel"], set()).add(call.token)
    assert tokens_by_channel == {"C1": {t1}, "C2": {t2}}


def test_a_token_on_the_other_workspaces_channel_is_refused(served, fake_slack):
    _install(served, fake_slack, "T1")
    _install(served, fake_slack, "T2")
    client = WebClient(token=served.runtime.tokens.bot_token("T1"), base_url=fake_slack.api_url)
    with pytest.raises(SlackApiError) as refused:
        client.chat_postMessage(channel="C2", text="hello")
    assert refused.value.response["error"] == "channel_not_found"


def test_a_form_opens_with_the_token_of_the_workspace_asking(served, fake_slack):
    _install(served, fake_slack, "T1")
    _install(served, fake_slack, "T2")
    assert _command(served, "/recovery new", team="T2", user="U2", channel="C2").status == 200
    assert fake_slack.wait_for(lambda: bool(fake_slack.calls("views.open")))
    assert [call.token for call in fake_slack.calls("views.open")] == ["xoxb-T2-granted"]


def test_a_request_from_a_workspace_never_installed_is_answered_by_bolt_and_stores_nothing(served, fake_slack):
    answer = _command(served, "/recovery new Parcel lost", team="T2", user="U2", channel="C2")
    assert (answer.status, answer.body) == (200, "")
    assert [message.text for message in fake_slack.ephemerals("U2")] == [
        ":warning: We apologize, but for some unknown reason, your installation with this app is no longer "
        "available. Please reinstall this app into your workspace :bow:"]
    assert served.settle() == 0
    assert fake_slack.calls("chat.postMessage") == []


def test_a_row_for_a_workspace_without_install_parks_not_authed_and_goes_once_installed(served, fake_slack):
    with served.runtime.db.transaction() as session:
        outbox_store.enqueue(session, workspace_id="T3", kind="dm", now=served.clock.now(), channel="U3",
                             user_id="U3", payload={"text": "Your digest"})
    served.settle()
    assert fake_slack.calls("chat.postMessage") == []
    with served.runtime.db.read() as session:
        assert outbox_store.counts(session)["parked"] == 1

    assert _install(served, fake_slack, "T3") == (200, INSTALLED.format(team="Initech"))
    served.settle()
    sent = fake_slack.calls("chat.postMessage")
    assert [(call.params["channel"], call.params["text"], call.token) for call in sent] == [
        ("U3", "Your digest", "xoxb-T3-granted")]


def test_a_wrong_state_installs_nothing(served, fake_slack):
    consent_page, _ = _start(served)
    back = fake_slack.approve_install(consent_page, team_id="T2")
    status, _, page = _get(back, "slack-app-oauth-state=someone-elses")
    assert (status, _paragraph(page)) == (400, EXPIRED)
    assert served.runtime.tokens.bot("T2") is None
    assert fake_slack.calls("oauth.v2.access") == []


def test_a_used_install_link_installs_nothing_again(served, fake_slack):
    consent_page, cookie = _start(served)
    back = fake_slack.approve_install(consent_page, team_id="T2")
    assert _get(back, cookie)[0] == 200
    status, _, page = _get(back, cookie)
    assert (status, _paragraph(page)) == (400, EXPIRED)
    assert len(fake_slack.calls("oauth.v2.access")) == 1


def test_an_expired_install_link_installs_nothing(served, fake_slack):
    consent_page, cookie = _start(served)
    states = store_metadata().tables[STATES_TABLE]
    with served.runtime.db.transaction() as session:
        session.connection().execute(update(states).values(
            expire_at=datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(seconds=1)))
    status, _, page = _get(fake_slack.approve_install(consent_page, team_id="T2"), cookie)
    assert (status, _paragraph(page)) == (400, EXPIRED)
    assert served.runtime.tokens.bot("T2") is None


def test_an_org_wide_install_is_refused_and_nothing_is_stored(served, fake_slack):
    assert _install(served, fake_slack, "T2", org_wide=True) == (403, ORG_WIDE)
    assert served.runtime.tokens.bot("T2") is None
    with served.runtime.db.read() as session:
        assert session.connection().execute(store_metadata().tables["slack_installations"].select()).all() == []


def test_the_double_checks_the_apps_credentials_and_redirect_url(served, fake_slack):
    consent_page, _ = _start(served)
    code = dict(pair.split("=", 1) for pair in urlsplit(
        fake_slack.approve_install(consent_page, team_id="T2")).query.split("&"))["code"]
    client = WebClient(base_url=fake_slack.api_url)
    for credentials, error in [((f"{CLIENT_ID}9", CLIENT_SECRET), "invalid_client_id"),
                               ((CLIENT_ID, "guess"), "bad_client_secret")]:
        with pytest.raises(SlackApiError) as refused:
            client.oauth_v2_access(client_id=credentials[0], client_secret=credentials[1], code=code)
        assert refused.value.response["error"] == error
    with pytest.raises(SlackApiError) as refused:
        client.oauth_v2_access(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, code=code,
                               redirect_uri="https://evil.example/back")
    assert refused.value.response["error"] == "bad_redirect_uri"
    assert client.oauth_v2_access(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, code=code)["ok"]
    with pytest.raises(SlackApiError) as refused:
        client.oauth_v2_access(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, code=code)
    assert refused.value.response["error"] == "invalid_code"


@pytest.mark.parametrize("env, line", [
    ({"SLACK_CLIENT_ID": "1.2"}, "SLACK_CLIENT_ID: is set without SLACK_CLIENT_SECRET; installs in several "
                                 "workspaces need both (the app's Basic Information page shows them)"),
    ({"SLACK_CLIENT_SECRET": "s"}, "SLACK_CLIENT_SECRET: is set without SLACK_CLIENT_ID; installs in several "
                                   "workspaces need both (the app's Basic Information page shows them)"),
    ({"SLACK_CLIENT_ID": "1.2", "SLACK_CLIENT_SECRET": "s", "SLACK_BOT_TOKEN": "xoxb-1"},
     "SLACK_BOT_TOKEN: is set together with SLACK_CLIENT_ID and SLACK_CLIENT_SECRET; keep the bot token for one "
     "workspace or the client id and secret for installs in several, not both"),
    ({"SLACK_CLIENT_ID": "1.2", "SLACK_CLIENT_SECRET": "s", "SLACK_APP_TOKEN": "xapp-1"},
     "SLACK_APP_TOKEN: is set together with SLACK_CLIENT_ID and SLACK_CLIENT_SECRET; Slack allows Socket Mode for "
     "internal apps only, so installs in several workspaces run over HTTP: unset SLACK_APP_TOKEN and use `serve`"),
])
def test_client_credentials_are_both_or_neither_and_alone(env: dict[str, str], line: str) -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env(env)
    assert str(error.value) == line


def test_client_credentials_alone_need_no_bot_token() -> None:
    settings = Settings.from_env({"SLACK_CLIENT_ID": "1.2", "SLACK_CLIENT_SECRET": "s", "SLACK_SIGNING_SECRET": "x"})
    assert settings.installs and settings.missing_for_slack(socket_mode=False) == []
    assert "client_secret" not in repr(settings)


def test_serve_with_a_client_id_alone_stops_with_one_line_and_exit_2(tmp_path) -> None:  # noqa: ANN001
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SLACK_", "DATABASE_", "LEAD_"))}
    result = subprocess.run([sys.executable, "-m", "bot", "serve"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=60, env={**env, "PYTHONPATH": str(ROOT), "SLACK_CLIENT_ID": "1.2"})
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "recovery-bot: SLACK_CLIENT_ID: is set without SLACK_CLIENT_SECRET; installs in several workspaces "
        "need both (the app's Basic Information page shows them)"]



def _event(bot, team: str, event: dict):  # noqa: ANN001, ANN202
    return bot.slack.send_json({"token": "legacy", "team_id": team, "api_app_id": "A1", "type": "event_callback",
                                "event_id": f"Ev{next(_IDS)}", "event_time": 1_700_000_000, "event": event})


def test_a_reaction_flag_reads_reacts_and_posts_with_its_workspaces_token(served, fake_slack):
    _install(served, fake_slack, "T1")
    _install(served, fake_slack, "T2")
    complaint = fake_slack.add_user_message("C2", user="UCUST", text="My invoice is wrong")
    assert _event(served, "T2", {"type": "reaction_added", "user": "U2", "reaction": "sos", "item_user": "UCUST",
                                 "item": {"type": "message", "channel": "C2", "ts": complaint.ts},
                                 "event_ts": "1700000000.000100"}).status == 200
    served.settle()
    card = fake_slack.messages("C2")[-1]
    assert re.match(r"Recovery #\d+: My invoice is wrong", card.text)
    assert fake_slack.reactions("C2", complaint.ts) == {"eyes": ["UBOT2"]}
    used = {call.method: call.token for call in fake_slack.calls() if call.method != "oauth.v2.access"
            and call.method != "auth.test"}
    assert used == {method: "xoxb-T2-granted" for method in (
        "conversations.info", "conversations.history", "chat.getPermalink", "chat.postMessage", "reactions.add",
        "chat.postEphemeral")}


def test_the_home_is_published_with_the_token_and_address_of_its_workspace(served, fake_slack):
    _install(served, fake_slack, "T1")
    _install(served, fake_slack, "T2")
    fake_slack.clear()
    assert _event(served, "T2", {"type": "app_home_opened", "user": "U2", "channel": "DU2", "tab": "home",
                                 "event_ts": "1700000000.000200"}).status == 200
    served.settle()
    assert [call.token for call in fake_slack.calls("views.publish")] == ["xoxb-T2-granted"]
    assert [call.token for call in fake_slack.calls("auth.test")] == ["xoxb-T2-granted"]
    assert fake_slack.home("U2")["type"] == "home"
