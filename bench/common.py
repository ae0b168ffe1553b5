"""What both benchmarks share: the processes under test, the databases, signed requests,
the load generators, and the arithmetic.

Processes: the bot is ``python -m bot serve`` and the floor is ``python -m bench.bare_app``,
each a subprocess on its own port, the same waitress thread count, logs to files. Only
processes started here are stopped here, by their own handles.
"""
from __future__ import annotations

import hashlib
import hmac
import http.client
import itertools
import json
import math
import os
import platform
import queue
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bot.devkit.slack_double import Message
from bot.devkit.driver import SlackDriver

REPO = Path(__file__).resolve().parent.parent
SIGNING_SECRET = "bench-signing-secret"
WRONG_SECRET = "not-the-signing-secret"
BOT_TOKEN = "xoxb-bench"
EVENTS_PATH = "/slack/events"
SERVE_DEFAULT_THREADS = 8  # `python -m bot serve --threads` default (bot/cli.py); both targets get the same
SLOW_SECONDS = 3.0  # Slack's ack deadline
STALE_SECONDS = 6 * 60  # Bolt refuses timestamps older than 5 minutes
# Environment variables the bot reads (SPEC section 5): none may leak in from the caller's shell.
_BOT_VARIABLES = (
    "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_API_URL", "DATABASE_URL",
    "RECOVERY_CHANNEL", "FLAG_EMOJI", "LEAD_USER_IDS", "EMPOWERMENT_LIMIT", "FOLLOW_UP_AFTER", "ESCALATE_FACTOR",
    "TZ", "DIGEST_TIME", "DIGEST_CHANNELS", "WORK_HOURS", "PLAYBOOK_FILE", "SCHEDULER_TICK",
)


def emit(result: dict[str, Any], section: str, json_path: str | None) -> None:
    """A benchmark run alone: print its markdown section and, if asked, write its raw figures."""
    print(section)
    if json_path:
        Path(json_path).write_text(json.dumps(result, indent=2, default=str))


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# Machine


def machine() -> dict[str, Any]:
    meminfo = _read("/proc/meminfo")
    total = re.search(r"MemTotal:\s+(\d+) kB", meminfo)
    available = re.search(r"MemAvailable:\s+(\d+) kB", meminfo)
    model = re.search(r"model name\s*:\s*(.+)", _read("/proc/cpuinfo"))
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "cpu": model.group(1).strip() if model else platform.processor() or "unknown",
        "memory_gib": round(int(total.group(1)) / 1024 / 1024, 1) if total else None,
        "memory_available_gib": round(int(available.group(1)) / 1024 / 1024, 1) if available else None,
        "loadavg": _read("/proc/loadavg").split()[:3],
        "kernel": platform.release(),
        "python": platform.python_version(),
        **_revision(),
    }


