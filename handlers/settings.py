"""The workspace's Settings: the App Home's button opens the modal (after the ack: views.open
is a Slack call), and the submission is validated and saved within the ack, its field errors
inline. Only leads and workspace admins get either; anyone else is refused privately."""
from __future__ import annotations

from slack_bolt import Ack
from slack_sdk import WebClient

from bot import settings_edit
from bot.admins import Admins
from bot.service import RecoveryService
from bot.views import ids
from bot.views import settings as settings_view
from handlers.payload import slack_id, token, view_value, workspace_of
from handlers.routes import Routes


def register(routes: Routes, service: RecoveryService, admins: Admins) -> None:
    def may_edit(workspace: str, user: str) -> bool:
        return service.leads.is_lead(user) or admins.is_admin(workspace, user)

    def open_settings(body: dict, client: WebClient) -> None:
        workspace, user, trigger = workspace_of(body), slack_id(body, "user", "id"), token(body, "trigger_id")
        if not (workspace and user and trigger):
            return
        if not may_edit(workspace, user):
            service.tell(workspace_id=workspace, channel="", user_id=user, text=settings_edit.REFUSED)
            return
        config = service.workspaces.resolve(workspace)
        client.views_open(trigger_id=trigger,
                          view=settings_view.settings_modal(settings_edit.form_rows(service, config)))

    def on_submit(ack: Ack, body: dict, view: dict) -> None:
        workspace, user = workspace_of(body), slack_id(body, "user", "id")
        if not (workspace and user):
            ack()
            return
        if not may_edit(workspace, user):
            ack()
            service.tell(workspace_id=workspace, channel="", user_id=user, text=settings_edit.REFUSED)
            return
        config = service.workspaces.resolve(workspace)
        typed = {field.key: view_value(view, field.key, field.key) for field in settings_edit.fields(service)}
        values, errors = settings_edit.read(service, config, typed)
        if errors:
            ack(response_action="errors", errors=errors)
            return
        text = settings_edit.save(service, workspace_id=workspace, user_id=user, values=values)
        ack()
        service.tell(workspace_id=workspace, channel="", user_id=user, text=text)

    routes.form(ids.SETTINGS, open_settings)
    routes.view(ids.SETTINGS_MODAL, on_submit)
