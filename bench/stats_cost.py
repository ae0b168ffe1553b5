"""`/recovery stats 30d` over a workspace of 100,000 incidents: the service's stats call.

One workspace seeded with 100,000 incidents (`bench.timers_cost.seed`: 10,000 in the last 14
days with their step records, 200 open, the rest closed 15 to 400 days ago); the command's
work after its ack is `RecoveryService.stats(days=30)`, added up in SQL and turned into
figures in-process. Target: under 1 s. Measured alternately with it in the same run: the
floor (one aggregate pass over the window's incidents, `repository._stats_counts` alone:
every exact answer reads them once), the Python path it replaced (every incident and step
record of the window read and counted in Python, `bench/stats_reference.py`, which must give
the same figures), and, after those rounds, the same call with the stats indexes of
migration 0008 dropped (what they save). Medians of rounds.
"""
from __future__ import annotations

import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from sqlalchemy import Index

from bench import cli
from bench.rig import Rig, log
from bench.timers_cost import NOW, _service, seed
from bot.domain.stats import stats_window
from storage import repository
from storage.models import Incident
from bench.stats_reference import reference_stats

WORKSPACE = "T1"  # seed()'s
DAYS = 30
TARGET_SECONDS = 1.0
STATS_INDEXES = ("ix_incident_workspace_created", "ix_incident_workspace_closed", "ix_incident_workspace_buy_in")


@dataclass
class Config:
    database: str = cli.database_field("both")
    incidents: int = 100_000
    recent: int = 10_000
    rounds: int = 5
    quick: bool = False
    QUICK: ClassVar[dict[str, Any]] = dict(incidents=5000, recent=1000, rounds=2)


def _indexes() -> list[Index]:
    return [index for index in Incident.__table__.indexes if index.name in STATS_INDEXES]


def run(config: Config) -> dict[str, Any]:
    random.seed(7)
    with Rig(config.database) as rig:
        service = _service(rig.database("stats"))
        log(f"stats: seeding {config.incidents:,} incidents ({config.recent:,} in the last 14 days)")
        seed(service.db, old_count=config.incidents - config.recent - 200, recent_count=config.recent,
             open_count=200)
        window = stats_window(NOW, DAYS)
        touched = repository._touched_since(window.before, channel=None, workspace_id=WORKSPACE)

        def stats() -> object:
            return service.stats(workspace_id=WORKSPACE, days=DAYS)

        def floor() -> object:
            with service.db.read() as session:
                return session.connection().execute(repository._stats_counts(touched, window)).one()

        def python_path() -> object:
            with service.db.read() as session:
                return reference_stats(session, workspace_id=WORKSPACE, now=NOW, days=DAYS, tz=service.tz)

        if stats() != python_path():
            raise RuntimeError("the SQL stats differ from the Python path's")
        timings: dict[str, list[float]] = {"stats": [], "floor": [], "python": [], "unindexed": []}
        for _ in range(config.rounds):
            timings["stats"].append(_timed(stats))
            timings["floor"].append(_timed(floor))
            timings["python"].append(_timed(python_path))
        with service.db.engine.begin() as connection:
            for index in _indexes():
                index.drop(connection)
        for _ in range(config.rounds):
            timings["unindexed"].append(_timed(stats))
        with service.db.engine.begin() as connection:
            for index in _indexes():
                index.create(connection)
        service.db.dispose()
    median = {name: statistics.median(values) for name, values in timings.items()}
    result = {"database": config.database, "incidents": config.incidents, "stats_s": median["stats"],
              "floor_s": median["floor"], "python_path_s": median["python"],
              "without_indexes_s": median["unindexed"], "same_figures": True}
    result["stats_over_floor"] = result["stats_s"] / result["floor_s"]
    result["python_path_over_stats"] = result["python_path_s"] / result["stats_s"]
    result["without_over_with_indexes"] = result["without_indexes_s"] / result["stats_s"]
    result["met"] = result["stats_s"] < TARGET_SECONDS
    log(f"stats on {config.database}: {result['stats_s'] * 1000:.0f} ms (floor {result['floor_s'] * 1000:.0f} ms; "
        f"the Python path {result['python_path_s'] * 1000:.0f} ms; without the indexes "
        f"{result['without_indexes_s'] * 1000:.0f} ms)")
    return result


def _timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    if call() is None:
        raise RuntimeError("stats came out empty")
    return time.perf_counter() - started


if __name__ == "__main__":
    sys.exit(cli.main("stats_cost", Config, run, __doc__))
