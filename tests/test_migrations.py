"""Migrations: the same revisions build the schema the models describe, on both databases."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from storage.db import Database
from storage.migrate import upgrade
from storage.models import metadata


def test_upgrade_builds_the_model_schema_and_is_repeatable(database_url):
    db = Database.from_url(database_url)
    upgrade(db.engine)
    upgrade(db.engine)
    with db.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), metadata) == []
        tables = set(inspect(connection).get_table_names())
    assert {"incident", "step_record", "timeline_event", "outbox", "workspace_counter"} <= tables
    db.dispose()


def test_sqlite_runs_in_wal_mode(tmp_path):
    db = Database.from_url(f"sqlite:///{tmp_path / 'wal.db'}")
    with db.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    db.dispose()
