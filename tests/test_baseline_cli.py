"""`python -m bot baseline --csv FILE` on each database: a good file loaded (and loaded again,
replacing it), a bad one refused line by line with nothing loaded, the insights answer then
comparing with the survey; bad BASELINE_* settings stop with one line."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from bot.domain.insights import BaselinePeriod
from storage.db import Database
from storage.insights_store import baseline_periods
from storage.migrate import upgrade
from tests.conftest import LEAD
from tests.test_cli import ROOT, _run
from tests.test_insights import _seeded_bot

GOOD = """period_start,period_end,would_buy_again,satisfaction,answers,satisfaction_sd
2026-09-01,2026-09-30,0.74,8.1,1200,1.6
2026-10-01,2026-10-31,72%,7.9,800,
"""


def _load(tmp_path: Path, database_url: str, text: str) -> tuple[Path, object]:
    path = tmp_path / "survey.csv"
    path.write_text(text, encoding="utf-8")
    return path, _run(["baseline", "--csv", str(path)], {"PYTHONPATH": str(ROOT), "DATABASE_URL": database_url},
                      tmp_path)


def _stored(database_url: str, workspace: str = "T1") -> list[BaselinePeriod]:
    db = Database.from_url(database_url)
    upgrade(db.engine)
    with db.read() as session:
        found = baseline_periods(session, workspace_id=workspace)
    db.dispose()
    return found


def test_a_good_file_is_loaded_and_loading_it_again_replaces_it(tmp_path, database_url):
    path, result = _load(tmp_path, database_url, GOOD)
    assert result.returncode == 0 and "Traceback" not in result.stderr
    assert result.stdout == f"recovery-bot: loaded 2 baseline periods for every workspace from {path}\n"
    assert _stored(database_url) == [BaselinePeriod(date(2026, 9, 1), date(2026, 9, 30), 0.74, 8.1, 1200, 1.6),
                                     BaselinePeriod(date(2026, 10, 1), date(2026, 10, 31), 0.72, 7.9, 800, None)]
    _, again = _load(tmp_path, database_url, "workspace_id,period_start,period_end,would_buy_again,satisfaction,"
                                             "answers\nT1,2026-10-01,2026-10-31,0.7,8,500\n")
    assert again.returncode == 0 and "for T1 from" in again.stdout
    assert _stored(database_url) == [BaselinePeriod(date(2026, 10, 1), date(2026, 10, 31), 0.7, 8.0, 500, None)]
    assert len(_stored(database_url, "T9")) == 2, "a workspace without its own rows keeps the every-workspace ones"


def test_a_bad_file_names_every_bad_line_and_loads_nothing(tmp_path, database_url):
    path, result = _load(tmp_path, database_url, GOOD + "\n".join([
        "2026-11-01,2026-11-30,1.4,8,100,",
        "2026-12-01,2026-11-30,0.7,8,100,",
        "2026-12-01,2026-12-31,0.7,11,0,",
        "2026-09-15,2026-09-20,0.7,8,100,-1",
        "01/01/2027,2027-01-31,0.7,8,100,",
        "2027-02-01,2027-02-28,,8,100,",
    ]) + "\n")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [
        f"recovery-bot: {path} line 4: would_buy_again: expected a share from 0 to 1 (or 0% to 100%), like 0.74 or "
        "74%, got '1.4'",
        f"recovery-bot: {path} line 5: period_end 2026-11-30 is before period_start 2026-12-01",
        f"recovery-bot: {path} line 6: answers: expected the number of answers, a whole number of at least 1, got '0'",
        f"recovery-bot: {path} line 7: satisfaction_sd: expected a standard deviation of satisfaction from 0 to 9, "
        "like 1.8, got '-1'",
        f"recovery-bot: {path} line 8: period_start: expected a date like 2026-10-01, got '01/01/2027'",
        f"recovery-bot: {path} line 9: would_buy_again is empty",
        f"recovery-bot: nothing was loaded from {path}; fix the lines above and run it again"]
    assert _stored(database_url) == []


def test_overlapping_periods_and_a_wrong_header_are_refused(tmp_path, database_url):
    path, result = _load(tmp_path, database_url, GOOD + "2026-09-30,2026-10-05,0.7,8,100,\n")
    assert result.returncode == 2
    assert result.stderr.splitlines()[:2] == [
        f"recovery-bot: {path} line 4: its period overlaps line 2's (2026-09-01 to 2026-09-30)",
        f"recovery-bot: {path} line 4: its period overlaps line 3's (2026-10-01 to 2026-10-31)"]
    path, result = _load(tmp_path, database_url, "start,end,share\n2026-09-01,2026-09-30,0.7\n")
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == (
        f"recovery-bot: {path} line 1: missing column period_start; missing column period_end; missing column "
        "would_buy_again; missing column satisfaction; missing column answers; unknown column 'start'; unknown column "
        "'end'; unknown column 'share' (the columns are period_start, period_end, would_buy_again, satisfaction, "
        "answers and, optionally, satisfaction_sd, workspace_id)")
    assert _stored(database_url) == []


@pytest.mark.parametrize("variable, value", [("BASELINE_WOULD_BUY_AGAIN", "74"), ("BASELINE_SATISFACTION", "11")])
def test_a_bad_baseline_setting_stops_with_one_line_naming_it(tmp_path, variable, value):
    result = _run(["migrate"], {variable: value, "PYTHONPATH": str(ROOT)}, tmp_path)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"recovery-bot: {variable}: expected ") and line.endswith(f"got '{value}'")


def test_insights_compare_with_the_survey_periods_the_window_overlaps(tmp_path, make_bot, settings, clock):
    bot = _seeded_bot(make_bot, settings, clock)
    _, loaded = _load(tmp_path, settings.database_url, GOOD)
    assert loaded.returncode == 0, loaded.stderr
    _, answer = bot.slack.command_answered_later("/recovery insights 30d", user=LEAD)
    [section] = [text for text in answer.mrkdwn_texts() if text.startswith("*Against customers")]
    # The last 30 days overlap October's period only: 17/28 against 72% of 800 (Newcombe), 6.9 against 7.9
    # taken as exact (October has no spread): 6.03 to 7.76 less 7.9.
    assert section.splitlines() == [
        "*Against customers who never had a problem* (your survey: n=800, Thu 1 Oct 2026 to Sat 31 Oct 2026)",
        "• Would buy again: 61% of recovered customers vs 72% of those who never had a problem; the difference is "
        "−30 to +5 points (95%). Recovery *matched* the baseline: the interval includes zero, so these answers "
        "cannot tell recovered customers from those who never had a problem.",
        "• Satisfaction: 6.9 after recovery vs 7.9 without a problem (the baseline's mean taken as exact); the "
        "difference is −1.9 to −0.1 (95%). Recovery *fell short* of the baseline: the whole interval is below zero."]
