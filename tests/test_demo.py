"""The newcomer's first command: the offline demo tells the whole story without Slack."""
from __future__ import annotations

from bot.demo import run_demo


def test_demo_plays_flag_claim_race_and_reassignment():
    lines: list[str] = []
    assert run_demo(out=lines.append) == 0
    transcript = "\n".join(lines)
    assert transcript.count("Recovery #1:") >= 1
    assert "Recovery #2" not in transcript, "the retried flag made no second incident"
    assert "[Claim] [Assign]" in transcript
    assert "already owned by" in transcript or "Too late" in transcript
    assert "Acknowledge and take ownership" in transcript
    assert "Timeline" in transcript and "flagged it" in transcript
    assert "Traceback" not in transcript
