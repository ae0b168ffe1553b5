"""slack_sdk's installation and OAuth state stores, on the bot's own database.

The stores would create their tables themselves (``create_tables``); ours are written by
Alembic instead (revision 0011), so every replica starts from one migrated schema and the
stores only read and write rows. ``store_metadata`` builds the tables exactly as the stores
define them, which lets a test hold the migration to the stores' own definition.
"""
from __future__ import annotations

from sqlalchemy import Engine, MetaData
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore

INSTALLATIONS_TABLE = "slack_installations"
BOTS_TABLE = "slack_bots"
STATES_TABLE = "slack_oauth_states"
# How long an install link stays good: the time to read Slack's consent page and press Allow.
STATE_EXPIRY_SECONDS = 600


def store_metadata() -> MetaData:
    """The three tables as slack_sdk's stores define them (their names are ours)."""
    metadata = MetaData()
    SQLAlchemyInstallationStore.build_installations_table(metadata, INSTALLATIONS_TABLE)
    SQLAlchemyInstallationStore.build_bots_table(metadata, BOTS_TABLE)
    SQLAlchemyOAuthStateStore.build_oauth_states_table(metadata, STATES_TABLE)
    return metadata


def installation_store(engine: Engine, *, client_id: str) -> SQLAlchemyInstallationStore:
    return SQLAlchemyInstallationStore(client_id=client_id, engine=engine, bots_table_name=BOTS_TABLE,
                                       installations_table_name=INSTALLATIONS_TABLE)


def state_store(engine: Engine) -> SQLAlchemyOAuthStateStore:
    return SQLAlchemyOAuthStateStore(expiration_seconds=STATE_EXPIRY_SECONDS, engine=engine,
                                     table_name=STATES_TABLE)
