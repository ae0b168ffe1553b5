"""Builds the whole process from settings, in one place, for the CLI, the demo and the tests.

Nothing is built at import: every caller says which settings, clock and database it wants.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler
from slack_bolt import App
from slack_sdk import WebClient

from bot import parking, workspace_scope, workspaces
from bot.admins import Admins, user_reader
from bot.app import create_app
from bot.card_drawing import card_renderer
from bot.clock import Clock, SystemClock
from bot.domain.playbook import DEFAULT_PLAYBOOK, Playbook, load_playbook
from bot.identity import BotIdentity, Identity, IdentityCheck
from bot.insights import workspace_insights
from bot.leads import Leads, group_reader
from bot.outbox import OutboxSender
from bot.outbox_export import ExportSender
from bot.outbox_home import HomeSender
from bot.outbox_insights import InsightsSender
from bot.pacing import Limits
from bot.scheduler import Ticker, start_scheduler
from bot.service import RecoveryService
from bot.settings import Settings
from bot.slack_api import REQUEST_TIMEOUT_SECONDS, make_client, make_posting_client
from bot.timers import Timers
from bot.token_rotation import TokenRotator
from storage.db import Database
from storage.migrate import upgrade


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
    scheduler: BackgroundScheduler | None = None

    def start_background(self) -> None:
        """The outbox sender and the scheduler tick: what runs besides answering Slack."""
        self.sender.start()
        self.sender.wake()
        self.scheduler = start_scheduler(self.ticker, every_seconds=self.settings.scheduler_tick.total_seconds())

    def confirm_identity(self, *, quiet: bool = False) -> None:
        """auth.test in the background: nothing at start-up waits for Slack. ``quiet``: another
        process of this bot reports what Slack says."""
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
          migrate: bool = True, wake: Callable[[], None] | None = None) -> Runtime:
    """``wake`` is called after each commit that queued Slack calls, besides this process's
    own sender (idle unless started): `serve` passes its background process's wake-up."""
    clock = clock or SystemClock()
    playbook = playbook or load_playbook_file(settings.playbook_file)
    db = Database.from_url(settings.database_url)
    if migrate:
        upgrade(db.engine)
        parking.resume_at_start(db, now=clock.now())
    client = make_client(settings)
    identity = BotIdentity(user_id=settings.slack_bot_user_id)
    # The service is built below; the sender draws no card and no Home before build returns.
    admins = Admins(fetch=user_reader(client), clock=clock)
    home = HomeSender(db=db, clock=clock, playbook=lambda: service.playbook, policy=lambda: service.policy,
                      is_lead=lambda user: service.leads.is_lead(user), workspace_url=lambda: identity.known.url,
                      edits_settings=lambda user: service.leads.is_lead(user) or _admin_here(admins, user))
    sender = OutboxSender(db=db, clock=clock, client=client, posting_client=make_posting_client(settings),
                          render_card=card_renderer(db, playbook=lambda: service.playbook, policy=lambda: service.policy, clock=clock),
                          limits=Limits(paced=settings.slack_pacing, posts_per_second=settings.slack_posts_per_second,
                                        history_per_minute=settings.slack_history_per_minute), home=home,
                          export=ExportSender(db=db, playbook=lambda: service.playbook, policy=lambda: service.policy),
                          insights=InsightsSender(figures=lambda **window: workspace_insights(service, **window)),
                          scope=lambda workspace_id: service.in_workspace(workspace_id))
    after_commit = sender.wake if wake is None else _both(wake, sender.wake)
    leads = Leads(user_ids=settings.lead_user_ids, group=settings.lead_group, fetch=group_reader(client), clock=clock)
    service = RecoveryService(
        db=db, settings=settings, playbook=playbook, clock=clock, after_commit=after_commit, leads=leads,
        make_leads=lambda user_ids, group: Leads(user_ids=user_ids, group=group, fetch=group_reader(client),
                                                 clock=clock))
    app = create_app(service=service, client=client, signing_secret=settings.slack_signing_secret or "",
                     identity=identity, admins=admins)
    return Runtime(settings=settings, db=db, service=service, sender=sender,
                   ticker=Ticker(timers=Timers(service), sender=sender, rotator=_rotator(settings, db, clock)),
                   app=app, identity=identity,
                   identity_check=IdentityCheck(identity, client, on_confirmed=_env_token_confirmed(settings, db,
                                                                                                    clock)))


def _env_token_confirmed(settings: Settings, db: Database, clock: Clock) -> Callable[[Identity], None] | None:
    """Single-workspace mode has no OAuth flow to say the app is back after an uninstall: Slack
    taking SLACK_BOT_TOKEN (a new one, after a restart) is that news."""
    if settings.slack_client_id:
        return None
    return lambda identity: workspaces.token_confirmed(db, identity.team_id, now=clock.now())


def _rotator(settings: Settings, db: Database, clock: Clock) -> TokenRotator | None:
    """With the app's OAuth credentials, the tick refreshes rotating bot tokens (bot/token_rotation.py)."""
    if not (settings.slack_client_id and settings.slack_client_secret):
        return None
    client = WebClient(base_url=settings.slack_api_url, timeout=REQUEST_TIMEOUT_SECONDS)
    return TokenRotator(db=db, clock=clock, client=client, client_id=settings.slack_client_id,
                        client_secret=settings.slack_client_secret)


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
