"""Editing a workspace's settings: the modal's rows from what is in force, a submission read
and validated field by field, and the save with one timeline row per changed key.
"""
from __future__ import annotations

from bot import home_refresh, workspace_config
from bot.service import RecoveryService
from bot.views import settings as settings_view
from bot.workspace_config import Field
from bot.workspace_scope import WorkspaceConfig
from storage import settings_store, viewer_store

REFUSED = "Only a lead or a workspace admin can change this workspace's settings."


def fields(service: RecoveryService) -> tuple[Field, ...]:
    return (*workspace_config.SETTING_FIELDS, *workspace_config.sla_fields(service.workspaces.defaults[1]))


def form_rows(service: RecoveryService, config: WorkspaceConfig) -> list[tuple[str, str, str, str, bool]]:
    """(block id, label, current text, example, from the environment) of every field."""
    return [(field.key, field.label,
             workspace_config.to_text(workspace_config.current_value(field, config.settings, config.playbook)),
             field.example, field.key not in config.overridden)
            for field in fields(service)]


def read(service: RecoveryService, config: WorkspaceConfig,
         typed: dict[str, str | None]) -> tuple[dict[str, str | None], dict[str, str]]:
    """(the JSON text of each field as submitted (None: the environment's), the errors shaped
    as Slack's response_action errors: block id -> one line). A field left at the
    environment's value stays the environment's, so a later change of `.env` still reaches it."""
    defaults, default_playbook = service.workspaces.defaults
    values: dict[str, str | None] = {}
    errors: dict[str, str] = {}
    for field in fields(service):
        text = typed.get(field.key)
        if not text:
            values[field.key] = None
            continue
        try:
            value = workspace_config.parse(field, text)
        except ValueError as error:
            errors[field.key] = f"{str(error)[:1].upper()}{str(error)[1:]}."[:150]
            continue
        default = workspace_config.current_value(field, defaults, default_playbook)
        values[field.key] = None if value == default and field.key not in config.overridden \
            else workspace_config.encode(field, value)
    return values, errors


def save(service: RecoveryService, *, workspace_id: str, user_id: str,
         values: dict[str, str | None]) -> str:
    """Store the values, one timeline row per change, republish the workspace's Homes; the
    private confirmation naming each change in plain words."""
    now = service.clock.now()
    with service.db.transaction() as session:
        changed = settings_store.save(session, workspace_id, values, by=user_id, now=now)
        if changed:
            home_refresh.queue(session, workspace_id, viewer_store.everyone(session, workspace_id=workspace_id), now)
    if changed:
        service.workspaces.forget(workspace_id)
        service.notify_sender()
    config = service.workspaces.resolve(workspace_id)
    by_key = {field.key: field for field in fields(service)}
    words = []
    for key in changed:
        field = by_key[key]
        value = workspace_config.current_value(field, config.settings, config.playbook)
        shown = workspace_config.described(field, value, config.settings)
        words.append((field.label.lower(), shown if values[key] is not None else f"{shown} (the environment's)"))
    return settings_view.saved_text(words)
