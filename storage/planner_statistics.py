"""PostgreSQL's planner statistics, refreshed as soon as a table has grown, not a minute later.

PostgreSQL plans with statistics that autovacuum gathers, at most once a minute per database
(autovacuum_naptime) and only once a table has changed by a tenth. Until then a table that
filled in seconds (a new install's first storm of flags, a replica catching up) is planned as
if it were still empty, and a plan psycopg prepared then stays on the connection until the
statistics change: measured in the ack benchmark, `/recovery list` read every open incident
of the workspace through the wrong index and sorted them (2.4 to 3 ms of PostgreSQL's time
per list, against 0.13 ms once analysed), and a Claim's read of its incident took 0.9 ms.

So the background looks every few seconds at the same counter autovacuum reads, and
analyses the tables that crossed autovacuum's own threshold since their last analysis
(by autovacuum or by us). An advisory lock lets one replica do it at a time; a table another
session is vacuuming is skipped until the next look. SQLite has no cached plans and keeps
no statistics unless asked; nothing is done there.
"""
from __future__ import annotations

import logging

from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

log = logging.getLogger(__name__)

EVERY_SECONDS = 5.0
# autovacuum's defaults (autovacuum_analyze_threshold, autovacuum_analyze_scale_factor).
_ROWS = 50
_SHARE = 0.1
# Any number that names this job among the advisory locks of the database.
LOCK_KEY = 7_310_451

GROWN = text(
    "SELECT relname FROM pg_stat_user_tables WHERE schemaname = current_schema() "
    f"AND n_mod_since_analyze > {_ROWS} + {_SHARE} * GREATEST(n_live_tup, 0) ORDER BY relname")


def refresh(engine: Engine) -> list[str]:
    """Analyse the tables grown past the threshold; their names, or none off PostgreSQL."""
    if engine.dialect.name != "postgresql":
        return []
    quote = engine.dialect.identifier_preparer.quote
    analysed: list[str] = []
    with engine.begin() as connection:
        if not connection.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": LOCK_KEY}).scalar_one():
            return []
        grown = list(connection.execute(GROWN).scalars())
        # A table being vacuumed holds the lock ANALYZE needs: skip it rather than wait.
        connection.execute(text("SET LOCAL lock_timeout = '200ms'"))
        for table in grown:
            try:
                with connection.begin_nested():
                    connection.execute(text(f"ANALYZE {quote(table)}"))
            except OperationalError:
                log.info("planner statistics: %s is busy; analysed at the next look", table)
                continue
            analysed.append(table)
    if analysed:
        log.debug("planner statistics refreshed: %s", ", ".join(analysed))
    return analysed
