"""`/recovery insights` on each database: the tallies the SQL adds up for hand-built
answers, and the command through signed requests (a lead's answer through the response
URL; anyone else refused; a bad window answered with the usage line)."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert

from bot.domain.insights import Tally, week_starts
from bot.domain.stats import stats_window
from storage.db import Database
from storage.insights_store import insight_tallies
from storage.migrate import upgrade
from storage.models import Incident, StepRecord
from tests.conftest import LEAD

NOW = datetime(2026, 11, 2, 8, 0, tzinfo=timezone.utc)  # a Monday
DAY, HOUR, MIN = timedelta(days=1), timedelta(hours=1), timedelta(minutes=1)
UTC = ZoneInfo("UTC")


def _incident(number: int, *, workspace: str = "T1", closed_at: datetime | None, took: timedelta = 2 * HOUR,
              csat: int | None = None, buy_again: str | None = None, **fields) -> dict:
    created = (closed_at or NOW) - 5 * DAY
    row = {"workspace_id": workspace, "number": number, "origin_channel": "C1", "origin_ts": f"{number}.1",
           "flagged_by": "U1", "status": "closed" if closed_at else "open", "current_step": "follow_up",
           "card_channel": "C1", "step_started_at": created, "created_at": created, "updated_at": created,
           "closed_at": closed_at, "buy_in_at": created + took, "csat": csat, "buy_again": buy_again,
           "severity": "normal", "owner_id": "U2"}
    for key in ("root_cause", "remedy_kind", "remedy_amount", "approval"):
        row[key] = fields.pop(key, None)
    row.update(fields)
    return row


def seed(db: Database) -> None:
    """28 answers in T1's last 30 days, in three kinds, and what must not count:
    A (12): acknowledged in time, apology done, resolved in 2 h, a refund within the limit,
        delivery, normal, owned by U2; scores 9, 8, 9, 8…; 10 yes and 2 maybe; closed 3 days ago.
    B (12): acknowledged late, apology skipped, resolved in 2 days, no remedy, billing, high,
        owned by U3; scores 4, 5, 4, 5…; 3 yes and 9 no; closed 10 days ago.
    C (4): acknowledged in time, apology done, resolved in 10 h, low, owned by U2, closed 20 days
        ago: three gifts of 80 approved above the limit (no cause, 10, yes) and one refund a lead
        declined, then skipped (cause " delivery ", 7, yes)."""
    a_closed, b_closed, c_closed = NOW - 3 * DAY, NOW - 10 * DAY, NOW - 20 * DAY
    rows = [_incident(n, closed_at=a_closed, csat=9 if n % 2 else 8, buy_again="yes" if n <= 10 else "maybe",
                      root_cause="delivery", remedy_kind="refund", remedy_amount=Decimal(20)) for n in range(1, 13)]
    rows += [_incident(n, closed_at=b_closed, took=2 * DAY, csat=4 if n % 2 else 5,
                       buy_again="yes" if n <= 15 else "no", root_cause="billing", remedy_kind="none",
                       remedy_amount=Decimal(0), severity="high", owner_id="U3") for n in range(13, 25)]
    rows += [_incident(n, closed_at=c_closed, took=10 * HOUR, csat=10, buy_again="yes", remedy_kind="gift",
                       remedy_amount=Decimal(80), approval="approved", severity="low") for n in range(25, 28)]
    rows += [_incident(28, closed_at=c_closed, took=10 * HOUR, csat=7, buy_again="yes", root_cause=" delivery ",
                       remedy_kind="refund", remedy_amount=Decimal(100), approval="declined", severity="low")]
    rows += [_incident(29, workspace="T2", closed_at=a_closed, csat=1, buy_again="no"),
             _incident(30, closed_at=NOW - 40 * DAY, csat=1, buy_again="no"),
             _incident(31, closed_at=a_closed),
             _incident(32, closed_at=None)]
    with db.engine.begin() as connection:
        ids = dict((number, incident_id) for incident_id, number in connection.execute(
            insert(Incident).returning(Incident.id, Incident.number), rows).all())
        records = []
        for row in rows:
            late, skipped = 13 <= row["number"] <= 24, 13 <= row["number"] <= 24
            created = row["created_at"]
            records += [
                {"incident_id": ids[row["number"]], "seq": 1, "step": "acknowledge", "status": "done",
                 "started_at": created, "due_at": created + 15 * MIN, "ended_at": created + (40 if late else 10) * MIN},
                {"incident_id": ids[row["number"]], "seq": 2, "step": "apologize",
                 "status": "skipped" if skipped else "done", "started_at": created, "due_at": created + 45 * MIN,
                 "ended_at": created + 20 * MIN}]
        connection.execute(insert(StepRecord), records)


def _tally(scores: list[int], yes: int) -> Tally:
    return Tally(len(scores), yes, sum(scores), sum(s * s for s in scores))


A, B = _tally([9, 8] * 6, 10), _tally([4, 5] * 6, 3)
GIFTS, DECLINED = _tally([10] * 3, 3), _tally([7], 1)


def _plus(*tallies: Tally) -> Tally:
    return Tally(*(sum(values) for values in zip(*tallies)))


def test_the_sql_adds_up_each_split_by_hand(database_url):
    db = Database.from_url(database_url)
    upgrade(db.engine)
    seed(db)
    window = stats_window(NOW, 30)
    with db.read() as session:
        found = insight_tallies(session, workspace_id="T1", window=window, week_starts=week_starts(window, UTC))
    db.dispose()
    c = _plus(GIFTS, DECLINED)
    assert found == {
        "overall": {"": _plus(A, B, c)},
        "acknowledge": {"within": _plus(A, c), "late": B},
        "resolve": {"under_4h": A, "1d_3d": B, "4h_24h": c},
        "apology": {"done": _plus(A, c), "skipped": B},
        "remedy": {"refund": A, "none": B, "gift": GIFTS, "": DECLINED},
        "amount": {"within": A, "none": _plus(B, DECLINED), "approved_above": GIFTS},
        "cause": {"delivery": _plus(A, DECLINED), "billing": B, "": GIFTS},
        "severity": {"normal": A, "high": B, "low": c},
        "owner": {"U2": _plus(A, c), "U3": B},
        # Mondays 5, 12, 19, 26 Oct and 2 Nov: week 2 from 12 Oct, 3 from 19 Oct, 4 from 26 Oct.
        "week": {"2": c, "3": B, "4": A},
    }
    assert _plus(A, B, c) == Tally(28, 17, 193, 1465)


def _seeded_bot(make_bot, settings, clock, **changes):  # noqa: ANN001, ANN202 - fixtures
    clock.set(NOW)
    bot = make_bot(replace(settings, **changes))
    seed(bot.runtime.db)
    bot.fake.add_user("U2", display_name="Ana", real_name="Ana Lima")
    bot.fake.add_user("U3", display_name="Ben", real_name="Ben Okafor")
    return bot


def test_a_lead_gets_the_insights_through_the_response_url_after_the_ack(make_bot, settings, clock):
    bot = _seeded_bot(make_bot, settings, clock)
    ack, answer = bot.slack.command_answered_later("/recovery insights 30d", user=LEAD)
    assert ack.text == "Working out the figures… they will appear here in a moment."
    [call] = bot.fake.calls("response_url")
    assert call.params["response_type"] == "ephemeral"
    assert call.params["text"] == "Recovery insights, last 30 days: 61% would buy again, satisfaction 6.9 (n=28)"
    assert answer.visible_to == LEAD
    texts = answer.mrkdwn_texts()
    assert "<@" not in "".join(texts), "owners are named, never mentioned"
    assert texts[1] == ("*28 answers* to the follow-up since Sat 3 Oct.\n"
                        "*Would buy again:* 61% (95%: 42–76%) · *Satisfaction:* 6.9 / 10 (95%: 6.0–7.8)")
    shares = texts[2].splitlines()
    assert shares[:2] == [
        "*Worth acting on: would buy again*",
        "• Acknowledged within SLA: 88% would buy again (n=16) vs 25% when acknowledged late (n=12); the difference "
        "is 26 to 81 points (95%)."]
    assert ("• Owned by @Ana: 88% would buy again (n=16) vs 25% when owned by @Ben (n=12); the difference is 26 to 81 "
            "points (95%).") in shares
    assert ("• Resolved in under 4 h: satisfaction 8.5 (n=12) vs 4.5 when resolved in 1–3 days (n=12); the difference "
            "is 3.6 to 4.4 (95%).") in texts[3].splitlines()
    assert texts[4].startswith("*Against customers who never had a problem:* no baseline yet. Set "
                               "`BASELINE_WOULD_BUY_AGAIN` and `BASELINE_SATISFACTION`")
    assert texts[5] == ("*Time to acknowledge, against its SLA*\n"
                        "• within SLA: 88% would buy again (64–97%) · satisfaction 8.7 (8.2–9.2) · n=16\n"
                        "• late: 25% would buy again (9–53%) · satisfaction 4.5 (4.2–4.8) · n=12")
    assert texts[6] == ("*Time to resolve, from the flag to the customer's agreement*\n"
                        "• under 4 h: 83% would buy again (55–95%) · satisfaction 8.5 (8.2–8.8) · n=12\n"
                        "• 4–24 h: not enough answers yet (n=4)\n"
                        "• 1–3 days: 25% would buy again (9–53%) · satisfaction 4.5 (4.2–4.8) · n=12")
    assert texts[8].splitlines()[1:] == [
        "• refund: 83% would buy again (55–95%) · satisfaction 8.5 (8.2–8.8) · n=12",
        "• gift: not enough answers yet (n=3)",
        "• no remedy: 25% would buy again (9–53%) · satisfaction 4.5 (4.2–4.8) · n=12",
        "• not recorded: not enough answers yet (n=1)"]
    assert texts[12] == ("*Owner*\n• @Ana: 88% would buy again (64–97%) · satisfaction 8.7 (8.2–9.2) · n=16\n"
                         "• @Ben: 25% would buy again (9–53%) · satisfaction 4.5 (4.2–4.8) · n=12")
    assert texts[13] == ("*Would buy again by week* (from each Monday; – is fewer than 10 answers)\n"
                         "12 Oct – (n=4) · 19 Oct 25% (n=12) · 26 Oct 83% (n=12)")
    assert texts[14].startswith("*Next:* make the better side of each difference above the team's habit")


@pytest.mark.parametrize("share, satisfaction, lines", [
    ("30%", "5", [
        "• Would buy again: 61% of recovered customers vs 30% of those who never had a problem; the difference is "
        "+12 to +46 points (95%). Recovery *beat* the baseline here: the whole interval is above zero.",
        "• Satisfaction: 6.9 after recovery vs 5.0 without a problem (the baseline's mean taken as exact); the "
        "difference is +1.0 to +2.8 (95%). Recovery *beat* the baseline here: the whole interval is above zero."]),
    ("0.6", "7", [
        "• Would buy again: 61% of recovered customers vs 60% of those who never had a problem; the difference is "
        "−18 to +16 points (95%). Recovery *matched* the baseline: the interval includes zero, so these answers "
        "cannot tell recovered customers from those who never had a problem.",
        "• Satisfaction: 6.9 after recovery vs 7.0 without a problem (the baseline's mean taken as exact); the "
        "difference is −1.0 to +0.8 (95%). Recovery *matched* the baseline: the interval includes zero, so these "
        "answers cannot tell recovered customers from those who never had a problem."]),
    ("90%", "9", [
        "• Would buy again: 61% of recovered customers vs 90% of those who never had a problem; the difference is "
        "−48 to −14 points (95%). Recovery *fell short* of the baseline: the whole interval is below zero.",
        "• Satisfaction: 6.9 after recovery vs 9.0 without a problem (the baseline's mean taken as exact); the "
        "difference is −3.0 to −1.2 (95%). Recovery *fell short* of the baseline: the whole interval is below "
        "zero."]),
])
def test_against_the_settings_baseline_the_answer_says_beat_matched_or_fell_short(make_bot, settings, clock, share,
                                                                                    satisfaction, lines):
    from bot.settings import Settings

    configured = Settings.from_env({"BASELINE_WOULD_BUY_AGAIN": share, "BASELINE_SATISFACTION": satisfaction})
    bot = _seeded_bot(make_bot, settings, clock, baseline_would_buy_again=configured.baseline_would_buy_again,
                      baseline_satisfaction=configured.baseline_satisfaction)
    _, answer = bot.slack.command_answered_later("/recovery insights 30d", user=LEAD)
    [section] = [text for text in answer.mrkdwn_texts() if text.startswith("*Against customers")]
    assert section.splitlines() == [
        "*Against customers who never had a problem* (from settings: a value without a count, taken as exact)",
        *lines]


def test_with_no_answers_the_whole_answer_says_not_enough_answers_yet(make_bot, settings, clock):
    clock.set(NOW)
    bot = make_bot(settings)
    _, answer = bot.slack.command_answered_later("/recovery insights", user=LEAD)
    assert answer.text == "Recovery insights, last 90 days: not enough answers yet"
    assert answer.mrkdwn_texts()[1] == (
        "*Not enough answers yet:* no follow-up answer was recorded since Tue 4 Aug, and figures need 10. Insights "
        "count the satisfaction and \"would buy again\" recorded at each incident's follow-up: record them with "
        "*Record follow-up* in the card's thread when the follow-up falls due, then ask again, or look over a longer "
        "window (`/recovery insights 365d`).")


def test_with_fewer_than_ten_answers_it_says_how_many(make_bot, settings, clock):
    clock.set(NOW)
    bot = make_bot(settings)
    with bot.runtime.db.engine.begin() as connection:
        connection.execute(insert(Incident), [_incident(n, closed_at=NOW - DAY, csat=8, buy_again="yes")
                                              for n in range(1, 8)])
    _, answer = bot.slack.command_answered_later("/recovery insights 365d", user=LEAD)
    assert answer.text == "Recovery insights, last 365 days: not enough answers yet (n=7)"
    assert answer.mrkdwn_texts()[1].startswith(
        "*Not enough answers yet:* only 7 follow-up answers were recorded since Sun 2 Nov, and figures need 10.")


def test_anyone_but_a_lead_is_refused_and_nothing_is_worked_out(bot):
    ack = bot.slack.command("/recovery insights", user="U2")
    assert ack.text == "Only a lead can see `/recovery insights`."
    assert not bot.fake.wait_for(lambda: bot.fake.attempts("response_url"), timeout=0.5)


def test_a_window_it_does_not_know_is_answered_in_the_ack_with_the_usage(bot):
    ack = bot.slack.command("/recovery insights 7d", user=LEAD)
    assert ack.text.startswith("`/recovery insights` takes `30d`, `90d` or `365d`, not `7d`.\n\n*Usage:*")
    assert not bot.fake.wait_for(lambda: bot.fake.attempts("response_url"), timeout=0.5)
