"""Which bot token speaks for a workspace: SLACK_BOT_TOKEN's one, or the one its install stored.

Every Slack call names its workspace (an outbox row's, a request's team) and asks here for the
token. With SLACK_BOT_TOKEN (``OneToken``) it is the same for all, as before installs existed.
With SLACK_CLIENT_ID and SECRET (``InstalledTokens``) it is the bot row slack_sdk's installation
store keeps for that team (bot/oauth.py writes it). Any replica may rotate or remove that row
(a refresh, an uninstall), so a token read is kept only a few seconds: a replica never sends
long with a token another one has replaced, without a database read per Slack call.

``TokensAuthorize`` is Bolt's authorize on top: Bolt puts the token in ``context.client`` (the
client views.open uses) and the bot's ids in the context (to ignore the bot's own events). It
never calls Slack (see bot/app.py). A team with no install answers None, which Bolt turns into
its own "please reinstall" answer, with nothing stored.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.authorize import Authorize
from slack_bolt.context import BoltContext
from slack_sdk.oauth.installation_store import InstallationStore

from bot.identity import BotIdentity

# How long a token read from the installation store is used before it is read again.
TOKEN_TTL_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class BotCredentials:
    """A workspace's bot token and who the bot is there."""

    token: str
    bot_user_id: str | None = None
    bot_id: str | None = None


class Tokens(Protocol):
    def bot(self, workspace_id: str) -> BotCredentials | None:
        """The workspace's bot credentials, or None when the bot is not installed there."""

    def bot_token(self, workspace_id: str) -> str | None:
        """The token alone."""

    def forget(self, workspace_id: str) -> None:
        """Read the workspace's token again next time (it was just installed or refused)."""


class OneToken:
    """SLACK_BOT_TOKEN for every workspace: the single-workspace mode. The bot's ids are those
    known so far (SLACK_BOT_USER_ID, then auth.test's)."""

    def __init__(self, token: str, identity: BotIdentity) -> None:
        self._token = token
        self._identity = identity

    def bot(self, workspace_id: str) -> BotCredentials | None:
        known = self._identity.known
        return BotCredentials(self._token, bot_user_id=known.user_id, bot_id=known.bot_id)

    def bot_token(self, workspace_id: str) -> str | None:
        return self._token

    def forget(self, workspace_id: str) -> None:
        """Nothing to read again: the token is the environment's."""


class InstalledTokens:
    """Each workspace's token from the installation store, kept TOKEN_TTL_SECONDS. A workspace
    without one is asked again every time, so that an install is used at once."""

    def __init__(self, store: InstallationStore, *, ttl_seconds: float = TOKEN_TTL_SECONDS,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._ttl = ttl_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._kept: dict[str, tuple[BotCredentials, float]] = {}

    def bot(self, workspace_id: str) -> BotCredentials | None:
        now = self._monotonic()
        with self._lock:
            kept = self._kept.get(workspace_id)
        if kept is not None and now - kept[1] < self._ttl:
            return kept[0]
        found = self._store.find_bot(enterprise_id=None, team_id=workspace_id)
        credentials = None
        if found is not None and found.bot_token:
            credentials = BotCredentials(found.bot_token, bot_user_id=found.bot_user_id, bot_id=found.bot_id)
        with self._lock:
            if credentials is None:
                self._kept.pop(workspace_id, None)
            else:
                self._kept[workspace_id] = (credentials, now)
        return credentials

    def bot_token(self, workspace_id: str) -> str | None:
        credentials = self.bot(workspace_id)
        return credentials.token if credentials is not None else None

    def forget(self, workspace_id: str) -> None:
        with self._lock:
            self._kept.pop(workspace_id, None)


class TokensAuthorize(Authorize):
    """Bolt's authorize from ``Tokens``; a class, since Bolt takes a plain function only without
    an OAuth flow."""

    def __init__(self, tokens: Tokens) -> None:
        super().__init__()
        self._tokens = tokens

    def __call__(self, *, context: BoltContext, enterprise_id: str | None, team_id: str | None,
                 user_id: str | None, actor_enterprise_id: str | None = None, actor_team_id: str | None = None,
                 actor_user_id: str | None = None) -> AuthorizeResult | None:
        credentials = self._tokens.bot(team_id or "")
        if credentials is None:
            return None
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, user_id=user_id,
                               bot_token=credentials.token, bot_user_id=credentials.bot_user_id,
                               bot_id=credentials.bot_id)