def _revision() -> dict[str, Any]:
    """The commit measured, and whether the working tree differed from it (read-only git calls)."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10,
                                  check=False).stdout.rstrip("\n")
        except (OSError, subprocess.SubprocessError):
            return ""

    changed = [line[3:] for line in git("status", "--porcelain").splitlines()
               if line[3:].startswith(tuple(f"{d}/" for d in PRODUCT_DIRS) + ("pyproject.toml",))]
    return {"commit": git("rev-parse", "--short", "HEAD").strip() or "unknown", "uncommitted": changed,
            "product_digest": product_digest()}


PRODUCT_DIRS = ("bot", "handlers", "storage")


def product_digest() -> str:
    """A short hash of the product's files as they are now: others edit them while benchmarks run,
    and a serve started later runs whatever is on disk then."""
    digest = hashlib.sha1()
    for directory in PRODUCT_DIRS:
        for path in sorted((REPO / directory).rglob("*")):
            if path.is_file() and path.suffix in (".py", ".ini", ".mako", ".toml"):
                digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:10]


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int | None, *, children: bool = False) -> float:
    """CPU time used by a process (and, with ``children``, its live and reaped descendants)."""
    if pid is None:
        return 0.0
    fields = _stat(pid)
    if fields is None:
        return 0.0
    total = int(fields[11]) + int(fields[12])
    if children:
        total += int(fields[13]) + int(fields[14])
        for child in descendants(pid):
            child_fields = _stat(child)
            if child_fields is not None:
                total += int(child_fields[11]) + int(child_fields[12])
    return total / _TICK


def _stat(pid: int) -> list[str] | None:
    text = _read(f"/proc/{pid}/stat")
    if not text:
        return None
    return text[text.rindex(")") + 2:].split()  # fields from 3 (state) on; utime is index 11


def descendants(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields is not None:
                parents[int(entry)] = int(fields[1])
    found, frontier = [], {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier}
        found.extend(frontier)
    return found


# Processes under test


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in _BOT_VARIABLES}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


class Served:
    """An HTTP server in a subprocess: started, waited for, stopped by its own pid."""

    def __init__(self, name: str, argv: list[str], *, env: dict[str, str], cwd: Path, port: int,
                 ready_path: str) -> None:
        self.name = name
        self.port = port
        self.host = "127.0.0.1"
        self.log_path = cwd / f"{name}.log"
        self._ready_path = ready_path
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self, timeout: float = 60.0) -> Served:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                connection = http.client.HTTPConnection(self.host, self.port, timeout=2)
                connection.request("GET", self._ready_path)
                status = connection.getresponse().status
                connection.close()
                if status < 500:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f}s:\n{self.log_tail()}")

    def log_tail(self, chars: int = 3000) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")[-chars:]

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()


def start_recovery(*, database_url: str, api_url: str, workdir: Path, threads: int = SERVE_DEFAULT_THREADS,
                   wait: bool = True) -> Served:
    port = free_port()
    env = _clean_env({"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                      "SLACK_API_URL": api_url, "DATABASE_URL": database_url})
    served = Served("recovery", [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port),
                                 "--threads", str(threads)], env=env, cwd=workdir, port=port, ready_path="/healthz")
    return served.wait_ready() if wait else served


def start_bare(*, api_url: str, workdir: Path, threads: int = SERVE_DEFAULT_THREADS, wait: bool = True) -> Served:
    port = free_port()
    env = _clean_env({"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": api_url})
    served = Served("bare", [sys.executable, "-m", "bench.bare_app", "--host", "127.0.0.1", "--port", str(port),
                             "--threads", str(threads)], env=env, cwd=workdir, port=port, ready_path="/")
    return served.wait_ready() if wait else served


# Databases


class Databases:
    """Fresh databases on demand: SQLite files in the work dir, or a throwaway PostgreSQL cluster."""

    def __init__(self, kind: str, workdir: Path) -> None:
        if kind not in ("sqlite", "postgresql"):
            raise ValueError(f"database must be sqlite or postgresql, not {kind!r}")
        self.kind = kind
        self.workdir = workdir
        self._pg = None
        self.description = "SQLite file (WAL, synchronous=NORMAL) on " + _filesystem(workdir)
        if kind == "postgresql":
            from bot.devkit.postgres import start_throwaway_postgres

            self._pg = start_throwaway_postgres(workdir / "pg")
            version = self._admin("SHOW server_version")
            self.description = f"PostgreSQL {version} (throwaway cluster from bot/devkit/postgres.py: fsync=off, local TCP)"

    @property
    def postmaster_pid(self) -> int | None:
        if self._pg is None:
            return None
        with suppress(OSError, ValueError, IndexError):
            return int((self._pg.directory / "data" / "postmaster.pid").read_text().split()[0])
        return None

    def _admin(self, sql: str) -> Any:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self._pg.port, user="postgres", dbname="postgres",
                             autocommit=True) as connection:
            cursor = connection.execute(sql)
            row = cursor.fetchone() if cursor.description else None
            return row[0] if row else None

    def new(self, name: str) -> str:
        if self._pg is None:
            path = self.workdir / f"{name}.db"
            for suffix in ("", "-wal", "-shm"):
                with suppress(FileNotFoundError):
                    Path(f"{path}{suffix}").unlink()
            return f"sqlite:///{path}"
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._admin(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://postgres@127.0.0.1:{self._pg.port}/{name}"

    def close(self) -> None:
        if self._pg is not None:
            self._pg.stop()


def _filesystem(path: Path) -> str:
    best, kind = "", "unknown filesystem"
    for line in _read("/proc/mounts").splitlines():
        parts = line.split()
        if len(parts) >= 3 and str(path.resolve()).startswith(parts[1]) and len(parts[1]) >= len(best):
            best, kind = parts[1], parts[2]
    return kind


class Probe:
    """Reads the bot's database from outside: counts, and waiting for the outbox to empty."""

    def __init__(self, url: str) -> None:
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool

        self.engine = create_engine(url, poolclass=NullPool)

    def scalar(self, sql: str, **params: Any) -> Any:
        from sqlalchemy import text

        with self.engine.connect() as connection:
            return connection.execute(text(sql), params).scalar()

    def rows(self, sql: str, **params: Any) -> list[tuple]:
        from sqlalchemy import text

        with self.engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql), params)]

    def outbox_owed(self) -> int:
        return int(self.scalar("SELECT count(*) FROM outbox WHERE state IN ('pending', 'in_flight')") or 0)

    def wait_drained(self, timeout: float, poll: float = 0.1) -> tuple[bool, float]:
        """(emptied, seconds waited) for the outbox to owe nothing."""
        started = time.monotonic()
        while True:
            if self.outbox_owed() == 0:
                return True, time.monotonic() - started
            if time.monotonic() - started > timeout:
                return False, time.monotonic() - started
            time.sleep(poll)

    def dispose(self) -> None:
        self.engine.dispose()


