"""Rotating bot tokens refreshed from the scheduler tick, once across replicas.

With token rotation on, Slack's bot tokens (``xoxe.xoxb-…``) expire 12 hours after they are
issued. Bolt refreshes one only while authorizing an incoming request, and the scheduler's
nudges and digests have none, so the tick does it: a token expiring within ROTATE_AHEAD is
exchanged (oauth.v2.access, grant_type=refresh_token) for a new one.

A refresh token is single use: two replicas refreshing the same workspace at once would have
Slack refuse the second and could lock the workspace out. So each refresh happens under a
lease on the workspace's row (a conditional UPDATE: one replica gets it, the others skip),
and the expiry is read again once the lease is held, so a replica that waited finds the
token already refreshed. No transaction is held across the call to Slack.

When Slack refuses the refresh (``invalid_refresh_token``), no later tick can do better: that
is logged once, in words, and the workspace's messages park as ``token_expired`` until the
app is installed there again (bot/workspaces.py ``installed``).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import desc, select, update
from sqlmodel import Session

from bot.clock import Clock
from bot.each import each
from storage import workspace_store
from storage.db import Database
from storage.slack_oauth import BOTS_TABLE, INSTALLATIONS_TABLE, store_metadata

log = logging.getLogger(__name__)

ROTATE_AHEAD = timedelta(hours=2)
"""Bolt's own default (token_rotation_expiration_minutes=120)."""
LEASE = timedelta(seconds=60)
"""Longer than the call to Slack can take (the client's timeout), so a lease only runs out
when its holder died."""
REFUSALS = frozenset({"invalid_refresh_token", "token_revoked"})
PARKED_AS = "token_expired"

_TABLES = store_metadata().tables
_BOTS, _INSTALLATIONS = _TABLES[BOTS_TABLE], _TABLES[INSTALLATIONS_TABLE]


@dataclass(frozen=True, slots=True)
class _Bot:
    """The row slack_sdk's store reads a workspace's bot token from (its latest)."""

    id: int
    refresh_token: str | None
    expires_at: datetime | None
    installed_at: datetime


def _naive_utc(moment: datetime) -> datetime:
    """The stores keep naive UTC."""
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


class TokenRotator:
    def __init__(self, *, db: Database, clock: Clock, client: WebClient, client_id: str,
                 client_secret: str) -> None:
        self._db = db
        self._clock = clock
        self._client = client
        self._client_id = client_id
        self._client_secret = client_secret

    def run_due(self) -> int:
        """Refresh every workspace's token that expires soon; how many this process refreshed."""
        soon = _naive_utc(self._clock.now() + ROTATE_AHEAD)
        with self._db.read() as session:
            refused = workspace_store.refused_refresh(session)
            teams = [team for team in self._expiring_teams(session, soon) if team not in refused]
            due = [team for team in teams if self._needs_refresh(self._latest(session, team), soon)]
        return each(due, self.refresh, what=lambda team: f"bot token refresh for {team}")[0]

    def refresh(self, team_id: str) -> bool:
        """Under the workspace's lease: whether this call refreshed its token."""
        now = self._clock.now()
        with self._db.transaction() as session:
            if not workspace_store.take_refresh_lease(session, team_id, now=now, lease_for=LEASE):
                return False
        try:
            with self._db.read() as session:
                bot = self._latest(session, team_id)
            if not self._needs_refresh(bot, _naive_utc(now + ROTATE_AHEAD)):
                return False
            return self._exchange(team_id, bot, now=now)
        finally:
            with self._db.transaction() as session:
                workspace_store.release_refresh_lease(session, team_id)

    def _exchange(self, team_id: str, bot: _Bot, *, now: datetime) -> bool:
        try:
            answer = self._client.oauth_v2_access(client_id=self._client_id, client_secret=self._client_secret,
                                                  grant_type="refresh_token", refresh_token=bot.refresh_token)
        except SlackApiError as error:
            code = str(error.response.get("error") or "")
            if code not in REFUSALS:
                raise
            with self._db.transaction() as session:
                workspace_store.set_token_error(session, team_id, error=PARKED_AS, now=now)
            log.error("Slack refused to refresh the bot token of workspace %s (%s). Nothing more can be posted "
                      "there: its messages are kept, parked as %s, until someone installs the app in that "
                      "workspace again.", team_id, code, PARKED_AS)
            return False
        expires_at = _naive_utc(now + timedelta(seconds=int(answer["expires_in"])))
        values = {"bot_token": answer["access_token"], "bot_refresh_token": answer["refresh_token"],
                  "bot_token_expires_at": expires_at}
        with self._db.transaction() as session:
            # The bot row and the installation row it was saved with change together.
            connection = session.connection()
            connection.execute(update(_BOTS).where(_BOTS.c.id == bot.id).values(values))
            connection.execute(update(_INSTALLATIONS).where(
                _INSTALLATIONS.c.client_id == self._client_id, _INSTALLATIONS.c.enterprise_id.is_(None),
                _INSTALLATIONS.c.team_id == team_id, _INSTALLATIONS.c.installed_at == bot.installed_at,
            ).values(values))
        log.info("workspace %s: bot token refreshed, good until %s UTC", team_id, expires_at)
        return True

    def _expiring_teams(self, session: Session, soon: datetime) -> list[str]:
        return list(session.connection().execute(
            select(_BOTS.c.team_id).where(_BOTS.c.client_id == self._client_id, _BOTS.c.enterprise_id.is_(None),
                                          _BOTS.c.bot_refresh_token.is_not(None),
                                          _BOTS.c.bot_token_expires_at < soon)
            .distinct().order_by(_BOTS.c.team_id)).scalars())

    def _latest(self, session: Session, team_id: str) -> _Bot | None:
        """As the store's find_bot picks it: the latest row with a token."""
        row = session.connection().execute(
            select(_BOTS.c.id, _BOTS.c.bot_refresh_token, _BOTS.c.bot_token_expires_at, _BOTS.c.installed_at)
            .where(_BOTS.c.client_id == self._client_id, _BOTS.c.enterprise_id.is_(None),
                   _BOTS.c.team_id == team_id, _BOTS.c.bot_token.is_not(None))
            .order_by(desc(_BOTS.c.installed_at)).limit(1)).first()
        return None if row is None else _Bot(id=row.id, refresh_token=row.bot_refresh_token,
                                             expires_at=row.bot_token_expires_at, installed_at=row.installed_at)

    @staticmethod
    def _needs_refresh(bot: _Bot | None, soon: datetime) -> bool:
        return bot is not None and bool(bot.refresh_token) and bot.expires_at is not None and bot.expires_at < soon
