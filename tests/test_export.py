"""`/recovery export`: a lead's CSV built by the outbox and uploaded to their DM through the
double's upload flow (files.getUploadURLExternal, the POST, files.completeUploadExternal),
parsed back cell by cell; a non-lead refused with nothing uploaded; formula cells defused."""
from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.devkit.slack_double import Message
from bot.views.export import COLUMNS, csv_cell
from handlers.commands import EXPORT_REFUSED
from tests.conftest import LEAD, ServedBot

OWNER = "U2"


def _prompt(bot: ServedBot, number: int) -> Message:
    live = [m for m in bot.thread(bot.card(number)) if any(b.get("type") == "actions" for b in m.blocks)]
    return live[-1]


def _form(bot: ServedBot, message: Message, label: str, values: dict, *, user: str = OWNER) -> None:
    before = len(bot.fake.views())
    assert bot.slack.click(message, label, user=user).status == 200
    assert bot.fake.wait_for(lambda: len(bot.fake.views()) > before), f"{label} opened no modal"
    assert bot.slack.submit(bot.fake.views()[-1], values, user=user).body == ""
    bot.settle()


def _press(bot: ServedBot, number: int, label: str, *, user: str = OWNER) -> None:
    assert bot.slack.click(_prompt(bot, number), label, user=user).status == 200
    bot.settle()


def _recover(bot: ServedBot) -> None:
    """#1 flagged by reaction and recovered to the end (`work_to_closed`)."""
    flag(bot)
    work_to_closed(bot)


def flag(bot: ServedBot) -> None:
    """#1, flagged by reaction on a message naming the customer."""
    complaint = bot.fake.add_user_message("C1", user="UCUST", text="Ana Silva here: my parcel arrived crushed")
    bot.slack.react(channel="C1", ts=complaint.ts)
    bot.settle()


def work_to_closed(bot: ServedBot) -> None:
    """#1 claimed and recovered to the end: acknowledged late, a refund over the limit
    approved by the lead, agreed, followed up three days later."""
    bot.slack.click(bot.card(1), "Claim", user=OWNER)
    bot.settle()
    bot.clock.advance(timedelta(minutes=20))
    _press(bot, 1, "Done")
    _press(bot, 1, "Done")
    _form(bot, _prompt(bot, 1), "Done", {"root_cause": "delivery", "fix_note": "Reshipped"})
    _form(bot, _prompt(bot, 1), "Done", {"remedy_kind": "refund", "amount": "120"})
    _press(bot, 1, "Approve", user=LEAD)
    _press(bot, 1, "Agreed")
    bot.clock.advance(timedelta(days=3, minutes=1))
    bot.runtime.ticker.tick()
    bot.settle()
    _form(bot, _prompt(bot, 1), "Record follow-up", {"csat": "9", "buy_again": "yes", "follow_up_note": "Happy"})


def _exported(bot: ServedBot) -> tuple[dict, list[dict[str, str]]]:
    (shared,) = bot.fake.files()
    text = shared["bytes"].decode("utf-8-sig")
    return shared, list(csv.DictReader(io.StringIO(text, newline="")))


