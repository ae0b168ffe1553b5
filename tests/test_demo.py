"""The newcomer's first command: the offline demo plays a whole recovery without Slack.

The demo is played once for the module, with the Block Kit JSON printed; the transcript a
person reads is the same without those lines."""
from __future__ import annotations

from pathlib import Path

import pytest

from bot.devkit.demo import run_demo

pytestmark = pytest.mark.demo

JSON_MARK = "  ┊ "


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], list[str], Path]:
    """(the transcript's lines, the same with the Block Kit JSON, where the chart was saved)."""
    chart_dir = tmp_path_factory.mktemp("chart")
    lines: list[str] = []
    assert run_demo(out=lines.append, blocks=True, chart_dir=chart_dir) == 0
    return [line for line in lines if JSON_MARK not in line], lines, chart_dir


def test_demo_plays_the_whole_recovery_as_a_person_reads_it(played):
    lines = played[0]
    transcript = "\n".join(lines)
    assert transcript.index("Recovery #2") > transcript.index("Dana writes again"), \
        "the retried flag made no second incident: #2 is Dana's second message"
    assert "Recovery #3" not in transcript
    assert "[Claim (primary)] [Assign]" in transcript
    assert "already owned by" in transcript or "Too late" in transcript
    for step in ("Acknowledge and take ownership", "Apologize", "Understand and fix", "Go above and beyond",
                 "Customer buy-in", "Follow up"):
        assert f"✅ *{step}*: Done by" in transcript, step
    assert "Only @lee (lead) can approve this; they have been asked." in transcript
    assert "approved by @lee (lead)" in transcript
    assert transcript.index("nothing yet") < transcript.index("[Record follow-up (primary)]")
    prompts = [line for line in lines if line.endswith("*Follow up* on #1")]
    assert len(prompts) == 1, "the follow-up is prompted once"
    assert "[DM to " in transcript
    assert "Enter a whole number from 1 to 10." in transcript
    assert "*Closed*" in transcript and "Satisfaction: 9/10" in transcript
    assert "Remedy: refund £ 120" in transcript and "Total time" in transcript
    # The timeline of `/recovery show` writes amounts in the team's currency, as every surface does.
    assert "refund £ 120 (over the £ 50 limit)" in transcript and "$ " not in transcript
    assert "⏰" in transcript and "escalated to the leads (by DM)" in transcript, "a nudge and an escalation"
    assert "*Follow up* on #1 was due" in transcript, "the follow-up reminder"
    assert "Recovery digest · Tue 3 Nov" in transcript and "Remedy spend*  £ 120 over 1 remedy" in transcript
    assert "Recovered within SLA, by step" in transcript
    assert transcript.index("reacted :eyes: to dana (customer)'s message") < transcript.index("both press Claim")
    assert "reacted :white_check_mark: to dana (customer)'s message" in transcript, "the closed receipt"
    assert "<@" not in transcript and "<!date" not in transcript, "printed as people read it"
    assert "Traceback" not in transcript


def test_demo_shows_the_leads_day_with_who_is_notified_and_how_buttons_look(played):
    transcript = "\n".join(played[0])
    assert "*Overdue by 4 min*" in transcript, "the card turned overdue with the nudge"
    assert "[DM to lee (lead)] recovery-bot:\n    │ 🚨 #1 is stuck at *Acknowledge and take ownership*, 19m late" in transcript
    assert "[Open card ↗] [Assign to… ▾] [Snooze 1 hour]" in transcript
    assert "💤 @lee (lead) snoozed #1 until Mon 02 Nov 11:30 GMT" in transcript, "the escalation acted on"
    assert "💶 Approval needed on #1: @amy asks to give refund £ 120" in transcript or \
        "💶 Approval needed on #1: @ben asks to give refund £ 120" in transcript
    assert "*Agent's note:* Third damaged order in a row; they are a loyal customer" in transcript
    assert "[Approve (primary)] [Decline] [Open card ↗]" in transcript, "Decline is plain"
    assert "[DM to lee (lead)] recovery-bot ✎ updated:\n    │ ✅ Approved: refund £ 120 on #1, by @lee (lead)" in transcript, \
        "decided from the Home: the DM's copy is redrawn"
    assert "🔔 notifies lee (lead) (a DM)" in transcript
    assert "Recovery digest" in transcript
    assert "[DM to lee (lead)] recovery-bot:\n    │ Leads' roll-up · Tue 3 Nov" in transcript, "the leads' roll-up"


