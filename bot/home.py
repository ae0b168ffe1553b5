"""A person's Home, read from the database and drawn: what the pipeline publishes.

Called when the Home is sent, not when the change happened, so the view is as fresh as the
send: the queries (storage/home_store.py) run in one read transaction, the ordering and
capping is the domain's (bot/domain/home.py), the drawing the view's (bot/views/home.py).
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session

from bot.domain import home as rules
from bot.domain.playbook import Playbook
from bot.domain.stats import StatsWindow, stats_window
from bot.domain.types import Policy
from bot.views.home import CardLinks, Drawing, HomeContent, Leads
from bot.views.home import home_view as draw
from storage import home_store, repository
from storage.db import Database

__all__ = ["CardLinks", "home_view"]


def home_view(db: Database, *, workspace_id: str, user_id: str, is_lead: bool, now: datetime,
              playbook: Playbook, policy: Policy, links: CardLinks, settings_button: bool = False) -> dict:
    """The view JSON for views.publish: ``user_id``'s Home at ``now``; a lead's leads first
    with the approvals, escalations and overdue of the whole workspace. ``settings_button``: the
    person may edit the workspace's settings (a lead or a workspace admin)."""
    drawing = Drawing(now=now, playbook=playbook, policy=policy, links=links)
    window = stats_window(now, rules.WEEK_DAYS)
    with db.read() as session:
        mine = rules.mine_order(home_store.owned_open(session, workspace_id=workspace_id, user_id=user_id),
                                now=now, playbook=playbook, policy=policy)
        channels = home_store.my_channels(session, workspace_id=workspace_id, user_id=user_id,
                                          since=now - timedelta(days=rules.MY_CHANNELS_DAYS))
        unclaimed, unclaimed_total = home_store.unclaimed_in(session, workspace_id=workspace_id, channels=channels,
                                                             limit=rules.UNCLAIMED)
        ended, in_time = home_store.steps_ended(session, workspace_id=workspace_id, user_id=user_id,
                                                start=window.start, end=window.end)
        week = rules.person_week(
            home_store.owned_facts(session, workspace_id=workspace_id, user_id=user_id, since=window.start),
            steps_ended=ended, steps_in_time=in_time, start=window.start, end=window.end)
        leads = _leads(session, workspace_id=workspace_id, now=now, playbook=playbook, policy=policy,
                       window=window) if is_lead else None
    content = HomeContent(mine=rules.capped(mine, rules.MINE),
                          unclaimed=rules.capped(unclaimed, rules.UNCLAIMED, total=unclaimed_total),
                          channels=tuple(channels), week=week, leads=leads, settings_button=settings_button)
    return draw(content, drawing)


def _leads(session: Session, *, workspace_id: str, now: datetime, playbook: Playbook, policy: Policy,
           window: StatsWindow) -> Leads:
    approvals, approvals_total = home_store.waiting_approval(session, workspace_id=workspace_id,
                                                             limit=rules.APPROVALS)
    escalated, escalated_total = home_store.escalated(session, workspace_id=workspace_id, limit=rules.ESCALATED)
    past_due, past_due_total = home_store.past_due(session, workspace_id=workspace_id, now=now)
    late = rules.overdue_order(past_due, now=now, playbook=playbook, policy=policy)
    groups, left_out = rules.by_owner(late)
    unread = past_due_total - len(past_due)
    totals = repository.stats_totals(session, workspace_id=workspace_id, window=window)
    return Leads(approvals=rules.capped(approvals, rules.APPROVALS, total=approvals_total),
                 notes=home_store.approval_notes(session, [state.id for state in approvals]),
                 escalated=rules.capped(escalated, rules.ESCALATED, total=escalated_total),
                 overdue=groups, overdue_more=left_out + unread, team_week=rules.team_week(totals))
