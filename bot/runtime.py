"""Builds the whole process from settings, in one place, for the CLI, the demo and the tests.

Nothing is built at import: every caller says which settings, clock and database it wants.
"""
from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler
from slack_bolt import App
from slack_sdk import WebClient

from bot import parking, workspace_scope, workspaces
from bot.admins import Admins, user_reader
from bot.app import create_app
from bot.card_drawing import card_renderer, prompt_drawer
from bot.clock import Clock, SystemClock
from bot.domain.playbook import DEFAULT_PLAYBOOK, Playbook, load_playbook
from bot.identity import BotIdentity, Identity, IdentityCheck, WorkspaceUrls
from bot.insights import workspace_insights
from bot.leads import Leads, group_reader
from bot.oauth import OnInstalled, make_oauth_flow
from bot.outbox import OutboxSender
from bot.outbox_export import ExportSender
from bot.outbox_home import HomeSender
from bot.outbox_insights import InsightsSender
from bot.pacing import Limits
from bot.scheduler import Ticker, start_scheduler
from bot.service import RecoveryService
from bot.settings import Settings
from bot.slack_api import REQUEST_TIMEOUT_SECONDS, Clients, make_client
from bot.timers import Timers
from bot.token_rotation import TokenRotator
from bot.tokens import InstalledTokens, OneToken, Tokens
from storage.db import Database
from storage.migrate import upgrade
from storage.slack_oauth import installation_store, state_store


def load_playbook_file(path: Path | None) -> Playbook:
    if path is None:
        return DEFAULT_PLAYBOOK
    return load_playbook(path.read_text(encoding="utf-8"), source=f"PLAYBOOK_FILE ({path})")


@dataclass
class Runtime:
    settings: Settings
    db: Database
    service: RecoveryService
    sender: OutboxSender
    ticker: Ticker
    app: App
    identity: BotIdentity
    identity_check: IdentityCheck
    tokens: Tokens
    scheduler: BackgroundScheduler | None = None

    def start_background(self) -> None:
        """The outbox sender and the scheduler tick: what runs besides answering Slack."""
        self.sender.start()
        self.sender.wake()
        self.scheduler = start_scheduler(self.ticker, every_seconds=self.settings.scheduler_tick.total_seconds())

    def confirm_identity(self, *, quiet: bool = False) -> None:
        """auth.test in the background: nothing at start-up waits for Slack. ``quiet``: another
        process of this bot reports what Slack says. With installs there is no one token to
        confirm: each workspace's is checked by its own calls."""
        if self.settings.installs:
            return
        self.identity_check.quiet = quiet
        self.identity_check.start()

    def stop(self) -> None:
        self.identity_check.stop()
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)
        self.sender.stop()
        self.db.dispose()


def migrate_database(url: str) -> None:
    """Bring the schema up to date and close every connection (`serve` forks next)."""
    db = Database.from_url(url)
    try:
        upgrade(db.engine)
        parking.resume_at_start(db, now=SystemClock().now())
    finally:
        db.dispose()