def test_demo_blocks_prints_the_block_kit_slack_received(played):
    json_lines = [line.split("┊ ", 1)[1] for line in played[1] if JSON_MARK in line]
    assert '"type": "actions"' in [line.strip() for line in json_lines]
    assert any('"style": "primary"' in line for line in json_lines)


CARD_1 = "https://fake.slack.test/archives/CSUPPORT/p1793613300000100"
CARD_2 = "https://fake.slack.test/archives/CSUPPORT/p1793615460000100"
RULE = "    │ " + "─" * 40


def _framed(*lines: str) -> str:
    return "\n".join([lines[0], *(RULE if line == "---" else f"    │ {line}" for line in lines[1:])])


def _agents_home(agent: str, *, step: str, within_sla: str, republished: bool = False) -> str:
    return _framed(
        f"  [Home of {agent}] recovery-bot{' ✎ republished' if republished else ''}:",
        "📋 My incidents (1)",
        "Open incidents you own, most urgent first.",
        f"*#1 ({CARD_1})* Third time my order arrives damaged. I want my money back <!channel>  [Done (primary)]",
        step,
        "---",
        "🙋 Unclaimed in my channels (1)",
        "Nobody owns these yet, longest waiting first. Your channels are those of the incidents you flagged or "
        "owned in the last 90 days: #support.",
        f"*#2 ({CARD_2})* Hello?? Is anyone reading this? Still no answer about my damaged order  [Claim (primary)]",
        "#support · Unclaimed for 1 min",
        "---",
        "📈 This week",
        "The last 7 days: median times from the flag, steps ended within their SLA, and the customers' answers at "
        "the follow-up.",
        "*You* (the incidents you own)",
        f"time to claim 0s · to resolve none resolved · within SLA {within_sla} · satisfaction no answers · "
        "would buy again no answers")


def _leads_home(approvals: tuple[str, ...], *, within_sla: str, republished: bool = False) -> str:
    return _framed(
        f"  [Home of lee (lead)] recovery-bot{' ✎ republished' if republished else ''}:",
        "[⚙️ Settings]",
        "---",
        *approvals,
        "---",
        "🚨 Escalated",
        "Open incidents whose current step the leads were alerted about, longest past due first.",
        "Nothing escalated right now.",
        "---",
        "⏰ Overdue by owner",
        "Open, past due and not snoozed, by owner, worst first.",
        "Nothing overdue. 🎉",
        "---",
        "📋 My incidents",
        "Open incidents you own, most urgent first.",
        "Nothing waiting on you. 🎉",
        "---",
        "🙋 Unclaimed in my channels",
        "Nobody owns these yet, longest waiting first. Your channels are those of the incidents you flagged or "
        "owned in the last 90 days: none yet.",
        "Nothing unclaimed in your channels.",
        "---",
        "📈 This week",
        "The last 7 days: median times from the flag, steps ended within their SLA, and the customers' answers at "
        "the follow-up.",
        "*You* (the incidents you own)",
        "time to claim no claims · to resolve none resolved · within SLA no steps ended · "
        "satisfaction no answers · would buy again no answers",
        "*The team*",
        f"time to claim 0s · to resolve none resolved · within SLA {within_sla} · satisfaction no answers · "
        "would buy again no answers")


