"""Who may move an incident: its owner, a lead, or nobody else."""
from __future__ import annotations

from bot.domain.types import Actor, IncidentState, Role


def role_of(state: IncidentState, actor: Actor) -> Role:
    if actor.is_lead:
        return Role.LEAD
    if state.owner_id is not None and actor.user_id == state.owner_id:
        return Role.OWNER
    return Role.OTHER


def may_move(state: IncidentState, actor: Actor) -> bool:
    return role_of(state, actor) is not Role.OTHER
