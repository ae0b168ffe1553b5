"""The process edge: bad settings stop start-up with one line and exit code 2; migrate and
serve work as an admin would run them."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from bot.devkit.processes import free_port

ROOT = Path(__file__).resolve().parent.parent


def _run(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    clean = {key: value for key, value in os.environ.items() if not key.startswith(("SLACK_", "DATABASE_", "LEAD_"))}
    return subprocess.run([sys.executable, "-m", "bot", *args], env={**clean, **env}, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("variable, value", [
    ("FOLLOW_UP_AFTER", "soon"), ("TZ", "Mars/Olympus"), ("WORK_HOURS", "nine to five"),
    ("ESCALATE_FACTOR", "0.5"), ("EMPOWERMENT_LIMIT", "-3"), ("DIGEST_TIME", "25:00"),
])
def test_bad_setting_stops_with_one_line_naming_it(tmp_path, variable, value):
    result = _run(["migrate"], {variable: value, "PYTHONPATH": str(ROOT)}, tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and variable in lines[0]
    assert "Traceback" not in result.stderr


def test_serve_without_tokens_names_them_and_points_to_demo(tmp_path):
    result = _run(["serve"], {"PYTHONPATH": str(ROOT)}, tmp_path)
    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN" in result.stderr and "SLACK_SIGNING_SECRET" in result.stderr
    assert "demo" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("command, credentials", [
    ("serve", {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}),
    ("run", {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"}),
    ("run", {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}),
])
def test_no_lead_stops_start_up_with_one_line_naming_lead_user_ids(tmp_path, command, credentials):
    result = _run([command], {"PYTHONPATH": str(ROOT), "LEAD_USER_IDS": " ", **credentials}, tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "recovery-bot: LEAD_USER_IDS is not set (nor LEAD_GROUP); name at least one support lead, like "
        "LEAD_USER_IDS=U012AB3CD: leads approve remedies over the limit and get escalations"]
    assert not (tmp_path / "recovery.db").exists()


def test_a_lead_group_alone_is_enough_to_start(tmp_path):
    """Past the leads check, serve stops at the next one: the broken playbook."""
    playbook = tmp_path / "playbook.toml"
    playbook.write_text('[[steps]]\nkey = "dance"\n')
    result = _run(["serve"], {"PYTHONPATH": str(ROOT), "PLAYBOOK_FILE": str(playbook), "LEAD_GROUP": "S0LEADS",
                              "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}, tmp_path)
    assert result.returncode == 2
    assert "dance" in result.stderr and "LEAD" not in result.stderr


def test_broken_playbook_file_stops_with_one_line(tmp_path):
    playbook = tmp_path / "playbook.toml"
    playbook.write_text('[[steps]]\nkey = "dance"\n')
    result = _run(["serve"], {"PYTHONPATH": str(ROOT), "PLAYBOOK_FILE": str(playbook), "LEAD_USER_IDS": "U1LEAD",
                              "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}, tmp_path)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "dance" in result.stderr


def test_migrate_creates_the_database(tmp_path):
    result = _run(["migrate"], {"PYTHONPATH": str(ROOT), "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout
    assert (tmp_path / "x.db").exists()


def test_serve_answers_health_checks_under_waitress(tmp_path, fake_slack):
    port = free_port()
    env = {**{key: value for key, value in os.environ.items() if not key.startswith("SLACK_")},
           "PYTHONPATH": str(ROOT), "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "secret",
           "LEAD_USER_IDS": "U1LEAD",
           "SLACK_API_URL": fake_slack.api_url, "DATABASE_URL": f"sqlite:///{tmp_path}/serve.db"}
    process = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port)],
                               env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert process.poll() is None, process.stdout.read().decode()
                assert time.monotonic() < deadline, "serve did not come up"
                time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
