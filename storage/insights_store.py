"""The insights' reads and the survey baseline's writes.

`insight_tallies` adds up a workspace's follow-up answers per group in one statement: a
year can hold tens of thousands of answers, and n, the yeses, Σ satisfaction and Σ
satisfaction² per group are all the intervals need, so those few rows come back rather than
every answer. The answers are read once (a CTE, materialized by both databases since it is
used once per split) with what each split groups by, then one GROUP BY per split, UNIONed.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import CTE, BigInteger, ColumnElement, Select, Text, and_, case, cast, delete, func, insert, literal, or_
from sqlalchemy import union_all
from sqlmodel import Session, col, select

from bot.domain.digest import UNCOUNTED_APPROVALS
from bot.domain.insights import NOT_RECORDED, RESOLVE_BUCKETS, SPLITS, BaselinePeriod, Tally
from bot.domain.stats import StatsWindow
from bot.domain.types import StepKey
from storage.models import Incident, StepRecord, SurveyBaseline
from storage.repository import _micros

_ACKNOWLEDGE, _APOLOGIZE = StepKey.ACKNOWLEDGE.value, StepKey.APOLOGIZE.value
_ENDED = ("done", "skipped")


def insight_tallies(session: Session, *, workspace_id: str, window: StatsWindow,
                    week_starts: Sequence[datetime]) -> dict[str, dict[str, Tally]]:
    """``{split: {key: Tally}}`` over the workspace's answers recorded in the window, plus
    "overall" (key "") and "week" (key the week's index, see `bot.domain.insights.insights`)."""
    connection = session.connection()
    answers = _answers(workspace_id, window, week_starts, _micros(connection.dialect.name))
    parts = [_tally(answers, "overall", literal(NOT_RECORDED))] + [
        _tally(answers, name, answers.c[name]) for name in (*SPLITS, "week")]
    found: dict[str, dict[str, Tally]] = {}
    for row in connection.execute(union_all(*parts)):
        found.setdefault(row.split, {})[row.key] = Tally(row.answers, row.yes, row.total, row.squares)
    return found


def _tally(answers: CTE, name: str, key: ColumnElement) -> Select:
    return (select(literal(name).label("split"), cast(key, Text).label("key"), func.count().label("answers"),
                   cast(func.sum(answers.c.yes), BigInteger).label("yes"),
                   cast(func.sum(answers.c.csat), BigInteger).label("total"),
                   cast(func.sum(answers.c.csat * answers.c.csat), BigInteger).label("squares"))
            .group_by(key))


def _answers(workspace_id: str, window: StatsWindow, week_starts: Sequence[datetime], micros) -> CTE:  # noqa: ANN001
    """One row per answer with its group in each split. The acknowledge step is late when
    any of its instances ended after its due time; the apology done when one ended done;
    the remedy counts only when it was given (not waiting for a lead, not declined); the
    time to resolve runs from the flag to the customer's agreement."""
    answered = and_(Incident.workspace_id == workspace_id, col(Incident.closed_at) >= window.start,
                    col(Incident.closed_at) < window.end, col(Incident.csat).is_not(None),
                    col(Incident.buy_again).is_not(None))
    ended = col(StepRecord.status).in_(_ENDED)
    steps = (select(StepRecord.incident_id,
                    func.count(case((and_(StepRecord.step == _ACKNOWLEDGE, ended), 1))).label("ack_ended"),
                    func.count(case((and_(StepRecord.step == _ACKNOWLEDGE, ended,
                                          col(StepRecord.ended_at) > col(StepRecord.due_at)), 1))).label("ack_late"),
                    func.count(case((and_(StepRecord.step == _APOLOGIZE, StepRecord.status == "done"), 1)))
                    .label("apology_done"),
                    func.count(case((and_(StepRecord.step == _APOLOGIZE, StepRecord.status == "skipped"), 1)))
                    .label("apology_skipped"))
             .where(col(StepRecord.step).in_((_ACKNOWLEDGE, _APOLOGIZE)),
                    col(StepRecord.incident_id).in_(select(Incident.id).where(answered)))
             .group_by(StepRecord.incident_id).subquery())
    given = and_(col(Incident.remedy_amount).is_not(None),
                 or_(col(Incident.approval).is_(None), col(Incident.approval).not_in(UNCOUNTED_APPROVALS)))
    took = micros(Incident.buy_in_at) - micros(Incident.created_at)
    resolve = case(*((took < int(upper.total_seconds()) * 1_000_000, key) for key, upper in RESOLVE_BUCKETS if upper),
                   else_=RESOLVE_BUCKETS[-1][0])
    return (select(
        case((Incident.buy_again == "yes", 1), else_=0).label("yes"),
        Incident.csat,
        case((steps.c.ack_late > 0, "late"), (steps.c.ack_ended > 0, "within")).label("acknowledge"),
        case((col(Incident.buy_in_at).is_not(None), resolve)).label("resolve"),
        case((steps.c.apology_done > 0, "done"), (steps.c.apology_skipped > 0, "skipped")).label("apology"),
        case((and_(given, col(Incident.remedy_kind).is_not(None)), Incident.remedy_kind),
             else_=NOT_RECORDED).label("remedy"),
        case((Incident.approval == "approved", "approved_above"),
             (and_(given, Incident.remedy_amount > 0), "within"), else_="none").label("amount"),
        func.coalesce(func.trim(Incident.root_cause), NOT_RECORDED).label("cause"),
        Incident.severity,
        func.coalesce(Incident.owner_id, NOT_RECORDED).label("owner"),
        case(*((col(Incident.closed_at) < edge, str(index)) for index, edge in enumerate(week_starts)),
             else_=str(len(week_starts))).label("week") if week_starts else literal("0").label("week"),
    ).select_from(Incident.__table__.outerjoin(steps, steps.c.incident_id == Incident.id))
        .where(answered).cte("answers"))


def baseline_periods(session: Session, *, workspace_id: str) -> list[BaselinePeriod]:
    """The workspace's survey periods; those loaded for every workspace where it has none."""
    rows = session.exec(select(SurveyBaseline).where(col(SurveyBaseline.workspace_id).in_((workspace_id, "")))
                        .order_by(col(SurveyBaseline.period_start))).all()
    own = [row for row in rows if row.workspace_id == workspace_id]
    return [BaselinePeriod(row.period_start, row.period_end, row.would_buy_again, row.satisfaction, row.answers,
                           row.satisfaction_sd) for row in (own or rows)]


def replace_baselines(session: Session, rows: Sequence[tuple[str, BaselinePeriod]], *, now: datetime) -> None:
    """Each workspace named in ``rows`` gets exactly these periods: a file is the whole
    baseline of the workspaces it names, so loading a corrected file again is safe."""
    workspaces = sorted({workspace for workspace, _ in rows})
    session.exec(delete(SurveyBaseline).where(col(SurveyBaseline.workspace_id).in_(workspaces)))
    session.connection().execute(insert(SurveyBaseline), [
        {"workspace_id": workspace, **period._asdict(), "loaded_at": now} for workspace, period in rows])
