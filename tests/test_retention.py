"""RETENTION_DAYS: the customer's name and words erased from incidents closed long enough
ago, from the tick once a day and by `python -m bot retention`; every figure kept."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlmodel import select

from bot import export, retention
from bot.domain.stats import stats_window
from bot.views import export as export_view
from storage.models import Incident, TimelineEvent
from storage.repository import stats_totals
from tests.conftest import LEAD, ServedBot
from tests.test_export import OWNER, flag, work_to_closed


def _incident(bot: ServedBot, number: int) -> Incident:
    with bot.runtime.db.read() as session:
        return session.exec(select(Incident).where(Incident.number == number)).one()


def _name_the_customer(bot: ServedBot) -> None:
    """Edit details on #1's card: the customer's name, recorded on the timeline too."""
    before = len(bot.fake.views())
    assert bot.slack.overflow(bot.card(1), "Edit details", user=LEAD).status == 200
    assert bot.fake.wait_for(lambda: len(bot.fake.views()) > before)
    view = bot.fake.views()[-1]
    assert bot.slack.submit(view, {"summary": "Parcel crushed, Ana Silva wants a refund",
                                   "customer_name": "Ana Silva"}, user=LEAD).body == ""
    bot.settle()


def _figures(bot: ServedBot, at):  # noqa: ANN001, ANN202 - a datetime in; stats and export lines out
    with bot.runtime.db.read() as session:
        totals = stats_totals(session, workspace_id="T1", window=stats_window(at, 30))
        rows = list(export_view.jsonl_lines(export.rows(
            session, workspace_id=None, period=export.Period.named("all", until=at),
            playbook=bot.runtime.service.playbook, policy=bot.runtime.service.policy)))
    return totals, rows


def test_a_closed_incident_loses_the_customers_name_and_words_after_retention_days_but_no_figure(make_bot, settings):
    bot = make_bot(replace(settings, retention_days=30))
    flag(bot)
    _name_the_customer(bot)
    work_to_closed(bot)
    bot.slack.command("/recovery new Still waiting on a callback from Ben Ode", user=OWNER)
    bot.settle()
    closed_at = bot.clock.now()
    figures = _figures(bot, closed_at)

    bot.clock.advance(timedelta(days=30))
    assert bot.runtime.ticker.tick().erased == 0, "closed exactly 30 days ago: not yet"
    bot.clock.advance(timedelta(days=1))
    assert bot.runtime.ticker.tick().erased == 1
    assert bot.runtime.ticker.tick().erased == 0, "once a day"
    assert retention.erase_due(bot.runtime.db, days=30, now=bot.clock.now()) == 0, "nothing left to erase"

    erased, still_open = _incident(bot, 1), _incident(bot, 2)
    assert (erased.customer_name, erased.excerpt, erased.summary) == (None, "", "(erased after 30 days)")
    assert (still_open.summary, still_open.status) == ("Still waiting on a callback from Ben Ode", "open")
    assert _figures(bot, closed_at) == figures, "stats and every exported figure unchanged"
    assert (erased.csat, erased.buy_again, erased.root_cause, erased.remedy_kind, str(erased.remedy_amount)) == (
        9, "yes", "delivery", "refund", "120.00")
    with bot.runtime.db.read() as session:
        edits = session.exec(select(TimelineEvent.data).where(TimelineEvent.kind == "details_edited")).all()
    assert edits == [{"summary": "(erased)", "customer_name": "(erased)"}]
    shown = bot.slack.command("/recovery show 1", user=LEAD).text
    assert "(erased after 30 days)" in shown
    assert "Ana Silva" not in shown and "crushed" not in shown
