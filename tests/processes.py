"""Real bot processes for the tests that kill and restart them."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bot.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class BotProcess:
    """`python -m bot serve` in a subprocess: the real thing, with the system clock."""

    def __init__(self, settings: Settings, *, log: Path, tick: str = "1s") -> None:
        self.port = free_port()
        env = {key: value for key, value in os.environ.items() if not key.startswith(("SLACK_", "DATABASE_"))}
        env |= {
            "PYTHONPATH": str(ROOT), "SLACK_BOT_TOKEN": settings.slack_bot_token or "xoxb-test",
            "SLACK_SIGNING_SECRET": settings.slack_signing_secret or "secret",
            "SLACK_API_URL": settings.slack_api_url, "DATABASE_URL": settings.database_url,
            "SCHEDULER_TICK": tick, "LEAD_USER_IDS": ",".join(sorted(settings.lead_user_ids)),
        }
        self._log = log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=env, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_healthy(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "the bot process died while starting"
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("the bot process did not become healthy")

    def kill(self) -> None:
        """kill -9: no clean-up, no flush, exactly like a crash."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self._log.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()
