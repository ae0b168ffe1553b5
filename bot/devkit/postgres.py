"""A throwaway PostgreSQL server for the tests: a fresh cluster on a free port, gone after stop().

A real server, not a mock, because the claim race and ``on_conflict_do_nothing`` must be
proven on the database that runs in production.
"""

import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from bot.devkit.processes import free_port

DATABASE = "recovery_test"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
READY_TIMEOUT = 30.0


@dataclass
class ThrowawayPostgres:
    """A running cluster; ``url`` is a SQLAlchemy URL to its ``recovery_test`` database."""

    url: str
    port: int
    directory: Path
    run_prefix: list[str]
    stopped: bool = False

    def stop(self) -> None:
        """Stop at once and delete everything; safe to call twice or after a failed start.

        ``-m immediate`` skips the shutdown checkpoint: the data is thrown away anyway.
        """
        if self.stopped:
            return
        self.stopped = True
        data = self.directory / "data"
        if (data / "postmaster.pid").exists():
            try:
                subprocess.run(
                    [*self.run_prefix, _bin("pg_ctl"), "-D", str(data), "stop", "-m", "immediate"]
                    + ["-w", "-t", "10"],
                    cwd=self.directory,
                    capture_output=True,
                    timeout=20,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                pass
            _kill_postmaster(data)
        shutil.rmtree(self.directory, ignore_errors=True)


def start_throwaway_postgres(base_dir: Path) -> ThrowawayPostgres:
    """Create a cluster, start it on 127.0.0.1 and a free port, and create ``recovery_test``.

    PostgreSQL refuses to run as root. As root, the cluster is owned by and run as the
    ``postgres`` user, and lives under the system temp dir rather than ``base_dir``, because
    pytest's temp dirs are private to root (0700) and the postgres user could not enter them.
    """
    as_root = os.geteuid() == 0
    if not as_root:
        base_dir.mkdir(parents=True, exist_ok=True)
    directory = Path(tempfile.mkdtemp(prefix="recovery-pg-", dir=None if as_root else base_dir))
    run_prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    if as_root:
        shutil.chown(directory, "postgres", "postgres")
    port = free_port()
    server = ThrowawayPostgres(
        url=f"postgresql+psycopg://postgres@127.0.0.1:{port}/{DATABASE}",
        port=port,
        directory=directory,
        run_prefix=run_prefix,
    )
    data, log = directory / "data", directory / "postgres.log"
    options = shlex.join(
        [
            *("-c", "listen_addresses=127.0.0.1"),
            *("-c", f"port={port}"),
            *("-c", f"unix_socket_directories={directory}"),
            *("-c", "fsync=off"),
            *("-c", "max_connections=100"),
        ]
    )
    try:
        _run(
            [*run_prefix, _bin("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"]
            + ["-E", "UTF8", "--locale=C"],
            cwd=directory,
            log=log,
        )
        _run(
            [*run_prefix, _bin("pg_ctl"), "-D", str(data), "-l", str(log), "-o", options]
            + ["-w", "-t", "30", "start"],
            cwd=directory,
            log=log,
        )
        _create_database(port)
    except BaseException:
        server.stop()
        raise
    return server


def _bin(name: str) -> str:
    return shutil.which(name) or str(PG_BIN / name)


def _run(command: list[str], *, cwd: Path, log: Path) -> None:
    """Run a server program; on failure, raise with its output and the server log."""
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0:
        server_log = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise RuntimeError(f"{shlex.join(command)} failed:\n{result.stdout}{result.stderr}{server_log}")


def _create_database(port: int) -> None:
    """Wait until the server takes TCP connections, then create the test database."""
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        try:
            with psycopg.connect(
                host="127.0.0.1",
                port=port,
                user="postgres",
                dbname="postgres",
                autocommit=True,
                connect_timeout=2,
            ) as conn:
                conn.execute(f"CREATE DATABASE {DATABASE}")
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _kill_postmaster(data: Path) -> None:
    """Kill a postmaster that pg_ctl could not stop, by the pid it wrote itself."""
    try:
        pid = int((data / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGKILL)
    except (FileNotFoundError, IndexError, ValueError, ProcessLookupError):
        pass


def stop_keeping_data(server: ThrowawayPostgres) -> None:
    """Stop the server the way an outage does (``-m fast``: every session is cut off) but keep
    its data directory and port, so ``start_again`` brings the same database back."""
    data = server.directory / "data"
    subprocess.run(
        [*server.run_prefix, _bin("pg_ctl"), "-D", str(data), "stop", "-m", "fast", "-w", "-t", "30"],
        cwd=server.directory, capture_output=True, timeout=40, check=True,
    )


def start_again(server: ThrowawayPostgres) -> None:
    """Start a server stopped by ``stop_keeping_data`` on the same port and data, and wait
    until it takes connections again."""
    data, log = server.directory / "data", server.directory / "postgres.log"
    options = shlex.join(
        [
            *("-c", "listen_addresses=127.0.0.1"),
            *("-c", f"port={server.port}"),
            *("-c", f"unix_socket_directories={server.directory}"),
            *("-c", "fsync=off"),
            *("-c", "max_connections=100"),
        ]
    )
    _run(
        [*server.run_prefix, _bin("pg_ctl"), "-D", str(data), "-l", str(log), "-o", options]
        + ["-w", "-t", "30", "start"],
        cwd=server.directory,
        log=log,
    )
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        try:
            with psycopg.connect(host="127.0.0.1", port=server.port, user="postgres", dbname=DATABASE,
                                 connect_timeout=2):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
