"""The buttons and forms of a step: Done, Skip, Snooze, Need help, Agreed, Not yet,
Approve, Decline, Record follow-up, and the modals that collect their fields."""
from __future__ import annotations

import logging
from collections.abc import Callable

from slack_bolt import Ack
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.views import View

from bot.domain import recovery
from bot.domain.parsing import parse_amount, parse_csat
from bot.domain.rules import Intent
from bot.domain.types import IncidentState, StepKey
from bot.service import Locator, Outcome, RecoveryService
from bot.views import ids, modals
from bot.views.when import plain_times
from handlers.click import Click
from handlers.payload import dig, metadata, metadata_int, slack_id, text, token, view_value, workspace_of
from handlers.routes import Routes

log = logging.getLogger(__name__)
# views.update's answers for a form that moved on before its redraw: typed into again (its
# hash is stale) or closed (Slack no longer holds it).
_GONE_BY = frozenset({"hash_conflict", "not_found"})


def _form_target(view: dict) -> tuple[int, int] | None:
    """(incident id, step seq) the form was drawn for, exactly as we wrote them, or None."""
    meta = metadata(view)
    incident_id, seq = metadata_int(meta, "incident_id", minimum=1), metadata_int(meta, "seq")
    return None if incident_id is None or seq is None else (incident_id, seq)


def _typed(body: dict, block_id: str) -> str | None:
    """An input of an open form as it is now. The one that changed is read from the action
    (its newest value), the others from the view's state; both have the state's shape."""
    action = dig(body, "actions", 0)
    if dig(action, "block_id") == block_id and dig(action, "action_id") == block_id:
        return view_value({"state": {"values": {block_id: {block_id: action}}}}, block_id, block_id)
    return view_value(dig(body, "view"), block_id, block_id)