def test_a_leads_export_comes_to_their_dm_as_a_csv_with_each_incidents_cells(bot):
    _recover(bot)
    bot.slack.command("/recovery new Wrong size sent", user=OWNER)
    bot.slack.command("/recovery cancel 2 =HYPERLINK(\"http://evil.example\",\"click\")", user=LEAD)
    bot.slack.command("/recovery new -2 stars review", user=OWNER)
    bot.settle()

    before = len(bot.fake.calls())
    answer = bot.slack.command("/recovery export", user=LEAD)
    assert answer.text == ("Preparing the export of the incidents flagged in the last 30 days… it will come to you "
                           "as a direct message.")
    assert bot.fake.files() == [], "built and uploaded by the outbox, after the ack"
    bot.settle()

    shared, rows = _exported(bot)
    assert (shared["name"], shared["title"], shared["channel"]) == (
        "recovery-export-30d-20261105-1021.csv", "Recovery export: incidents flagged in the last 30 days", f"D{LEAD}")
    assert list(rows[0]) == list(COLUMNS)
    assert [row["number"] for row in rows] == ["1", "2", "3"]
    assert rows[0] == {
        "workspace": "T1", "number": "1", "flagged_channel": "C1", "card_channel": "C1",
        "flagged_at": "2026-11-02T10:00:00Z", "status": "closed", "closed_at": "2026-11-05T10:21:00Z",
        "owner": OWNER, "severity": "normal", "category": "", "root_cause": "delivery", "remedy_kind": "refund",
        "remedy_amount": "120.00", "currency": "USD", "approved_by": LEAD, "satisfaction": "9",
        "would_buy_again": "yes", "cancel_reason": "",
        "claim_at": "2026-11-02T10:00:00Z", "claim_result": "done", "claim_within_sla": "true",
        "acknowledge_at": "2026-11-02T10:20:00Z", "acknowledge_result": "done", "acknowledge_within_sla": "false",
        "apologize_at": "2026-11-02T10:20:00Z", "apologize_result": "done", "apologize_within_sla": "true",
        "fix_at": "2026-11-02T10:20:00Z", "fix_result": "done", "fix_within_sla": "true",
        "make_it_right_at": "2026-11-02T10:20:00Z", "make_it_right_result": "done",
        "make_it_right_within_sla": "true",
        "buy_in_at": "2026-11-02T10:20:00Z", "buy_in_result": "done", "buy_in_within_sla": "true",
        "follow_up_at": "2026-11-05T10:21:00Z", "follow_up_result": "done", "follow_up_within_sla": "true",
    }
    assert {key: rows[1][key] for key in ("status", "owner", "cancel_reason", "closed_at", "claim_at")} == {
        "status": "cancelled", "owner": "", "cancel_reason": "'=HYPERLINK(\"http://evil.example\",\"click\")",
        "closed_at": "2026-11-05T10:21:00Z", "claim_at": ""}
    assert rows[2]["status"] == "open" and rows[2]["flagged_at"] == "2026-11-05T10:21:00Z"
    assert "Ana Silva" not in shared["bytes"].decode("utf-8-sig"), "no personal data in the file"

    comment = bot.fake.messages(f"D{LEAD}")[-1]
    assert comment.files == (shared["id"],)
    assert comment.text == (
        "Here is your export: 3 incidents flagged in the last 30 days, from <!date^1791282060^{date_short_pretty} "
        "at {time}|Tue 06 Oct 10:21 UTC> to <!date^1793874060^{date_short_pretty} at {time}|Thu 05 Nov 10:21 UTC>. "
        "One row per incident with its channels, times, each step's end and whether it was within its SLA, owner, "
        "severity, category, root cause, remedy, approval, satisfaction, would buy again, status and cancel reason "
        "(times in UTC; the columns are described in the README). No personal data: customer names, the "
        "customer's quoted message and summary, and the notes typed at each step are left out.")
    assert [call.method for call in bot.fake.calls()[before:]] == [
        "conversations.open", "files.getUploadURLExternal", "file_upload", "files.completeUploadExternal"]


def test_a_non_lead_is_refused_and_nothing_is_uploaded(bot):
    bot.slack.command("/recovery new Wrong size sent", user=OWNER)
    bot.settle()

    assert bot.slack.command("/recovery export all", user=OWNER).text == EXPORT_REFUSED
    bot.settle()

    assert bot.fake.files() == []
    assert [call.method for call in bot.fake.calls() if call.method.startswith("files.")] == []


def test_a_period_it_does_not_know_gets_the_usage_line_and_no_export(bot):
    answer = bot.slack.command("/recovery export 7d", user=LEAD)
    bot.settle()

    assert answer.text.startswith("`/recovery export` takes `30d`, `90d` or `all`, not `7d`.\n\n*Usage:*")
    assert bot.fake.files() == []


def test_an_upload_refused_before_it_completed_is_done_again_from_the_start(bot):
    bot.slack.command("/recovery new Wrong size sent", user=OWNER)
    bot.settle()
    bot.fake.fail_next("files.completeUploadExternal", status=500)

    bot.slack.command("/recovery export 90d", user=LEAD)
    bot.settle()
    assert [f["channel"] for f in bot.fake.files()] == [None], "reserved and sent, never shared"
    bot.clock.advance(timedelta(seconds=2))
    bot.settle()

    first, second = bot.fake.files()
    assert (first["channel"], second["channel"]) == (None, f"D{LEAD}")
    assert second["bytes"] == first["bytes"], "the same period, built again"
    assert [row["number"] for row in _exported_rows(second)] == ["1"]
    assert [m.files for m in bot.fake.messages(f"D{LEAD}")] == [(second["id"],)]


def _exported_rows(shared: dict) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(shared["bytes"].decode("utf-8-sig"), newline="")))


def test_the_double_refuses_a_user_id_where_an_upload_is_shared_as_slack_does(fake_slack):
    client = WebClient(token="xoxb-test", base_url=fake_slack.api_url, retry_handlers=[])

    with pytest.raises(SlackApiError) as refused:
        client.files_upload_v2(channel="U2", content=b"a,b\n", filename="x.csv", title="x")

    assert refused.value.response["error"] == "invalid_arguments"
    assert client.files_upload_v2(channel="DU2", content=b"a,b\n", filename="x.csv", title="x")["file"]["id"]


@pytest.mark.parametrize("text, cell", [
    ("=1+1", "'=1+1"), ("+44 20", "'+44 20"), ("-2 stars", "'-2 stars"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\tx", "'\tx"), ("\rx", "'\rx"), ("refund = fine", "refund = fine"), ("", ""),
])
def test_a_text_cell_a_spreadsheet_would_run_gets_a_quote_in_front(text, cell):
    assert csv_cell(text) == cell


def test_numbers_and_answers_stay_as_they_are():
    assert [csv_cell(value) for value in (7, Decimal("-1.50"), True, False, None)] == ["7", "-1.50", "true", "false", ""]
