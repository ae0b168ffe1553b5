"""Who the Slack double is talking to: workspaces and their bot tokens, channels, user groups, OAuth.

Kept lenient unless asked: a double that refuses an unregistered token or channel would make
every test register them. Strict mode answers as Slack does: ``invalid_auth`` for a token no
workspace owns, ``channel_not_found`` for a channel the token's workspace cannot see,
``is_archived``, ``not_in_channel`` for a channel the bot has not joined.
"""

from __future__ import annotations

import base64
import binascii
import time
from dataclasses import dataclass, field
from itertools import count as counter
from urllib.parse import parse_qs, urlencode, urlsplit

from bot.devkit.slack_protocol import ApiError, JsonDict, is_dm

# Slack's rotating bot tokens expire every 12 hours (NEXT-WAVE.md §2.1).
ROTATED_TOKEN_SECONDS = 12 * 60 * 60
BOT_SCOPES = "chat:write,commands,reactions:read,reactions:write,channels:history,groups:history,users:read"
APP_ID = "A1"


@dataclass(slots=True)
class Workspace:
    team_id: str
    name: str
    bot_user_id: str
    bot_id: str
    token: str | None = None


@dataclass(slots=True)
class Channel:
    id: str
    team_id: str
    name: str
    members: set[str] = field(default_factory=set)
    is_private: bool = False
    is_im: bool = False
    is_archived: bool = False
    is_shared: bool = False
    is_ext_shared: bool = False
    is_org_shared: bool = False
    created: int = 1_700_000_000

    @property
    def channel_type(self) -> str:
        """The one-letter type Slack puts in member_joined_channel: C public, G private, D DM."""
        return "D" if self.is_im else "G" if self.is_private else "C"

    def info(self, bot_user_id: str) -> JsonDict:
        """As conversations.info words it."""
        return {
            "id": self.id,
            "name": self.name,
            "name_normalized": self.name,
            "is_channel": not self.is_im and not self.is_private,
            "is_group": self.is_private and not self.is_im,
            "is_im": self.is_im,
            "is_mpim": False,
            "is_private": self.is_private or self.is_im,
            "is_archived": self.is_archived,
            "is_general": False,
            "is_member": bot_user_id in self.members,
            "is_shared": self.is_shared,
            "is_ext_shared": self.is_ext_shared,
            "is_org_shared": self.is_org_shared,
            "context_team_id": self.team_id,
            "created": self.created,
        }


@dataclass(frozen=True, slots=True)
class _Grant:
    team_id: str
    token_rotation: bool
    # The redirect_uri the authorize request named, which the exchange must repeat.
    redirect_uri: str | None = None
    org_wide: bool = False


@dataclass(frozen=True, slots=True)
class OAuthApp:
    """The app's credentials and its one registered redirect URL, as its settings page holds them."""

    client_id: str
    client_secret: str
    redirect_uri: str


class ConsentRefused(Exception):
    """Slack's consent page would show an error instead of sending the browser back (its code)."""


