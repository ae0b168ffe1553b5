"""Who the bot is in Slack: known from settings at once, confirmed by auth.test in the background.

Bolt asks Slack (auth.test) when an App is built, or else on the first request, and fails
when Slack does not answer: the bot could neither start nor answer a command during a
Slack outage, although everything it does first (store the flag, answer the command) needs
only the database. So the App authorizes requests from this object, which never calls
Slack, and a background thread confirms the token with backoff. A token Slack refuses
(revoked, mistyped) is one line in the log and the ``slack`` field of /healthz, not a
traceback at start-up; the bot keeps answering and storing, and sends once it is fixed.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.client import HTTPException

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.backoff import refusal, retry_with_backoff

log = logging.getLogger(__name__)

CONFIRMED = "ok"
UNCONFIRMED = "unconfirmed"
# Installed in many workspaces: each token is its workspace's, checked by its own calls.
PER_WORKSPACE = "per_workspace"


@dataclass(frozen=True, slots=True)
class Identity:
    """What auth.test said, or what settings said before it did."""

    user_id: str | None = None
    name: str | None = None
    bot_id: str | None = None
    team_id: str | None = None
    # The workspace's address (https://acme.slack.com/): links to cards without asking Slack.
    url: str | None = None


class BotIdentity:
    """The bot's identity and the state of its token, shared by request threads and /healthz."""

    def __init__(self, *, user_id: str | None = None) -> None:
        self._lock = threading.Lock()
        self._known = Identity(user_id=user_id)
        self._status = UNCONFIRMED

    @property
    def known(self) -> Identity:
        with self._lock:
            return self._known

    @property
    def status(self) -> str:
        """``ok`` once Slack confirmed the token, ``unconfirmed`` until it answers, else Slack's
        error for the token (``invalid_auth``, ``token_revoked``...)."""
        with self._lock:
            return self._status

    def confirm(self, identity: Identity) -> None:
        with self._lock:
            if self._known.user_id and identity.user_id != self._known.user_id:
                log.warning("SLACK_BOT_USER_ID is %s but Slack says the bot is %s; using Slack's",
                            self._known.user_id, identity.user_id)
            self._known, self._status = identity, CONFIRMED

    def refuse(self, error: str) -> None:
        with self._lock:
            self._status = error

    def per_workspace(self) -> None:
        """Installs, no SLACK_BOT_TOKEN: nothing to confirm for the process as a whole."""
        with self._lock:
            self._status = PER_WORKSPACE


class WorkspaceUrls:
    """Each workspace's address (https://acme.slack.com/), asked of auth.test once with that
    workspace's own token, from the outbox (the Home links cards with it). Slack not answering
    leaves it unknown until the next ask: the Home goes without links meanwhile."""

    def __init__(self, client_of: Callable[[str], WebClient | None]) -> None:
        self._client_of = client_of
        self._lock = threading.Lock()
        self._known: dict[str, str] = {}

    def url(self, workspace_id: str) -> str | None:
        with self._lock:
            known = self._known.get(workspace_id)
        if known is not None:
            return known
        client = self._client_of(workspace_id)
        if client is None:
            return None
        try:
            url = client.auth_test().get("url")
        except (SlackApiError, OSError, HTTPException) as error:
            log.warning("auth.test for workspace %s failed (%s); its Home goes without card links for now",
                        workspace_id, refusal(error) if isinstance(error, SlackApiError) else error.__class__.__name__)
            return None
        if url:
            with self._lock:
                self._known[workspace_id] = str(url)
        return url


class IdentityCheck:
    """auth.test in a daemon thread, until Slack answers it one way or the other."""

    def __init__(self, identity: BotIdentity, client: WebClient,
                 on_confirmed: Callable[[Identity], None] | None = None) -> None:
        self._identity = identity
        self._client = client
        self._on_confirmed = on_confirmed
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._told_unreachable = False
        self.quiet = False  # serve's background confirms too, for itself; its server says so, once

    def start(self) -> None:
        self._thread = threading.Thread(target=retry_with_backoff, args=(self.attempt,),
                                        kwargs={"stop": self._stop}, name="identity-check", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def attempt(self) -> bool:
        """One auth.test; True when Slack gave an answer (either way), False to try again."""
        try:
            answer = self._client.auth_test()
        except SlackApiError as error:
            code = refusal(error)
            if code is None:
                return self._unreachable(f"HTTP {error.response.status_code}")
            self._identity.refuse(code)
            self._say(logging.ERROR, "Slack refused SLACK_BOT_TOKEN (%s): the bot stores flags and answers "
                      "commands but sends nothing to Slack; put a valid bot token in SLACK_BOT_TOKEN and restart",
                      code)
            return True
        except (OSError, HTTPException) as error:
            return self._unreachable(error.__class__.__name__)
        identity = Identity(user_id=answer.get("user_id"), name=answer.get("user"), bot_id=answer.get("bot_id"),
                            team_id=answer.get("team_id"), url=answer.get("url"))
        self._identity.confirm(identity)
        self._say(logging.INFO, "Slack confirmed the bot token: %s (%s) in workspace %s", identity.name,
                  identity.user_id, identity.team_id)
        if self._on_confirmed is not None:
            self._on_confirmed(identity)
        return True

    def _unreachable(self, why: str) -> bool:
        if not self._told_unreachable:
            self._told_unreachable = True
            self._say(logging.WARNING, "Slack's Web API is not answering (%s); the bot runs and stores what "
                      "comes in, and sends once Slack is back", why)
        return False

    def _say(self, level: int, message: str, *args: object) -> None:
        log.log(logging.DEBUG if self.quiet else level, message, *args)
