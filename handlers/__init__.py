"""Slack listeners, thin: ack, call the service, answer. Wired by register()."""
from __future__ import annotations

from slack_bolt import App

from bot.admins import Admins
from bot.service import RecoveryService
from handlers import (
    card_menu, claim, commands, errors, health, home, intake, lead_actions, membership, settings, steps,
    workspace_events,
)
from handlers.routes import Routes


def register(app: App, service: RecoveryService, admins: Admins) -> None:
    """Bolt tries its listeners in the order registered until one matches, each try costing
    its argument injection (about 35 us): the most frequent payloads first. Clicks, then
    `/recovery`, then the flag reaction: a Claim meets one listener, a command four, a reaction
    four, where they met nine, five and one."""
    errors.register(app)
    routes = Routes()
    claim.register(routes, service)
    steps.register(routes, service)
    health.register(routes, service)
    lead_actions.register(routes, service)
    card_menu.register(routes, service)
    settings.register(routes, service, admins)
    intake.register_forms(routes, service)
    routes.wire_clicks(app)
    commands.register(app, service)
    intake.register(app, service)
    routes.wire_forms(app)
    home.register(app, service)
    membership.register(app, service)
    workspace_events.register(app, service)