def test_demo_shows_the_agents_and_the_leads_home_as_they_see_them_pressed_and_republished(played):
    lines = played[0]
    transcript = "\n".join(lines)
    agent = "ben" if "hands it to ben," in transcript else "amy"  # whoever lost the Claim race

    opened = _agents_home(agent, step="Acknowledge and take ownership · 💤 snoozed until Mon 02 Nov 11:30 GMT",
                          within_sla="no steps ended")
    after_done = _agents_home(agent, step="Apologize · due in 29 min", within_sla="0% of 1 step", republished=True)
    assert opened in transcript
    assert after_done in transcript
    pressed = transcript.index(f"▶ {agent.capitalize()} presses Done on the Home.")
    assert transcript.index(opened) < pressed < transcript.index(
        f"✅ *Acknowledge and take ownership*: Done by @{agent}") < transcript.index(
        f"    (a second later the bot republishes {agent}'s Home; nobody reopened it)\n{after_done}")

    waiting = _leads_home((
        "💶 Waiting for your approval (1)",
        "Remedies over the £ 50 an agent may give alone, waiting longest first.",
        f"*#1 ({CARD_1})* Third time my order arrives damaged. I want my money back <!channel>",
        f"*Customer:* Dana Reyes · *Remedy:* refund £ 120 · asked by @{agent}",
        "*Agent's note:* Third damaged order in a row; they are a loyal customer",
        "[Approve (primary)] [Decline]"), within_sla="75% of 4 steps")
    approved = _leads_home((
        "💶 Waiting for your approval",
        "Remedies over the £ 50 an agent may give alone, waiting longest first.",
        "Nothing waiting for your approval. 🎉"), within_sla="80% of 5 steps", republished=True)
    assert waiting in transcript
    assert approved in transcript
    assert transcript.index(waiting) < transcript.index("▶ Lee (lead) presses Approve on the Home.") < \
        transcript.index("✅ *Go above and beyond*: Done by") < transcript.index(approved)

    assert [line for line in lines if line.startswith("  [Home of ")] == [
        f"  [Home of {agent}] recovery-bot:", f"  [Home of {agent}] recovery-bot ✎ republished:",
        "  [Home of lee (lead)] recovery-bot:", "  [Home of lee (lead)] recovery-bot ✎ republished:",
    ], "each Home printed when opened and once after the press, not at every republish"


def test_demo_records_a_quarter_of_follow_ups_and_shows_the_insights_and_the_weekly_chart(played):
    lines, _, chart_dir = played
    transcript = "\n".join(lines)
    assert ("▶ … 48 more recoveries over the next four weeks (not printed): 27 acknowledged within the step's SLA, "
            "21 late, each followed up when the bot asked (clock now Wed 09 Dec 22:30)") in transcript
    asked = transcript.index("`/recovery insights 90d`.")
    posted = transcript.index("the weekly insights, with their chart")
    answer, post = transcript[asked:posted], transcript[posted:]
    for key_line in (
            "📊 Recovery insights, last 90 days",
            "*49 answers* to the follow-up since Tue 15 Sep.",
            "*Would buy again:* 53% (95%: 39–66%) · *Satisfaction:* 7.0 / 10 (95%: 6.5–7.4)",
            "• Acknowledged within SLA: 81% would buy again (n=27) vs 18% when acknowledged late (n=22); the "
            "difference is 36 to 78 points (95%).",
            "• Resolved in under 4 h: 86% would buy again (n=14) vs 0% when resolved in over 3 days (n=11); the "
            "difference is 49 to 96 points (95%).",
            "• 1–3 days: not enough answers yet (n=7)",
            "2 Nov – (n=1) · 9 Nov – (n=8) · 16 Nov 57% (n=14) · 23 Nov 55% (n=11) · 30 Nov 57% (n=14) · 7 Dec – (n=1)"):
        assert key_line in answer, key_line
        assert key_line in post, f"the weekly post says it too: {key_line}"
    assert "  [DM to lee (lead)] recovery-bot:\n    │ *📊 Recovery insights, last 90 days*" in post
    (file_line,) = [line for line in lines if "[file in " in line]
    assert file_line.startswith("    [file in DM to lee (lead)] insights-2026-W51.png (PNG, 1200×700) — alt: Chart of "
                                "the share of recovered customers who would buy again, last 90 days, 49 answers. "
                                "Left, by time to resolve: under 4 h 86% (95%: 60–96%, n=14);")
    saved = chart_dir / "insights-2026-W51.png"
    assert f"    (the chart Lee got is saved as {saved})" in lines
    assert saved.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert transcript.count("Recovery insights, last 90 days: 53% would buy again") == 0, \
        "the command's answer is printed once, as Lee reads it, not again as a raw ephemeral"
