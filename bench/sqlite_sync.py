"""What SQLite's synchronous=FULL costs over NORMAL, per flag, in WAL mode, on this disk.

    python -m bench.sqlite_sync                    # 3 rounds of 300 flags per mode
    python -m bench.sqlite_sync --flags 50 --rounds 1

A flag is the bot's busiest write: RecoveryService.flag, one transaction (the incident, its
first step, its event, the card's outbox row). In WAL mode NORMAL syncs the log only at a
checkpoint, FULL at every commit: the difference is one fsync per commit. Each round flags into
a fresh database file beside the others (same filesystem), the two modes alternating so that a
noisy neighbour hurts both alike; commits are one at a time, as one person's flag is.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from sqlalchemy import event

from bench.meter import filesystem
from bot.devkit.clock import FakeClock
from bot.domain.playbook import DEFAULT_PLAYBOOK
from bot.domain.types import NewIncident
from bot.service import RecoveryService
from bot.settings import Settings
from storage.db import Database
from storage.migrate import upgrade

MODES = ("NORMAL", "FULL")


def _flags(path: Path, mode: str, count: int) -> list[float]:
    """Seconds per flag (commit included) into a fresh database synced in ``mode``."""
    db = Database.from_url(f"sqlite:///{path}")

    @event.listens_for(db.engine, "connect")
    def _synchronous(dbapi_connection, _record) -> None:  # noqa: ANN001 - after storage.db's own pragmas
        dbapi_connection.execute(f"PRAGMA synchronous={mode}")

    try:
        upgrade(db.engine)
        service = RecoveryService(db=db, settings=replace(Settings(), database_url=f"sqlite:///{path}"),
                                  playbook=DEFAULT_PLAYBOOK, clock=FakeClock())
        with db.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == {"NORMAL": 1, "FULL": 2}[mode]
        seconds = []
        for n in range(count):
            new = NewIncident(workspace_id="T1", origin_channel="C1", origin_ts=f"1700000000.{n:06d}",
                              flagged_by="U1", summary=f"complaint {n}")
            started = time.perf_counter()
            service.flag(new, fetch_details=False)
            seconds.append(time.perf_counter() - started)
        return seconds
    finally:
        db.dispose()


def run(*, flags: int, rounds: int) -> str:
    with tempfile.TemporaryDirectory(prefix="recovery-sqlite-sync-", dir=Path.cwd()) as work:
        timings: dict[str, list[float]] = {mode: [] for mode in MODES}
        for round_ in range(rounds):
            for mode in MODES if round_ % 2 == 0 else reversed(MODES):
                timings[mode] += _flags(Path(work) / f"{mode}-{round_}.db", mode, flags)
        lines = [f"{rounds} rounds of {flags} flags per mode, one at a time, SQLite {_sqlite_version()} in WAL mode "
                 f"on {filesystem(Path(work))}", "",
                 "| synchronous | median per flag | p99 per flag | flags per second (one writer) |",
                 "| --- | --- | --- | --- |"]
        for mode, seconds in timings.items():
            median, p99 = statistics.median(seconds), statistics.quantiles(seconds, n=100)[98]
            lines.append(f"| {mode} | {median * 1000:.2f} ms | {p99 * 1000:.2f} ms | {1 / statistics.mean(seconds):.0f} |")
    return "\n".join(lines)


def _sqlite_version() -> str:
    import sqlite3

    return sqlite3.sqlite_version


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sqlite_sync", description=__doc__.splitlines()[0])
    parser.add_argument("--flags", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    print(run(flags=args.flags, rounds=args.rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