def build(settings: Settings, *, clock: Clock | None = None, playbook: Playbook | None = None,
          migrate: bool = True, wake: Callable[[], None] | None = None,
          hold_sending: Callable[[threading.Event], None] | None = None,
          on_installed: OnInstalled = lambda team_id: None) -> Runtime:
    """``wake`` is called after each commit that queued Slack calls, besides this process's
    own sender (idle unless started): `serve` passes its background process's wake-up, and to
    the background ``hold_sending``, with which its sender lets the server's acks go first
    (bot/acks_first.py).
    ``on_installed(team_id)``: called after an install in a workspace is stored, once what was
    parked there for want of a token is due again."""
    clock = clock or SystemClock()
    playbook = playbook or load_playbook_file(settings.playbook_file)
    db = Database.from_url(settings.database_url)
    if migrate:
        upgrade(db.engine)
        parking.resume_at_start(db, now=clock.now())
    client = make_client(settings)
    clients = Clients(settings)
    identity = BotIdentity(user_id=settings.slack_bot_user_id)
    tokens: Tokens
    installations = (installation_store(db.engine, client_id=settings.slack_client_id or "")
                     if settings.installs else None)
    if installations is not None:
        tokens = InstalledTokens(installations)
        workspace_url = WorkspaceUrls(lambda workspace: _read_client(tokens, clients, workspace)).url
        identity.per_workspace()
    else:
        tokens = OneToken(settings.slack_bot_token or "", identity)
        workspace_url = lambda _workspace: identity.known.url  # noqa: E731 - one workspace, one address
    # The service is built below; the sender draws no card and no Home before build returns.
    admins = Admins(fetch=user_reader(lambda workspace: _read_client(tokens, clients, workspace)), clock=clock)
    home = HomeSender(db=db, clock=clock, playbook=lambda: service.playbook, policy=lambda: service.policy,
                      is_lead=lambda user: service.leads.is_lead(user), workspace_url=workspace_url,
                      edits_settings=lambda user: service.leads.is_lead(user) or _admin_here(admins, user))
    sender = OutboxSender(db=db, clock=clock, tokens=tokens, clients=clients,
                          render_card=card_renderer(playbook=lambda: service.playbook, policy=lambda: service.policy,
                                                    clock=clock),
                          draw_prompt=prompt_drawer(playbook=lambda: service.playbook, tz=lambda: service.tz),
                          limits=Limits(paced=settings.slack_pacing, posts_per_second=settings.slack_posts_per_second,
                                        history_per_minute=settings.slack_history_per_minute), home=home,
                          export=ExportSender(db=db, playbook=lambda: service.playbook, policy=lambda: service.policy),
                          insights=InsightsSender(figures=lambda **window: workspace_insights(service, **window)),
                          scope=lambda workspace_id: service.in_workspace(workspace_id), hold=hold_sending)
    after_commit = sender.wake if wake is None else _both(wake, sender.wake)
    # The environment's LEAD_GROUP is SLACK_BOT_TOKEN's workspace's; with installs, a workspace
    # names its own group in its Settings, read with its own token.
    one_token = None if settings.installs else clients.of(settings.slack_bot_token or "").read
    leads = Leads(user_ids=settings.lead_user_ids, group=settings.lead_group, clock=clock,
                  fetch=group_reader(lambda: one_token))
    service = RecoveryService(
        db=db, settings=settings, playbook=playbook, clock=clock, after_commit=after_commit, leads=leads,
        make_leads=lambda workspace, user_ids, group: Leads(
            user_ids=user_ids, group=group, clock=clock,
            fetch=group_reader(lambda: _read_client(tokens, clients, workspace))))

    def installed(team_id: str) -> None:
        tokens.forget(team_id)
        if workspaces.installed(db, team_id, now=clock.now()):
            after_commit()
        on_installed(team_id)

    oauth_flow = None
    if installations is not None:
        oauth_flow = make_oauth_flow(client_id=settings.slack_client_id or "",
                                     client_secret=settings.slack_client_secret or "",
                                     installations=installations, states=state_store(db.engine), client=client,
                                     on_installed=installed)
    app = create_app(service=service, client=client, signing_secret=settings.slack_signing_secret or "",
                     tokens=tokens, admins=admins, oauth_flow=oauth_flow)
    identity_check = IdentityCheck(identity, clients.of(settings.slack_bot_token or "").read,
                                   on_confirmed=_env_token_confirmed(settings, db, clock))
    return Runtime(settings=settings, db=db, service=service, sender=sender,
                   ticker=Ticker(timers=Timers(service), sender=sender, db=db, rotator=_rotator(settings, db, clock)),
                   app=app, identity=identity, identity_check=identity_check, tokens=tokens)


def _read_client(tokens: Tokens, clients: Clients, workspace_id: str) -> WebClient | None:
    """The read client of the workspace's token, or None without an install."""
    token = tokens.bot_token(workspace_id)
    return clients.of(token).read if token is not None else None


def _env_token_confirmed(settings: Settings, db: Database, clock: Clock) -> Callable[[Identity], None] | None:
    """Single-workspace mode has no OAuth flow to say the app is back after an uninstall: Slack
    taking SLACK_BOT_TOKEN (a new one, after a restart) is that news."""
    if settings.installs:
        return None
    return lambda identity: workspaces.token_confirmed(db, identity.team_id, now=clock.now())


def _rotator(settings: Settings, db: Database, clock: Clock) -> TokenRotator | None:
    """With the app's OAuth credentials, the tick refreshes rotating bot tokens (bot/token_rotation.py)."""
    if not settings.installs:
        return None
    client = WebClient(base_url=settings.slack_api_url, timeout=REQUEST_TIMEOUT_SECONDS)
    return TokenRotator(db=db, clock=clock, client=client, client_id=settings.slack_client_id or "",
                        client_secret=settings.slack_client_secret or "")


def _admin_here(admins: Admins, user_id: str) -> bool:
    """Whether the person is an admin of the workspace whose Home is being drawn (the outbox
    scopes each row to its workspace)."""
    config = workspace_scope.current()
    return config is not None and admins.is_admin(config.workspace_id, user_id)


def _both(first: Callable[[], None], second: Callable[[], None]) -> Callable[[], None]:
    def call() -> None:
        first()
        second()
    return call


def freeze_startup_heap() -> None:
    """What start-up built lives as long as the process: leave it out of the garbage
    collector's passes (gc.freeze). Measured in-process: a full pass over the unfrozen heap
    took about 48 ms in the middle of a Claim, and every ack in flight waited for it; with
    the heap frozen, that Claim's collections took 16 ms in all."""
    gc.freeze()
