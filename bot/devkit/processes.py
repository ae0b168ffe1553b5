"""Real processes for the tests that kill and restart the bot, and for the benchmarks: a
server in a subprocess on a free port, started, waited for and stopped by its own pid."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path

from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
# Every variable Settings reads: none may leak into a bot process from the caller's shell.
BOT_VARIABLES = (
    "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_API_URL", "DATABASE_URL",
    "RECOVERY_CHANNEL", "FLAG_EMOJI", "LEAD_USER_IDS", "EMPOWERMENT_LIMIT", "FOLLOW_UP_AFTER", "ESCALATE_FACTOR",
    "TZ", "DIGEST_TIME", "DIGEST_CHANNELS", "WORK_HOURS", "PLAYBOOK_FILE", "SCHEDULER_TICK",
    "SLACK_BOT_USER_ID", "OUTBOX_KEEP", "SLACK_PACING", "SLACK_POSTS_PER_SECOND", "SLACK_HISTORY_PER_MINUTE",
    "SOCKET_MODE_PING", "HEALTH_PORT", "LEAD_GROUP", "LEAD_CHANNEL", "CURRENCY",
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without the bot's variables, able to import the repository."""
    env = {key: value for key, value in os.environ.items() if key not in BOT_VARIABLES}
    return env | {"PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"} | dict(extra or {})


def bot_env(settings: Settings, *, tick: str | None = "1s", extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a bot process gets: the connection settings, the tick (None: the bot's
    default), the leads and whether the outbox paces itself from ``settings``, plus ``extra``
    variables."""
    env = {
        "SLACK_BOT_TOKEN": settings.slack_bot_token or "xoxb-test",
        "SLACK_SIGNING_SECRET": settings.slack_signing_secret or "secret",
        "SLACK_API_URL": settings.slack_api_url, "DATABASE_URL": settings.database_url,
        "LEAD_USER_IDS": ",".join(sorted(settings.lead_user_ids)),
        "SLACK_PACING": "on" if settings.slack_pacing else "off",
    } | ({"LEAD_GROUP": settings.lead_group} if settings.lead_group else {}) | (
        {"SCHEDULER_TICK": tick} if tick else {})
    return clean_env(env | dict(extra or {}))


def _wait_healthy(url: str, alive: Callable[[], bool], timeout: float, log: Path | None = None) -> None:
    """Until ``url`` answers below 500 (GET /healthz is 503 while the database is unreachable)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"the process serving {url} died while starting{_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError as error:
            if error.code < 500:
                return
        except OSError:
            pass
        time.sleep(0.02)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s{_tail(log)}")


def _tail(log: Path | None, chars: int = 3000) -> str:
    return f":\n{log.read_text(errors='replace')[-chars:]}" if log is not None and log.exists() else ""


class ServedProcess:
    """An HTTP server in a subprocess on ``port``, its output in ``log``; ready when ``ready_path``
    answers. The bot and the benchmarks' bare Bolt floor are both started this way."""

    def __init__(self, argv: list[str], *, env: Mapping[str, str], log: Path, port: int, cwd: Path = ROOT,
                 ready_path: str = "/healthz") -> None:
        self.port = port
        self.log_path = log
        self._ready_url = self.url + ready_path
        self._log = log.open("ab")
        self.process = subprocess.Popen(argv, env=dict(env), cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_healthy(self, timeout: float = 30) -> ServedProcess:
        _wait_healthy(self._ready_url, self.alive, timeout, self.log_path)
        return self

    def kill(self) -> None:
        """kill -9: no clean-up, no flush, exactly like a crash."""
        if self.alive():
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self._log.close()

    def stop(self) -> None:
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()


class BotProcess(ServedProcess):
    """`python -m bot serve` in a subprocess: the real thing, with the system clock."""

    def __init__(self, settings: Settings, *, log: Path, tick: str | None = "1s", threads: int | None = None,
                 env: Mapping[str, str] | None = None, cwd: Path = ROOT) -> None:
        port = free_port()
        argv = [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port)]
        super().__init__(argv + (["--threads", str(threads)] if threads else []),
                         env=bot_env(settings, tick=tick, extra=env), log=log, port=port, cwd=cwd)


class SocketModeBotProcess(ServedProcess):
    """`python -m bot run` with an app-level token: Socket Mode, its /healthz on a free port.
    Ready when /healthz answers; connected when ``connected()`` says so."""

    def __init__(self, settings: Settings, *, app_token: str, log: Path, tick: str | None = "1s",
                 ping: str = "5s", env: Mapping[str, str] | None = None) -> None:
        port = free_port()
        extra = {"SLACK_APP_TOKEN": app_token, "HEALTH_PORT": str(port), "SOCKET_MODE_PING": ping}
        super().__init__([sys.executable, "-m", "bot", "run"],
                         env=bot_env(settings, tick=tick, extra=extra | dict(env or {})), log=log, port=port)

    def health(self) -> dict:
        with urllib.request.urlopen(self.url + "/healthz", timeout=2) as answer:
            return json.loads(answer.read())

    def socket_state(self) -> dict:
        return self.health()["socket_mode"]


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
        _wait_healthy(self.url + "/healthz", self.alive, timeout)

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
        self._process = subprocess.Popen([sys.executable, "-c", _FORK_SERVER], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, cwd=ROOT, env=clean_env(), text=True)
        self._started: list[ForkedBot] = []

    def start(self, settings: Settings, *, log: Path, tick: str = "1s",
              env: Mapping[str, str] | None = None) -> ForkedBot:
        port = free_port()
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(json.dumps({"env": bot_env(settings, tick=tick, extra=env), "port": port,
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
