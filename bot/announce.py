"""What Slack must be told about a decision, queued as outbox rows in its transaction.

The card is redrawn from the database when sent; step prompts, notices and the approval
request are drawn now, from the decided state.
"""
from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from bot import receipts
from bot.domain.playbook import Playbook
from bot.domain.timing import deadline
from bot.domain.types import Decision, EventKind, Policy, StepKey
from bot.settings import Settings
from bot.views import notices, step
from storage import outbox_store


def _dicts(blocks: list) -> list[dict]:
    return [block.to_dict() for block in blocks]


def queue_decision(session: Session, decision: Decision, *, playbook: Playbook, settings: Settings,
                   policy: Policy, now: datetime) -> None:
    state = decision.state
    tz = settings.tz
    common = {"workspace_id": state.workspace_id, "incident_id": state.id, "now": now,
              "channel": state.card_channel}
    kinds = {event.kind for event in decision.events}

    def reply(text: str, blocks: list | None = None, kind: str = "reply", **extra) -> None:  # noqa: ANN003
        payload = {"text": text} | ({"blocks": _dicts(blocks)} if blocks else {})
        outbox_store.enqueue(session, kind=kind, payload=payload, **(common | extra))

    outbox_store.enqueue(session, kind="update_card", **common)
    receipts.queue_decided(session, decision, now=now)
    ended = decision.ended_step
    if ended is not None and ended.step is not StepKey.CLAIM:
        outbox_store.enqueue(session, kind="update_step", step_seq=ended.seq, payload={
            "text": step.ended_text(ended, playbook=playbook, tz=tz),
            "blocks": _dicts(step.ended_blocks(ended, playbook=playbook, tz=tz))}, **common)
    decided = kinds & {EventKind.REMEDY_APPROVED, EventKind.REMEDY_DECLINED}
    if decided and ended is not None and ended.step is StepKey.MAKE_IT_RIGHT:
        text = notices.approval_decided_text(state, approved=EventKind.REMEDY_APPROVED in decided,
                                             by=ended.by, at=now, tz=tz)
        outbox_store.enqueue(session, kind="update_approval", step_seq=ended.seq,
                             payload={"text": text, "blocks": [{"type": "section", "text": {
                                 "type": "mrkdwn", "text": text}}]}, **common)
    for line in decision.notices:
        reply(line)
    if decision.approval_requested:
        limit = settings.empowerment_limit
        reply(notices.approval_text(state, leads=policy.leads, limit=limit),
              notices.approval_blocks(state, leads=policy.leads, limit=limit),
              kind="approval", step_seq=state.step_seq)
    if decision.escalate_now:
        by = next((event.actor for event in decision.events if event.kind is EventKind.HELP_REQUESTED), None)
        reply(notices.help_text(state, by=by or state.owner_id or "", leads=policy.leads))
    if decision.follow_up_due_at is not None:
        reply(notices.follow_up_scheduled_text(state, due=decision.follow_up_due_at, tz=tz))
    if decision.posts_prompt:
        due = deadline(state, playbook=playbook, policy=policy)
        reply(step.prompt_text(state, playbook=playbook), step.prompt_blocks(state, playbook=playbook, tz=tz, due=due),
              kind="step", step_seq=state.step_seq)
    if EventKind.FOLLOW_UP_PROMPTED in kinds and state.owner_id:
        reply(notices.follow_up_dm_text(state), notices.follow_up_dm_blocks(state),
              kind="dm", **{"channel": state.owner_id, "user_id": state.owner_id})
