"""The newcomer's first command: the offline demo plays a whole recovery without Slack."""
from __future__ import annotations

from bot.devkit.demo import run_demo


def test_demo_plays_the_whole_recovery_as_a_person_reads_it():
    lines: list[str] = []
    assert run_demo(out=lines.append) == 0
    transcript = "\n".join(lines)
    assert "Recovery #2" not in transcript, "the retried flag made no second incident"
    assert "[Claim] [Assign]" in transcript
    assert "already owned by" in transcript or "Too late" in transcript
    for step in ("Acknowledge and take ownership", "Apologize", "Understand and fix", "Go above and beyond",
                 "Customer buy-in", "Follow up"):
        assert f"✅ *{step}*: Done by" in transcript, step
    assert "Only @lee (lead) can approve this; they have been asked." in transcript
    assert "approved by @lee (lead)" in transcript
    assert transcript.index("nothing yet") < transcript.index("[Record follow-up]")
    prompts = [line for line in lines if line.endswith(", *Follow up* on #1")]
    assert len(prompts) == 1, "the follow-up is prompted once"
    assert "[DM to " in transcript
    assert "Enter a whole number from 1 to 10." in transcript
    assert "*Closed*" in transcript and "Satisfaction: 9/10" in transcript
    assert "Remedy: refund 120" in transcript and "Total time" in transcript
    assert "⏰" in transcript and "🚨 @lee (lead)" in transcript, "a nudge and an escalation"
    assert "*Follow up* on #1 was due" in transcript, "the follow-up reminder"
    assert "Recovery digest · Tue 3 Nov" in transcript and "Remedy spend*  120 over 1 remedy" in transcript
    assert "Recovered within SLA, by step" in transcript
    assert transcript.index("reacted :eyes: to dana (customer)'s message") < transcript.index("both press Claim")
    assert "reacted :white_check_mark: to dana (customer)'s message" in transcript, "the closed receipt"
    assert "<@" not in transcript and "<!date" not in transcript, "printed as people read it"
    assert "Traceback" not in transcript
