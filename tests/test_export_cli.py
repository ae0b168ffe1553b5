"""`python -m bot export` and `python -m bot retention`, run as a data team or an admin would:
a real process against the database a served bot wrote."""
from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import LEAD
from tests.test_export import OWNER, _recover

ROOT = Path(__file__).resolve().parent.parent
NOTE = ("No personal data: customer names, the customer's quoted message and summary, and the notes typed at each "
        "step are left out.")


def _run(args: list[str], database_url: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {key: value for key, value in os.environ.items() if not key.startswith(("SLACK_", "DATABASE_", "LEAD_"))}
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=cwd, capture_output=True, text=True, timeout=60,
                          env={**clean, "PYTHONPATH": str(ROOT), "DATABASE_URL": database_url, **env})


def _played(bot) -> None:  # noqa: ANN001 - a ServedBot
    """#1 recovered to the end, #2 cancelled with a reason a spreadsheet would run. The fake
    clock stands in November 2026, so `all` is the period that holds them."""
    _recover(bot)
    bot.slack.command("/recovery new Wrong size sent", user=OWNER)
    bot.slack.command("/recovery cancel 2 @SUM(1+1)", user=LEAD)
    bot.settle()


def test_csv_to_stdout_and_what_it_holds_to_stderr(bot, database_url, tmp_path):
    _played(bot)

    result = _run(["export", "--since", "all"], database_url, tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[-1].startswith("recovery-bot: exporting the incidents flagged since the first, "
                                                     "up to 20")
    assert result.stderr.splitlines()[-1].endswith(NOTE)
    rows = list(csv.DictReader(io.StringIO(result.stdout, newline="")))
    assert [(row["number"], row["status"], row["cancel_reason"]) for row in rows] == [
        ("1", "closed", ""), ("2", "cancelled", "'@SUM(1+1)")]
    assert (rows[0]["remedy_amount"], rows[0]["approved_by"], rows[0]["satisfaction"], rows[0]["follow_up_at"]) == (
        "120.00", LEAD, "9", "2026-11-05T10:21:00Z")


def test_jsonl_is_one_object_per_incident_with_numbers_as_numbers(bot, database_url, tmp_path):
    _played(bot)

    result = _run(["export", "--since", "all", "--format", "jsonl"], database_url, tmp_path)

    assert result.returncode == 0, result.stderr
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert {key: first[key] for key in ("number", "remedy_amount", "satisfaction", "acknowledge_within_sla",
                                        "flagged_at", "category")} == {
        "number": 1, "remedy_amount": 120.0, "satisfaction": 9, "acknowledge_within_sla": False,
        "flagged_at": "2026-11-02T10:00:00Z", "category": None}
    assert (second["number"], second["cancel_reason"]) == (2, "@SUM(1+1)"), "JSON is for programs: as typed"


def test_timeline_is_one_json_event_a_line_without_the_notes(bot, database_url, tmp_path):
    _played(bot)

    result = _run(["export", "--since", "all", "--timeline"], database_url, tmp_path)

    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(event["number"], event["kind"]) for event in events if event["number"] == 2] == [
        (2, "created"), (2, "cancelled")]
    fix = next(event for event in events if event["kind"] == "step_done" and event.get("step") == "fix")
    assert fix == {"workspace": "T1", "number": 1, "kind": "step_done", "at": "2026-11-02T10:20:00Z", "actor": OWNER,
                   "step": "fix", "root_cause": "delivery"}, "the note typed at the fix is left out"
    assert "Reshipped" not in result.stdout and "Happy" not in result.stdout


def test_bad_options_are_one_line_and_exit_2(database_url, tmp_path):
    for args, line in [
        (["export", "--since", "7d"], "recovery-bot: export: argument --since: invalid choice: '7d' "
                                      "(choose from '30d', '90d', 'all')"),
        (["export", "--format", "xlsx"], "recovery-bot: export: argument --format: invalid choice: 'xlsx' "
                                         "(choose from 'csv', 'jsonl')"),
        (["export", "--timeline", "--format", "csv"], "recovery-bot: export: --timeline writes JSON lines; leave "
                                                      "out --format csv"),
        (["retention"], "recovery-bot: RETENTION_DAYS is not set, so nothing is due for erasure; set it, like "
                        "RETENTION_DAYS=365"),
    ]:
        result = _run(args, database_url, tmp_path)
        assert (result.returncode, result.stderr.splitlines(), result.stdout) == (2, [line], ""), args


def test_retention_now_says_how_many_incidents_it_erased(bot, database_url, tmp_path):
    _played(bot)

    result = _run(["retention"], database_url, tmp_path, RETENTION_DAYS="1")
    again = _run(["retention"], database_url, tmp_path, RETENTION_DAYS="1")

    assert (result.returncode, result.stdout) == (
        0, "recovery-bot: erased the customer's name and words from 2 incidents closed or cancelled over 1 day "
           "ago\n")
    assert again.stdout == ("recovery-bot: erased the customer's name and words from 0 incidents closed or "
                            "cancelled over 1 day ago\n")


def test_a_bad_retention_days_stops_with_the_settings_line(database_url, tmp_path):
    result = _run(["retention"], database_url, tmp_path, RETENTION_DAYS="a year")

    assert (result.returncode, result.stderr.splitlines()) == (
        2, ["recovery-bot: RETENTION_DAYS: expected a whole number of days from 1, like 365, got 'a year'"])
