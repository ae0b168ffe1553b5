"""Bring a database to the newest schema; start-up and `python -m bot migrate` both call this.

Replicas started together on a new version all migrate at once. On PostgreSQL the upgrade
runs in one transaction holding an advisory lock: the others wait for it, then find the
schema at head and do nothing (without it, two would create the same table and one would
fail to start). SQLite needs no lock of ours: the upgrade's transaction begins IMMEDIATE
(storage/db.py), which takes the database's one write lock before anything is read (and
storage/db.py retries a new file's switch to WAL, which SQLite refuses while it is shared).
"""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

MIGRATIONS = Path(__file__).parent / "migrations"
# pg_advisory_xact_lock's key: any constant no other lock in the database uses ("recovery").
MIGRATION_LOCK_KEY = 0x7265636F76657279


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine) -> None:
    config = alembic_config(engine)
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
