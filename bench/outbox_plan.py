"""The outbox's queries at a million rows on PostgreSQL: their plans (EXPLAIN ANALYZE) and times.

    python -m bench.outbox_plan               # 1,000,000 rows, as a week of a busy workspace leaves them
    python -m bench.outbox_plan --rows 20000  # a quick look

The table is filled in one INSERT ... SELECT as OUTBOX_KEEP's week leaves it: nearly every row
sent (spread over seven days, six per incident), one in a thousand dead, one in five thousand
parked, and the newest 2,000 still owed (half due now, half waiting on a retry's backoff, one in
a hundred leased by a sender that died). Then the statements the sender and the tick run are
explained as storage/outbox_store.py builds them (the due rows, the leases run out, one prune
batch), first without statistics, as on a fresh replica or a table that just grew, then after
ANALYZE.
"""
from __future__ import annotations

import argparse
import sys
from datetime import datetime, timedelta, timezone

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.sql import Executable

from bench.rig import Rig, log
from storage import outbox_store
from storage.migrate import upgrade

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
WEEK = timedelta(days=7)
OWED = 2000

# One row per n: a week of rows up to NOW, the newest OWED still to send.
_FILL = """
INSERT INTO outbox (workspace_id, incident_id, step_seq, kind, channel, user_id, payload, dedupe_key,
                    ordering_key, state, attempts, uncertain, next_attempt_at, lease_until, last_error,
                    created_at, sent_at, result_ts)
SELECT 'T1', NULL, NULL, CASE WHEN n % 6 = 0 THEN 'card' ELSE 'reply' END, 'C' || (n % 200), NULL, '{}', NULL,
       'incident:' || (n / 6),
       CASE WHEN n > :rows - :owed THEN (CASE WHEN n % 100 = 0 THEN 'in_flight' ELSE 'pending' END)
            WHEN n % 5000 = 0 THEN 'parked' WHEN n % 1000 = 0 THEN 'dead' ELSE 'sent' END,
       1, false,
       CASE WHEN n > :rows - :owed + :owed / 2 THEN :now + interval '5 minutes' ELSE at END,
       CASE WHEN n > :rows - :owed AND n % 100 = 0 THEN :now - interval '1 minute' END,
       NULL, at,
       CASE WHEN n <= :rows - :owed THEN at + interval '1 second' END, NULL
FROM (SELECT n, :now - :week + (:week * n / :rows) AS at FROM generate_series(1, :rows) AS n) AS week
"""


def fill(engine: Engine, rows: int) -> None:
    with engine.begin() as connection:
        connection.execute(text(_FILL), {"rows": rows, "owed": min(OWED, rows // 2), "week": WEEK,
                                         "now": NOW.replace(tzinfo=None)})


def statements() -> dict[str, tuple[Executable, dict[str, object]]]:
    """What the sender runs each round, and what a tick's prune runs, at NOW."""
    return {
        "due (pending)": (outbox_store._PENDING_DUE, {"now": NOW, "limit": 50}),
        "due (leases run out)": (outbox_store._LEASE_EXPIRED, {"now": NOW, "limit": 50}),
        "prune batch (nothing to prune)": (outbox_store._PRUNE, {"before": NOW - WEEK, "limit": 1000}),
        "prune batch (a day's rows to prune)": (outbox_store._PRUNE, {"before": NOW - WEEK + timedelta(days=1),
                                                                      "limit": 1000}),
    }


def explain(engine: Engine, statement: Executable, params: dict[str, object]) -> list[str]:
    """EXPLAIN ANALYZE of the statement exactly as SQLAlchemy sends it (bound values: PostgreSQL
    plans a statement's first runs for their values), in a transaction rolled back, so that a
    prune deletes nothing before the next plan."""
    with engine.connect() as connection:
        def prefix(_conn, _cursor, sql: str, parameters: object, *_: object) -> tuple[str, object]:  # noqa: ANN001
            return f"EXPLAIN (ANALYZE, BUFFERS) {sql}", parameters

        event.listen(connection, "before_cursor_execute", prefix, retval=True)
        with connection.begin() as transaction:
            lines = [row[0] for row in connection.execute(statement, params)]
            transaction.rollback()
    return lines


def run(rows: int) -> str:
    with Rig("postgresql") as rig:
        engine = create_engine(rig.database("outbox_plan"))
        try:
            upgrade(engine)
            log(f"filling the outbox with {rows:,} rows")
            fill(engine, rows)
            with engine.connect() as connection:
                counted = dict(connection.execute(text("SELECT state, count(*) FROM outbox GROUP BY state")).all())
            out = [f"{rows:,} outbox rows: " + ", ".join(f"{state} {n:,}" for state, n in sorted(counted.items())),
                   rig.description, ""]
            for stage in ("without statistics", "after ANALYZE"):
                if stage == "after ANALYZE":
                    with engine.begin() as connection:
                        connection.exec_driver_sql("ANALYZE outbox")
                for name, (statement, params) in statements().items():
                    out += [f"### {name}, {stage}", "", "```", *explain(engine, statement, params), "```", ""]
            return "\n".join(out)
        finally:
            engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.outbox_plan", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    print(run(parser.parse_args(argv).rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
