"""Real bot processes, for the tests that kill and restart them and for the benchmarks."""
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

ROOT = Path(__file__).resolve().parents[2]


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


def bot_env(settings: Settings, *, tick: str = "1s") -> dict[str, str]:
    """The environment a bot process gets: what BotProcess passes, as a dict."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SLACK_", "DATABASE_"))}
    return env | {
        "PYTHONPATH": str(ROOT), "SLACK_BOT_TOKEN": settings.slack_bot_token or "xoxb-test",
        "SLACK_SIGNING_SECRET": settings.slack_signing_secret or "secret",
        "SLACK_API_URL": settings.slack_api_url, "DATABASE_URL": settings.database_url,
        "SCHEDULER_TICK": tick, "LEAD_USER_IDS": ",".join(sorted(settings.lead_user_ids)),
    }


# A Python that has imported the bot and forks a child per start. Each child runs exactly what
# `python -m bot serve` runs, `bot.cli.main(["serve", ...])`, in its own process (its own
# database connections, sender thread, scheduler and port), with its output in its log file.
_FORK_SERVER = r"""
import inspect, json, os, signal, sys, threading
import bot.cli, bot.runtime, bot.web, storage.migrate, waitress, waitress.server
import alembic.command, alembic.runtime.migration, psycopg, sqlalchemy.dialects.postgresql.psycopg
inspect.stack()  # fills inspect's module cache, which Bolt's App() otherwise fills in every child
assert threading.active_count() == 1, "nothing may run before a fork"
signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps children: a dead pid is gone
for line in sys.stdin:
    order = json.loads(line)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            fd = os.open(order["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.environ.clear()
            os.environ.update(order["env"])
            code = bot.cli.main(["serve", "--host", "127.0.0.1", "--port", str(order["port"])])
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    sys.stdout.write(f"{pid}\n")
    sys.stdout.flush()
"""


class ForkedBot:
    """One bot process started by a ForkServer; the same handles as BotProcess."""

    def __init__(self, pid: int, port: int) -> None:
        self.pid = pid
        self.port = port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def wait_healthy(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.alive(), "the bot process died while starting"
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.02)
        raise AssertionError("the bot process did not become healthy")

    def _signal_and_wait(self, signum: int, timeout: float) -> bool:
        try:
            os.kill(self.pid, signum)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def kill(self) -> None:
        """kill -9: no clean-up, no flush, exactly like a crash; returns once it is gone."""
        assert self._signal_and_wait(signal.SIGKILL, 10), f"pid {self.pid} survived kill -9"

    def stop(self) -> None:
        if not self._signal_and_wait(signal.SIGTERM, 10):
            self.kill()


class ForkServer:
    """Starts bot processes in a few milliseconds instead of the ~0.7 s of imports, for tests
    that crash and restart the bot dozens of times. Use as a context manager."""

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self._process = subprocess.Popen([sys.executable, "-c", _FORK_SERVER], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, cwd=ROOT, env=env, text=True)
        self._started: list[ForkedBot] = []

    def start(self, settings: Settings, *, log: Path, tick: str = "1s") -> ForkedBot:
        import json

        port = free_port()
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(json.dumps({"env": bot_env(settings, tick=tick), "port": port,
                                              "log": str(log)}) + "\n")
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        assert line, "the fork server died"
        child = ForkedBot(int(line), port)
        self._started.append(child)
        return child

    def close(self) -> None:
        for child in self._started:
            if child.alive():
                child.kill()
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=10)
        if self._process.stdout is not None:
            self._process.stdout.close()

    def __enter__(self) -> ForkServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