class Workdir:
    """A temporary directory for logs and SQLite files, removed at the end unless kept."""

    def __init__(self, keep: bool = False) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="recovery-bench-"))
        self.keep = keep

    def close(self) -> None:
        if not self.keep:
            shutil.rmtree(self.path, ignore_errors=True)


# Requests


@dataclass(frozen=True, slots=True)
class Prepared:
    """A request body, signed only when sent (``mode`` says how: ok, wrong_secret, stale, unsigned)."""

    kind: str
    body: bytes
    content_type: str
    headers: tuple[tuple[str, str], ...] = ()
    mode: str = "ok"
    key: str = ""


class _Capture(SlackDriver):
    """SlackDriver's payloads (the shapes the tests use), captured instead of sent."""

    def __init__(self, response_url_base: str) -> None:
        super().__init__(url="", signing_secret="", fake=SimpleNamespace(response_url_base=response_url_base))

    def post(self, body: str, *, content_type: str, secret: str | None = None, timestamp: int | None = None,
             signed: bool = True, headers: dict[str, str] | None = None) -> Prepared:  # type: ignore[override]
        return Prepared(kind="", body=body.encode(), content_type=content_type,
                        headers=tuple((headers or {}).items()))


class Requests:
    """Builds the benchmark's Slack requests."""

    def __init__(self, response_url_base: str, *, team_channel: str = "C1") -> None:
        self._driver = _Capture(response_url_base)
        self.channel = team_channel
        self._fake_ts = itertools.count(1)

    def command(self, text: str, *, kind: str, channel: str | None = None, user: str = "U1") -> Prepared:
        prepared = self._driver.command(text, user=user, channel=channel or self.channel)
        return _with(prepared, kind=kind)

    def react(self, ts: str, *, channel: str | None = None, user: str = "U1") -> Prepared:
        prepared = self._driver.react(channel=channel or self.channel, ts=ts, user=user)
        return _with(prepared, kind="react", key=ts)

    def claim(self, card: dict, *, user: str = "U1") -> Prepared:
        message = Message(channel=card["channel"], ts=card["ts"], text=card["text"], blocks=card["blocks"])
        return _with(self._driver.click(message, "Claim", user=user), kind="claim", key=str(card.get("number")))

    def unused_ts(self) -> str:
        """A message ts no one has used, for targets that never look messages up."""
        micros = 1_800_000_000_000_000 + next(self._fake_ts) * 100
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"


