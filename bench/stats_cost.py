"""`/recovery stats 30d` over a workspace of 100,000 incidents: the service's stats call.

One workspace seeded with 100,000 incidents (`bench.timers_cost.seed`: 10,000 in the last 14
days with their step records, 200 open, the rest closed 15 to 400 days ago); the command's
work after its ack is `RecoveryService.stats(days=30)`, read and computed in-process. Target:
under 1 s. Two floors measured alternately with it in the same run: the figures alone
(`stats_figures` over the facts already loaded: what no index can save), and the same call
with the stats indexes of migration 0008 dropped (what they save). Medians of rounds.
"""
from __future__ import annotations

import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar

from sqlalchemy import Index

from bench import cli
from bench.rig import Rig, log
from bench.timers_cost import NOW, _service, seed
from bot.domain.digest import stats_figures
from storage import repository
from storage.models import Incident

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
        with service.db.read() as session:
            facts = repository.incident_facts(session, since=NOW - timedelta(days=2 * DAYS), workspace_id=WORKSPACE,
                                              with_steps=True)
        stats, figures_only, unindexed = [], [], []
        for _ in range(config.rounds):
            stats.append(_timed(lambda: service.stats(workspace_id=WORKSPACE, days=DAYS)))
            figures_only.append(_timed(lambda: stats_figures(facts, now=NOW, days=DAYS, tz=service.tz)))
        with service.db.engine.begin() as connection:
            for index in _indexes():
                index.drop(connection)
        for _ in range(config.rounds):
            unindexed.append(_timed(lambda: service.stats(workspace_id=WORKSPACE, days=DAYS)))
        with service.db.engine.begin() as connection:
            for index in _indexes():
                index.create(connection)
        service.db.dispose()
    result = {"database": config.database, "incidents": config.incidents, "facts_read": len(facts),
              "stats_s": statistics.median(stats), "figures_only_s": statistics.median(figures_only),
              "without_indexes_s": statistics.median(unindexed)}
    result["stats_over_figures"] = result["stats_s"] / result["figures_only_s"]
    result["without_over_with_indexes"] = result["without_indexes_s"] / result["stats_s"]
    result["met"] = result["stats_s"] < TARGET_SECONDS
    log(f"stats on {config.database}: {result['stats_s'] * 1000:.0f} ms ({len(facts):,} incidents read; figures "
        f"alone {result['figures_only_s'] * 1000:.0f} ms; without the indexes {result['without_indexes_s'] * 1000:.0f} ms)")
    return result


def _timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    if call() is None:
        raise RuntimeError("stats came out empty")
    return time.perf_counter() - started


if __name__ == "__main__":
    sys.exit(cli.main("stats_cost", Config, run, __doc__))
