"""Installing the bot in a workspace: Bolt's OAuth flow on our database, with our pages.

GET /slack/install sends the browser to Slack's consent page with the manifest's bot scopes
and a one-time ``state``, kept in slack_sdk's state table (any replica may get the way back)
and in Bolt's state cookie (the same browser must come back). GET /slack/oauth_redirect checks
both, exchanges Slack's code for the workspace's bot token (oauth.v2.access) and saves it in
slack_sdk's installation store, which bot/tokens.py reads for every Slack call.

What people see is a short page in plain words, never Bolt's default one. A state that is
wrong, reused or past its ten minutes installs nothing. An Enterprise Grid org-wide install
is refused after Slack's answer and before anything is stored: the bot keeps its data per
workspace, so it is installed in each workspace of the organization instead.
"""
from __future__ import annotations

import html
import logging
from collections.abc import Callable
from pathlib import Path

import yaml
from slack_bolt.error import BoltError
from slack_bolt.oauth import OAuthFlow
from slack_bolt.oauth.callback_options import CallbackOptions, FailureArgs, SuccessArgs
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk import WebClient
from slack_sdk.oauth.installation_store import Installation, InstallationStore
from slack_sdk.oauth.state_store import OAuthStateStore

from storage.slack_oauth import STATE_EXPIRY_SECONDS

log = logging.getLogger(__name__)

INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
MANIFEST = Path(__file__).resolve().parent.parent / "manifest.yml"
# Slack's consent page; a double is given its own address.
AUTHORIZE_URL = "https://slack.com/oauth/v2/authorize"
# Bolt's names for a state the browser or the table does not vouch for.
_BAD_STATE = frozenset({"invalid_browser", "invalid_state"})

OnInstalled = Callable[[str], None]


class OrgWideInstall(BoltError):
    """Slack granted an org-wide (Enterprise Grid) install, which this bot does not take."""


def manifest_scopes(path: Path = MANIFEST) -> list[str]:
    """The bot scopes the app's manifest asks for: one list, where Slack reads it too."""
    manifest = yaml.safe_load(path.read_text(encoding="utf-8"))
    return list(manifest["oauth_config"]["scopes"]["bot"])


class _WorkspaceOnlyFlow(OAuthFlow):
    """Bolt's flow, refusing org-wide installs before they are stored."""

    def store_installation(self, request: BoltRequest, installation: Installation) -> None:
        if installation.is_enterprise_install:
            raise OrgWideInstall(f"org-wide install for {installation.enterprise_id} refused")
        super().store_installation(request, installation)


def make_oauth_flow(*, client_id: str, client_secret: str, installations: InstallationStore,
                    states: OAuthStateStore, client: WebClient, on_installed: OnInstalled = lambda team_id: None,
                    scopes: list[str] | None = None, authorize_url: str = AUTHORIZE_URL) -> OAuthFlow:
    """``client`` reaches the Web API (oauth.v2.access, auth.test); ``on_installed(team_id)`` runs
    after an install is stored (a reinstalled workspace resumes there)."""
    flow = _WorkspaceOnlyFlow(client=client, logger=logging.getLogger("recovery.oauth"), settings=OAuthSettings(
        client_id=client_id, client_secret=client_secret, scopes=scopes if scopes is not None else manifest_scopes(),
        installation_store=installations, state_store=states, state_expiration_seconds=STATE_EXPIRY_SECONDS,
        install_path=INSTALL_PATH, redirect_uri_path=REDIRECT_PATH, install_page_rendering_enabled=False,
        authorization_url=authorize_url,
        callback_options=CallbackOptions(success=lambda args: _installed(args, on_installed), failure=_not_installed)))
    return flow


def _installed(args: SuccessArgs, on_installed: OnInstalled) -> BoltResponse:
    installation = args.installation
    team = installation.team_name or installation.team_id or "your workspace"
    log.info("installed in workspace %s (%s)", installation.team_id, installation.team_name)
    if installation.team_id:
        on_installed(installation.team_id)
    return _page(args.settings, 200, f"recovery-bot is installed in {html.escape(team)}. Invite it to your support "
                                     "channels: <code>/invite @recovery-bot</code> in each channel where complaints "
                                     "are flagged, and it is ready.")


def _not_installed(args: FailureArgs) -> BoltResponse:
    again = f'Start again from <a href="{INSTALL_PATH}">{INSTALL_PATH}</a>.'
    if isinstance(args.error, OrgWideInstall):
        log.warning("install refused: %s", args.error)
        return _page(args.settings, 403, "recovery-bot is installed in one workspace at a time, not in a whole "
                                         "Enterprise Grid organization, and nothing was installed. Install it in "
                                         f"each workspace, choosing that workspace on Slack's page. {again}")
    log.warning("install failed: %s", args.reason)
    if args.reason in _BAD_STATE:
        return _page(args.settings, 400, f"This install link has expired or was already used. {again}")
    if args.reason == "access_denied":
        return _page(args.settings, 200, f"recovery-bot was not installed: the install was cancelled. {again}")
    status = 500 if args.reason == "storage_error" else 400
    return _page(args.settings, status, f"recovery-bot was not installed: Slack did not accept the install "
                                        f"({html.escape(args.reason)}). {again}")


def _page(settings: OAuthSettings, status: int, words: str) -> BoltResponse:
    """A page of one paragraph; the state cookie goes whatever happened (a state is used once)."""
    body = (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>recovery-bot</title></head>"
            f"<body><p>{words}</p></body></html>\n")
    return BoltResponse(status=status, body=body, headers={
        "Content-Type": "text/html; charset=utf-8",
        "Set-Cookie": [settings.state_utils.build_set_cookie_for_deletion()]})