class Directory:
    """Workspaces, tokens, channels and user groups; every check the double makes about them."""

    def __init__(self, *, team_id: str, bot_user_id: str) -> None:
        self.default = Workspace(team_id, "Fake Workspace", bot_user_id, "B1")
        self._workspaces: dict[str, Workspace] = {team_id: self.default}
        # Bot user id -> bot id, so that history marks the bot messages of every workspace.
        self.bot_ids: dict[str, str] = {bot_user_id: self.default.bot_id}
        self._tokens: dict[str, tuple[str, float | None]] = {}
        self._channels: dict[str, Channel] = {}
        self._usergroups: dict[str, tuple[str, list[str]]] = {}
        # User id -> (team id, display name, real name): who users.info knows.
        self._users: dict[str, tuple[str, str, str]] = {}
        # User id -> "admin" or "owner": the workspace's admins and owners among them.
        self._roles: dict[str, str] = {}
        self._codes: dict[str, _Grant] = {}
        # Set: oauth.v2.access checks the app's credentials and redirect URL, as Slack does.
        self.oauth_app: OAuthApp | None = None
        self._refresh_tokens: dict[str, str] = {}
        # Token -> what Slack answers it since the workspace revoked it or removed the app.
        self._revoked: dict[str, str] = {}
        self._serial = counter(1)

    # Registration

    def add_workspace(
        self, team_id: str, *, token: str, bot_user_id: str | None = None, name: str | None = None
    ) -> Workspace:
        workspace = self._workspaces.get(team_id)
        if workspace is None:
            workspace = Workspace(team_id, name or f"Workspace {team_id}", bot_user_id or f"UBOT{team_id}",
                                  f"B{team_id}")
            self._workspaces[team_id] = workspace
            self.bot_ids[workspace.bot_user_id] = workspace.bot_id
        workspace.token = token
        self._tokens[token] = (team_id, None)
        self._revoked.pop(token, None)
        return workspace

    def add_channel(self, channel: Channel) -> Channel:
        if channel.team_id not in self._workspaces:
            raise ValueError(f"Unknown workspace {channel.team_id}: add_workspace() it first.")
        self._channels[channel.id] = channel
        return channel

    def channel(self, channel_id: str) -> Channel:
        found = self._channels.get(channel_id)
        if found is None:
            raise ValueError(f"Unknown channel {channel_id}: add_channel() it first.")
        return found

    def add_usergroup(self, usergroup_id: str, users: list[str], team_id: str) -> None:
        self._usergroups[usergroup_id] = (team_id, list(users))

    def add_user(self, user_id: str, *, team_id: str, display_name: str, real_name: str,
                 role: str | None = None) -> None:
        if team_id not in self._workspaces:
            raise ValueError(f"Unknown workspace {team_id}: add_workspace() it first.")
        if role not in (None, "admin", "owner"):
            raise ValueError(f"role is admin, owner or None, not {role!r}")
        self._users[user_id] = (team_id, display_name, real_name)
        if role is None:
            self._roles.pop(user_id, None)
        else:
            self._roles[user_id] = role

    def role(self, user_id: str) -> str | None:
        """"admin", "owner" or None (a member), as users.info's is_admin and is_owner say."""
        return self._roles.get(user_id)

    def user(self, user_id: str, workspace: Workspace) -> tuple[str, str]:
        """(display name, real name) of a person of ``workspace``, as users.info sees them: a
        user never added, or of another workspace, is ``user_not_found``, as in Slack. The
        bot is its workspace's own user."""
        if user_id == workspace.bot_user_id:
            return "", workspace.name
        team_id, display_name, real_name = self._users.get(user_id, ("", "", ""))
        if team_id != workspace.team_id:
            raise ApiError("user_not_found")
        return display_name, real_name

    def add_oauth_code(self, code: str, *, team_id: str, token_rotation: bool) -> None:
        if team_id not in self._workspaces:
            raise ValueError(f"Unknown workspace {team_id}: add_workspace() it first.")
        self._codes[code] = _Grant(team_id, token_rotation)

    # Checks, made under the double's lock

    def team_of(self, token: str | None) -> str:
        """The team whose rate limits a call counts against; never refuses (that comes later)."""
        owner = self._tokens.get(token or "")
        return owner[0] if owner else self.default.team_id

    def workspace_for(self, token: str | None, *, strict: bool, now: float) -> Workspace:
        """The workspace a token belongs to; lenient mode lends any other token the default one."""
        owner = self._tokens.get(token or "")
        if owner is None:
            if strict:
                raise ApiError("invalid_auth")
            return self.default
        team_id, expires_at = owner
        if token in self._revoked:
            raise ApiError(self._revoked[token])
        if expires_at is not None and now >= expires_at:
            raise ApiError("token_expired")
        return self._workspaces[team_id]

    def check_channel(self, channel_id: str, workspace: Workspace, *, strict: bool, writing: bool) -> None:
        """Refuse a channel as Slack would. Another workspace's channel is never visible, in either mode."""
        if is_dm(channel_id):
            return
        channel = self._channels.get(channel_id)
        if channel is None:
            if strict:
                raise ApiError("channel_not_found")
            return
        if channel.team_id != workspace.team_id:
            raise ApiError("channel_not_found")
        if not strict:
            return
        if writing and channel.is_archived:
            raise ApiError("is_archived")
        if workspace.bot_user_id not in channel.members:
            raise ApiError("not_in_channel")

    def check_member(self, channel_id: str, user: str, *, strict: bool) -> None:
        """chat.postEphemeral: the person must be in the channel to see it."""
        channel = self._channels.get(channel_id)
        if strict and channel is not None and user not in channel.members:
            raise ApiError("user_not_in_channel")

    def channel_info(self, channel_id: str, workspace: Workspace, *, strict: bool) -> JsonDict:
        """A public channel needs no membership to be described; a private one hides from outsiders."""
        channel = self._channels.get(channel_id)
        if channel is None:
            if strict and not is_dm(channel_id):
                raise ApiError("channel_not_found")
            # Lenient: a public channel the bot is in, or the bot's DM.
            channel = Channel(channel_id, workspace.team_id, channel_id.lower(), {workspace.bot_user_id},
                              is_im=is_dm(channel_id))
        hidden = strict and channel.is_private and workspace.bot_user_id not in channel.members
        if channel.team_id != workspace.team_id or hidden:
            raise ApiError("channel_not_found")
        return channel.info(workspace.bot_user_id)

    def usergroup_users(self, usergroup_id: str, workspace: Workspace) -> list[str]:
        team_id, users = self._usergroups.get(usergroup_id, ("", []))
        if team_id != workspace.team_id:
            raise ApiError("no_such_subteam")
        return list(users)

    # OAuth

    def approve(self, authorize_url: str, *, team_id: str, org_wide: bool = False,
                token_rotation: bool = False) -> str:
        """Someone pressed Allow on Slack's consent page reached by ``authorize_url``: the URL Slack
        sends the browser back to, with a one-time code and the state it was given."""
        app = self.oauth_app
        if app is None:
            raise ValueError("No app registered: register_oauth_app() first.")
        if team_id not in self._workspaces:
            raise ValueError(f"Unknown workspace {team_id}: add_workspace() it first.")
        query = {name: values[0] for name, values in parse_qs(urlsplit(authorize_url).query).items()}
        if query.get("client_id") != app.client_id:
            raise ConsentRefused("invalid_client_id")
        redirect = query.get("redirect_uri")
        if redirect is not None and redirect != app.redirect_uri:
            raise ConsentRefused("bad_redirect_uri")
        code = f"code-{next(self._serial)}"
        self._codes[code] = _Grant(team_id, token_rotation, redirect_uri=redirect, org_wide=org_wide)
        back = {"code": code, **({"state": query["state"]} if "state" in query else {})}
        return f"{redirect or app.redirect_uri}?{urlencode(back)}"

    def _check_app(self, params: JsonDict, credentials: str | None, grant: _Grant | None) -> None:
        """Slack's checks of an exchange, in its order: who the app is, then where it sent the browser."""
        app = self.oauth_app
        if app is None:
            return
        client_id, client_secret = _basic(credentials)
        client_id = client_id or str(params.get("client_id") or "")
        client_secret = client_secret or str(params.get("client_secret") or "")
        if client_id != app.client_id:
            raise ApiError("invalid_client_id")
        if client_secret != app.client_secret:
            raise ApiError("bad_client_secret")
        given = params.get("redirect_uri") or None
        if (given is not None and given != app.redirect_uri) or (grant is not None and grant.redirect_uri != given
                                                                  and grant.redirect_uri is not None):
            raise ApiError("bad_redirect_uri")

    def exchange(self, params: JsonDict, *, now: float, credentials: str | None = None) -> JsonDict:
        """oauth.v2.access: a one-time code, or with rotation a one-time refresh token, for a bot token.
        ``credentials``: the request's Authorization header (the app's client id and secret)."""
        grant = self._codes.get(str(params.get("code") or ""))
        self._check_app(params, credentials, grant)
        if params.get("grant_type") == "refresh_token":
            team_id = self._refresh_tokens.pop(str(params.get("refresh_token") or ""), None)
            if team_id is None:
                raise ApiError("invalid_refresh_token")
            return self._grant(self._workspaces[team_id], rotation=True, now=now)
        grant = self._codes.pop(str(params.get("code") or ""), None)
        if grant is None:
            raise ApiError("invalid_code")
        answer = self._grant(self._workspaces[grant.team_id], rotation=grant.token_rotation, now=now)
        if grant.org_wide:
            # An Enterprise Grid org-wide install: the organization, no one workspace.
            answer |= {"team": None, "enterprise": {"id": f"E{grant.team_id}", "name": "Fake Grid"},
                       "is_enterprise_install": True}
        return answer

    def _grant(self, workspace: Workspace, *, rotation: bool, now: float) -> JsonDict:
        answer: JsonDict = {
            "app_id": APP_ID,
            "authed_user": {"id": "U1"},
            "scope": BOT_SCOPES,
            "token_type": "bot",
            "bot_user_id": workspace.bot_user_id,
            "team": {"id": workspace.team_id, "name": workspace.name},
            "enterprise": None,
            "is_enterprise_install": False,
        }
        if not rotation:
            if workspace.token is None:
                workspace.token = f"xoxb-{workspace.team_id}-{next(self._serial)}"
                self._tokens[workspace.token] = (workspace.team_id, None)
            return {**answer, "access_token": workspace.token}
        serial = next(self._serial)
        token, refresh = f"xoxe.xoxb-1-{workspace.team_id}-{serial}", f"xoxe-1-{workspace.team_id}-{serial}"
        self._tokens[token] = (workspace.team_id, now + ROTATED_TOKEN_SECONDS)
        self._refresh_tokens[refresh] = workspace.team_id
        workspace.token = token
        return {**answer, "access_token": token, "refresh_token": refresh, "expires_in": ROTATED_TOKEN_SECONDS}

    def revoke(self, team_id: str, *, error: str) -> None:
        """Every bot token and refresh token the workspace was given answers ``error`` from now
        on, as Slack's do once the app is removed (``invalid_auth``) or they are revoked
        (``token_revoked``). A token added or granted later works."""
        for token, (owner, _) in self._tokens.items():
            if owner == team_id:
                self._revoked[token] = error
        for refresh, owner in list(self._refresh_tokens.items()):
            if owner == team_id:
                del self._refresh_tokens[refresh]
        if team_id in self._workspaces:
            self._workspaces[team_id].token = None

    def lifecycle_event(self, team_id: str, kind: str) -> JsonDict:
        """The event_callback Slack sends the app when it is removed from the workspace
        (``app_uninstalled``) or the workspace's bot token is revoked (``tokens_revoked``)."""
        workspace = self._workspaces[team_id]
        event: JsonDict = {"type": kind, "event_ts": f"{time.time():.6f}"}
        if kind == "tokens_revoked":
            event["tokens"] = {"oauth": [], "bot": [workspace.bot_user_id]}
        now = time.time()
        return {"token": "legacy", "team_id": team_id, "api_app_id": APP_ID, "event": event,
                "type": "event_callback", "event_id": f"EvLIFE{next(self._serial)}", "event_time": int(now)}

    def member_joined(self, channel_id: str, *, inviter: str) -> JsonDict:
        """Make the bot a member; the event Slack then sends the app (event_callback envelope)."""
        channel = self.channel(channel_id)
        workspace = self._workspaces[channel.team_id]
        channel.members.add(workspace.bot_user_id)
        serial = next(self._serial)
        now = time.time()
        return {
            "token": "legacy",
            "team_id": workspace.team_id,
            "api_app_id": APP_ID,
            "event": {
                "type": "member_joined_channel",
                "user": workspace.bot_user_id,
                "channel": channel.id,
                "channel_type": channel.channel_type,
                "team": workspace.team_id,
                "inviter": inviter,
                "event_ts": f"{now:.6f}",
            },
            "type": "event_callback",
            "event_id": f"EvJOIN{serial}",
            "event_time": int(now),
        }


def _basic(credentials: str | None) -> tuple[str, str]:
    """(client id, client secret) of an ``Authorization: Basic`` header; empty when there is none."""
    if not credentials or not credentials.startswith("Basic "):
        return "", ""
    try:
        decoded = base64.b64decode(credentials.removeprefix("Basic ").strip()).decode()
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    client_id, _, client_secret = decoded.partition(":")
    return client_id, client_secret
