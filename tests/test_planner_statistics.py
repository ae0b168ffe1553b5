"""The background analyses a table once it has grown (storage/planner_statistics.py): on
PostgreSQL, `/recovery list` must not be planned for an empty table after a storm of flags."""
from __future__ import annotations

import time

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.domain.types import NewIncident
from bot.runtime import build
from bot.settings import Settings
from storage import planner_statistics
from storage.repository import list_incidents

FLAGS = 300


def _flag_many(runtime, count: int) -> None:  # noqa: ANN001 - a Runtime
    for i in range(count):
        runtime.service.flag(NewIncident(workspace_id="T1", origin_channel="C1", origin_ts=f"1700000000.{i:06d}",
                                         flagged_by="UAGENT", summary=f"refund {i} never arrived"),
                             fetch_details=False)


def _wait_until_grown(engine) -> None:  # noqa: ANN001 - an Engine
    """PostgreSQL's activity counters reach the statistics view up to seconds after the
    commits that changed them."""
    deadline = time.monotonic() + 30
    while True:
        with engine.connect() as connection:
            if "incident" in connection.execute(planner_statistics.GROWN).scalars().all():
                return
        assert time.monotonic() < deadline, "the flags never showed in pg_stat_user_tables"
        time.sleep(0.2)


def test_a_grown_table_is_analysed_once_and_its_list_reads_along_the_index(settings: Settings) -> None:
    runtime = build(settings)
    engine = runtime.db.engine
    try:
        if engine.dialect.name == "sqlite":
            _flag_many(runtime, 10)
            assert planner_statistics.refresh(engine) == []
            return
        _flag_many(runtime, FLAGS)
        _wait_until_grown(engine)
        assert "incident" in planner_statistics.refresh(engine)
        with engine.connect() as connection:
            analysed_at = connection.execute(text(
                "SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'incident'")).scalar_one()
            plan = "\n".join(connection.execute(text(
                "EXPLAIN SELECT * FROM incident WHERE workspace_id = 'T1' AND status = 'open' "
                "ORDER BY number DESC LIMIT 20")).scalars())
        assert analysed_at is not None
        # Along an index that gives the order (with every incident open, the workspace's
        # numbers, filtered, are as good as the open ones'), never sorting the table.
        assert any(index in plan for index in ("ix_incident_workspace_status", "uq_incident_number")), plan
        assert "Sort" not in plan and "Seq Scan" not in plan, plan
        assert "incident" not in planner_statistics.refresh(engine)  # nothing changed since
        with runtime.db.one_statement() as connection:
            listed = list_incidents(connection, workspace_id="T1", scope="open", user_id="UAGENT",
                                    now=runtime.service.clock.now())
        assert [state.number for state in listed] == list(range(FLAGS, FLAGS - 20, -1))
    finally:
        runtime.stop()


def test_one_replica_analyses_at_a_time(settings: Settings) -> None:
    """Another replica holding the job's lock: this one leaves the tables to it."""
    runtime = build(settings)
    engine = runtime.db.engine
    try:
        if engine.dialect.name == "sqlite":
            pytest.skip("SQLite keeps no planner statistics to refresh")
        _flag_many(runtime, 120)
        _wait_until_grown(engine)
        conninfo = make_url(settings.database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(conninfo) as other:
            other.execute("SELECT pg_advisory_lock(%s)", (planner_statistics.LOCK_KEY,))
            assert planner_statistics.refresh(engine) == []
        assert "incident" in planner_statistics.refresh(engine)
    finally:
        runtime.stop()