def _with(prepared: Prepared, **changes: Any) -> Prepared:
    values = {name: getattr(prepared, name) for name in Prepared.__slots__}
    values.update(changes)
    return Prepared(**values)


def forged(prepared: Prepared, mode: str) -> Prepared:
    return _with(prepared, mode=mode)


def _signed_headers(prepared: Prepared) -> dict[str, str]:
    headers = {"Content-Type": prepared.content_type, **dict(prepared.headers)}
    if prepared.mode == "unsigned":
        return headers
    now = int(time.time())
    stamp = str(now - STALE_SECONDS if prepared.mode == "stale" else now)
    secret = WRONG_SECRET if prepared.mode == "wrong_secret" else SIGNING_SECRET
    digest = hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + prepared.body, hashlib.sha256).hexdigest()
    headers["X-Slack-Request-Timestamp"] = stamp
    headers["X-Slack-Signature"] = "v0=" + digest
    return headers


# Load


@dataclass(slots=True)
class Result:
    index: int
    kind: str
    mode: str
    status: int  # 0: no answer (connection error or timeout)
    seconds: float  # send to full answer
    sent_at: float  # time.monotonic()
    due_at: float  # when it should have gone (open loop); == sent_at for closed loop
    error: str | None = None
    body: str = ""


class _Connection:
    def __init__(self, host: str, port: int, timeout: float) -> None:
        self._args = (host, port, timeout)
        self._conn: http.client.HTTPConnection | None = None

    def send(self, prepared: Prepared, *, keep_body: bool) -> tuple[int, str]:
        if self._conn is None:
            host, port, timeout = self._args
            self._conn = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            self._conn.request("POST", EVENTS_PATH, body=prepared.body, headers=_signed_headers(prepared))
            response = self._conn.getresponse()
            data = response.read()
            if response.will_close:
                self.close()
            return response.status, data.decode(errors="replace") if keep_body else ""
        except BaseException:
            self.close()
            raise

    def connect(self) -> None:
        if self._conn is None:
            host, port, timeout = self._args
            self._conn = http.client.HTTPConnection(host, port, timeout=timeout)
        self._conn.connect()

    def close(self) -> None:
        if self._conn is not None:
            with suppress(Exception):
                self._conn.close()
            self._conn = None


def _send_one(connection: _Connection, index: int, prepared: Prepared, due: float | None,
              keep_body: bool) -> Result:
    sent = time.monotonic()
    try:
        status, body = connection.send(prepared, keep_body=keep_body)
        error = None
    except (OSError, http.client.HTTPException) as exc:
        status, body, error = 0, "", f"{exc.__class__.__name__}: {exc}"
    return Result(index=index, kind=prepared.kind, mode=prepared.mode, status=status,
                  seconds=time.monotonic() - sent, sent_at=sent, due_at=sent if due is None else due,
                  error=error, body=body)


@dataclass
class LoadRun:
    results: list[Result]
    started: float
    finished: float

    @property
    def wall(self) -> float:
        return self.finished - self.started


def closed_loop(target: Served, requests: Sequence[Prepared], *, concurrency: int, timeout: float = 10.0,
                keep_body: bool = False) -> LoadRun:
    """``concurrency`` workers on keep-alive connections, each sending the next request as soon
    as its last one is answered, until all are sent."""
    results: list[Result | None] = [None] * len(requests)
    indices = iter(range(len(requests)))  # next() on a range iterator is atomic under the GIL
    lock = threading.Lock()
    ready = threading.Barrier(concurrency + 1)

    def worker() -> None:
        connection = _Connection(target.host, target.port, timeout)
        with suppress(OSError):
            connection.connect()
        ready.wait()
        while True:
            with lock:
                index = next(indices, None)
            if index is None:
                break
            results[index] = _send_one(connection, index, requests[index], None, keep_body)
        connection.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    ready.wait()
    started = time.monotonic()
    for thread in threads:
        thread.join()
    return LoadRun(results=[r for r in results if r is not None], started=started, finished=time.monotonic())


