"""The newcomer's first command: the offline demo plays a whole recovery without Slack."""
from __future__ import annotations

from bot.devkit.demo import run_demo


def test_demo_plays_the_whole_recovery_as_a_person_reads_it():
    lines: list[str] = []
    assert run_demo(out=lines.append) == 0
    transcript = "\n".join(lines)
    assert "Recovery #2" not in transcript, "the retried flag made no second incident"
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
    assert "⏰" in transcript and "escalated to the leads (by DM)" in transcript, "a nudge and an escalation"
    assert "*Follow up* on #1 was due" in transcript, "the follow-up reminder"
    assert "Recovery digest · Tue 3 Nov" in transcript and "Remedy spend*  £ 120 over 1 remedy" in transcript
    assert "Recovered within SLA, by step" in transcript
    assert transcript.index("reacted :eyes: to dana (customer)'s message") < transcript.index("both press Claim")
    assert "reacted :white_check_mark: to dana (customer)'s message" in transcript, "the closed receipt"
    assert "<@" not in transcript and "<!date" not in transcript, "printed as people read it"
    assert "Traceback" not in transcript


def test_demo_shows_the_leads_day_with_who_is_notified_and_how_buttons_look():
    lines: list[str] = []
    assert run_demo(out=lines.append) == 0
    transcript = "\n".join(lines)
    assert "*Overdue by 4 min*" in transcript, "the card turned overdue with the nudge"
    assert "[DM to lee (lead)] recovery-bot:\n    │ 🚨 #1 is stuck at *Acknowledge and take ownership*, 19m late" in transcript
    assert "[Open card ↗] [Assign to… ▾] [Snooze 1 hour]" in transcript
    assert "💤 @lee (lead) snoozed #1 until Mon 02 Nov 11:30 GMT" in transcript, "the escalation acted on"
    assert "💶 Approval needed on #1: @amy asks to give refund £ 120" in transcript or \
        "💶 Approval needed on #1: @ben asks to give refund £ 120" in transcript
    assert "*Agent's note:* Third damaged order in a row; they are a loyal customer" in transcript
    assert "[Approve (primary)] [Decline] [Open card ↗]" in transcript, "Decline is plain"
    assert "✅ Approved: refund £ 120 on #1, by @lee (lead)" in transcript, "decided from the DM"
    assert "🔔 notifies lee (lead) (a DM)" in transcript
    assert "Recovery digest" in transcript
    assert "[DM to lee (lead)] recovery-bot:\n    │ Leads' roll-up · Tue 3 Nov" in transcript, "the leads' roll-up"


def test_demo_blocks_prints_the_block_kit_slack_received():
    lines: list[str] = []
    assert run_demo(out=lines.append, blocks=True) == 0
    json_lines = [line.split("┊ ", 1)[1] for line in lines if "┊ " in line]
    assert '"type": "actions"' in [line.strip() for line in json_lines]
    assert any('"style": "primary"' in line for line in json_lines)