def register(routes: Routes, service: RecoveryService) -> None:
    def tell_if_refused(click: Click, outcome: Outcome) -> None:
        if not outcome.ok and outcome.message:
            service.tell(workspace_id=click.workspace or "", channel=click.channel or "", user_id=click.user or "",
                         text=outcome.message)

    def on_button(make_action: Callable[[int], recovery.Action]) -> Callable[[Ack, dict], None]:
        def listener(ack: Ack, body: dict) -> None:
            ack()
            click = Click(body)
            if click.on_step:
                tell_if_refused(click, service.act(click.where, click.user or "", make_action(click.seq)))
        return listener

    def form_opener(build: Callable[[IncidentState, int], View],
                    intent: Intent) -> Callable[[dict, WebClient], None]:
        """A button that opens a form, once the rule book says its submission could succeed:
        a refused person is told why, in the words the submission would get, and no modal opens."""
        def open_form(body: dict, client: WebClient) -> None:
            click = Click(body)
            if not (click.on_step and click.trigger):
                return
            check = service.precheck(click.where, click.user or "", intent, seq=click.seq)
            if not (check.ok and check.state):
                tell_if_refused(click, check)
                return
            client.views_open(trigger_id=click.trigger, view=build(check.state, click.seq))
        return open_form

    def step_form(state: IncidentState, seq: int) -> View:
        """The fix or the remedy form: `Intent.FORM` lets the button through only at those steps."""
        if state.current_step is StepKey.FIX:
            return modals.fix_modal(incident_id=state.id, seq=seq, ref=state.ref,
                                    root_causes=service.playbook.root_causes, category=state.category)
        return remedy_form(state, seq, ids.LABEL_GIVE_REMEDY)

    def remedy_form(state: IncidentState, seq: int, submit: str) -> View:
        return modals.remedy_modal(incident_id=state.id, seq=seq, ref=state.ref, currency=service.settings.currency,
                                   limit=service.settings.empowerment_limit, submit=submit)

    def redraw_remedy(body: dict, client: WebClient) -> None:
        """The remedy's kind or amount changed in an open form: redraw it with the submit label
        for what is typed now ("Ask a lead" over the limit). Dropped, with nobody to tell, when
        the form is no longer for a step this person can record, when it changed again before
        this redraw (a stale hash: the label catches up at the next change) or was closed
        meanwhile; the submission is checked on its own whatever its label said."""
        view = dig(body, "view")
        target, workspace, user = _form_target(view), workspace_of(body), slack_id(body, "user", "id")
        view_id, view_hash = token(view, "id"), token(view, "hash")
        if target is None or not (workspace and user and view_id and view_hash):
            return
        check = service.precheck(Locator(workspace, incident_id=target[0]), user, Intent.RECORD_REMEDY,
                                 seq=target[1])
        if not (check.ok and check.state):
            return
        kind, amount = _typed(body, modals.REMEDY_KIND), _typed(body, modals.AMOUNT)
        try:
            typed = parse_amount(amount)
        except ValueError:
            typed = None
        submit = modals.remedy_submit_label(kind, typed, limit=service.settings.empowerment_limit,
                                            by_lead=service.actor(user).is_lead)
        if submit == dig(view, "submit", "text"):
            return
        try:
            client.views_update(view_id=view_id, hash=view_hash, view=remedy_form(check.state, target[1], submit))
        except SlackApiError as error:
            if error.response.get("error") not in _GONE_BY:
                raise
            log.info("remedy form %s not redrawn (%s): it changed again or was closed", view_id,
                     error.response.get("error"))

    def follow_up_form(state: IncidentState, seq: int) -> View:
        return modals.follow_up_modal(incident_id=state.id, seq=seq, ref=state.ref)

    def skip_form(state: IncidentState, seq: int) -> View:
        title = service.playbook.step(state.current_step).title
        return modals.reason_modal(callback_id=ids.SKIP_MODAL, incident_id=state.id, seq=seq,
                                   title=f"Skip on {state.ref}", label=f"Why skip “{title}”?")

    def decline_form(state: IncidentState, seq: int) -> View:
        return modals.reason_modal(callback_id=ids.DECLINE_MODAL, incident_id=state.id, seq=seq,
                                   title=f"Decline on {state.ref}", label="Why? The owner will offer something else.")

    def on_snooze(ack: Ack, body: dict) -> None:
        ack()
        value, _, choice = (text(body, "actions", 0, "selected_option", "value") or "").partition("/")
        click = Click(body, value)
        until = service.snooze_until(choice)
        if click.on_step and until is not None:
            tell_if_refused(click, service.act(click.where, click.user or "", recovery.Snooze(until)))

    def on_submit(read: Callable[[dict, int], recovery.Action | dict[str, str]]) -> Callable[[Ack, dict, dict], None]:
        """A form submission: field errors stay in the modal, and so does a refusal."""
        def listener(ack: Ack, body: dict, view: dict) -> None:
            target, workspace, user = _form_target(view), workspace_of(body), slack_id(body, "user", "id")
            first_block = dig(view, "blocks", 0, "block_id") or "reason"
            if target is None or not (workspace and user):
                ack()
                return
            action = read(view, target[1])
            if isinstance(action, dict):
                ack(response_action="errors", errors=action)
                return
            outcome = service.act(Locator(workspace, incident_id=target[0]), user, action)
            if outcome.ok:
                ack()
            else:
                ack(response_action="errors", errors={first_block: plain_times(outcome.message)})
        return listener

    def read_fix(view: dict, seq: int) -> recovery.Action | dict[str, str]:
        cause = view_value(view, modals.ROOT_CAUSE, modals.ROOT_CAUSE)
        note = view_value(view, modals.FIX_NOTE, modals.FIX_NOTE)
        errors = {}
        if cause not in service.playbook.root_causes:
            errors[modals.ROOT_CAUSE] = "Pick the root cause from the list."
        if not note:
            errors[modals.FIX_NOTE] = "Say what was done to fix it."
        return errors or recovery.RecordFix(seq, cause or "", note or "")

    def read_remedy(view: dict, seq: int) -> recovery.Action | dict[str, str]:
        kind = view_value(view, modals.REMEDY_KIND, modals.REMEDY_KIND)
        errors = {}
        if kind not in recovery.REMEDY_KINDS:
            errors[modals.REMEDY_KIND] = "Pick a remedy."
        try:
            amount = parse_amount(view_value(view, modals.AMOUNT, modals.AMOUNT))
        except ValueError as error:
            errors[modals.AMOUNT] = str(error)
            amount = None
        return errors or recovery.RecordRemedy(seq, kind or "", amount,
                                               view_value(view, modals.REMEDY_NOTE, modals.REMEDY_NOTE) or "")

    def read_follow_up(view: dict, seq: int) -> recovery.Action | dict[str, str]:
        answer = view_value(view, modals.BUY_AGAIN, modals.BUY_AGAIN)
        errors = {}
        try:
            csat = parse_csat(view_value(view, modals.CSAT, modals.CSAT))
        except ValueError as error:
            errors[modals.CSAT] = str(error)
            csat = 0
        if answer not in recovery.BUY_AGAIN_ANSWERS:
            errors[modals.BUY_AGAIN] = "Pick yes, maybe or no."
        return errors or recovery.RecordFollowUp(seq, csat, answer or "",
                                                 view_value(view, modals.FOLLOW_UP_NOTE, modals.FOLLOW_UP_NOTE) or "")

    def read_reason(make: Callable[[int, str], recovery.Action]) -> Callable[[dict, int], recovery.Action | dict]:
        def read(view: dict, seq: int) -> recovery.Action | dict[str, str]:
            reason = view_value(view, modals.REASON, modals.REASON)
            return make(seq, reason) if reason else {modals.REASON: "A reason is required."}
        return read

    routes.action(ids.DONE, on_button(recovery.CompleteStep))
    routes.action(ids.NEED_HELP, on_button(recovery.NeedHelp))
    routes.action(ids.AGREED, on_button(recovery.Agreed))
    routes.action(ids.NOT_YET, on_button(recovery.NotYet))
    routes.action(ids.APPROVE, on_button(recovery.Approve))
    routes.action(ids.SNOOZE, on_snooze)
    routes.form(ids.DONE_FORM, form_opener(step_form, Intent.FORM))
    routes.form(ids.SKIP, form_opener(skip_form, Intent.SKIP))
    routes.form(ids.DECLINE, form_opener(decline_form, Intent.DECLINE))
    routes.form(ids.RECORD_FOLLOW_UP, form_opener(follow_up_form, Intent.RECORD_FOLLOW_UP))
    routes.form(modals.REMEDY_KIND, redraw_remedy)
    routes.form(modals.AMOUNT, redraw_remedy)
    routes.view(ids.FIX_MODAL, on_submit(read_fix))
    routes.view(ids.REMEDY_MODAL, on_submit(read_remedy))
    routes.view(ids.FOLLOW_UP_MODAL, on_submit(read_follow_up))
    routes.view(ids.SKIP_MODAL, on_submit(read_reason(recovery.Skip)))
    routes.view(ids.DECLINE_MODAL, on_submit(read_reason(recovery.Decline)))