def open_loop(target: Served, requests: Sequence[Prepared], *, rate: float, workers: int = 32,
              timeout: float = 10.0) -> LoadRun:
    """Request i is due at start + i/rate, whatever the answers do (Slack does not wait for us).
    A worker pool sends them; ``due_at`` keeps the schedule, so a client falling behind shows."""
    jobs: queue.SimpleQueue[tuple[int, float] | None] = queue.SimpleQueue()
    results: list[Result | None] = [None] * len(requests)

    def worker() -> None:
        connection = _Connection(target.host, target.port, timeout)
        with suppress(OSError):
            connection.connect()
        while True:
            job = jobs.get()
            if job is None:
                break
            index, due = job
            results[index] = _send_one(connection, index, requests[index], due, False)
        connection.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
    for thread in threads:
        thread.start()
    time.sleep(0.2)  # let the workers connect
    started = time.monotonic()
    for index in range(len(requests)):
        due = started + index / rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        jobs.put((index, due))
    for _ in threads:
        jobs.put(None)
    for thread in threads:
        thread.join()
    return LoadRun(results=[r for r in results if r is not None], started=started, finished=time.monotonic())


# Arithmetic


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of unsorted values; nan when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def median(values: Iterable[float]) -> float:
    kept = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.median(kept) if kept else math.nan


def summarize(results: Sequence[Result], wall: float | None = None) -> dict[str, Any]:
    latencies = [r.seconds for r in results]
    return {
        "n": len(results),
        "ok_2xx": sum(1 for r in results if 200 <= r.status < 300),
        "non_2xx": sum(1 for r in results if r.status and not 200 <= r.status < 300),
        "errors": sum(1 for r in results if r.status == 0),
        "over_3s": sum(1 for r in results if r.seconds > SLOW_SECONDS),
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "p99": percentile(latencies, 99),
        "max": max(latencies) if latencies else math.nan,
        "rps": len(results) / wall if wall else math.nan,
        "statuses": dict(sorted(_count(str(r.status) for r in results).items())),
        "first_error": next((r.error for r in results if r.error), None),
    }


def _count(items: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    return counts


def ms(seconds: float | None) -> str:
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "n/a"
    return f"{seconds * 1000:.1f}"


def ratio(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.2f}x"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def dump_json(data: Any, path: Path) -> None:
    path.write_text(json.dumps(data, indent=2, default=str))


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (/proc/stat), to see what else ran."""
    fields = _read("/proc/stat").split("\n", 1)[0].split()[1:]
    if len(fields) < 5:
        return 0.0
    values = [int(v) for v in fields[:8]]
    return (sum(values) - values[3] - values[4]) / _TICK  # minus idle and iowait


@dataclass
class Cpu:
    """CPU seconds used by the processes of interest over a stretch of time, plus the benchmark's own
    process (the load generator) and ``others``: whatever else kept the machine's cores busy."""

    pids: dict[str, tuple[int | None, bool]] = field(default_factory=dict)
    _start: dict[str, float] = field(default_factory=dict)

    def _now(self) -> dict[str, float]:
        values = {name: cpu_seconds(pid, children=children) for name, (pid, children) in self.pids.items()}
        values["bench_client"] = cpu_seconds(os.getpid())
        values["machine"] = machine_busy_seconds()
        return values

    def start(self) -> Cpu:
        self._start = self._now()
        return self

    def stop(self) -> dict[str, float]:
        end = self._now()
        used = {name: round(end[name] - self._start.get(name, 0.0), 2) for name in end}
        machine_total = used.pop("machine")
        used["others"] = round(max(0.0, machine_total - sum(used.values())), 2)
        return used


def wait_until(predicate: Callable[[], bool], timeout: float, poll: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(poll)
    return True
