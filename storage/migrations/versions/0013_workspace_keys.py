"""workspace keys: a digest is claimed per workspace, channel and day

A channel shared between two workspaces has one id in both, and each workspace's digest
counts only its own incidents, so digest_run's unique key names the workspace too. Rows
already there take the workspace of the channel's incidents (the leads' roll-up and the
weekly insights name theirs in the key, "leads:T1"), else the one workspace known, else "".
ix_incident_workspace_channel answers the digest's scan of each workspace's channels.

Revision ID: 0013
Revises: 0012
Create Date: 2027-01-20
"""
from alembic import op
import sqlalchemy as sa

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

_BACKFILL = (
    "UPDATE digest_run SET workspace_id = COALESCE((SELECT MIN(incident.workspace_id) FROM incident "
    "WHERE incident.card_channel = digest_run.channel), '')",
    "UPDATE digest_run SET workspace_id = substr(channel, 7) WHERE channel LIKE 'leads:%'",
    "UPDATE digest_run SET workspace_id = substr(channel, 10) WHERE channel LIKE 'insights:%'",
    "UPDATE digest_run SET workspace_id = (SELECT MIN(workspace_id) FROM incident) "
    "WHERE workspace_id = '' AND (SELECT COUNT(DISTINCT workspace_id) FROM incident) = 1",
)


def upgrade() -> None:
    with op.batch_alter_table('digest_run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('workspace_id', sa.String(length=32), nullable=False, server_default=''))
    for statement in _BACKFILL:
        op.execute(statement)
    with op.batch_alter_table('digest_run', schema=None) as batch_op:
        batch_op.alter_column('workspace_id', server_default=None)
        batch_op.drop_constraint('uq_digest_run_once', type_='unique')
        batch_op.create_unique_constraint('uq_digest_run_once', ['workspace_id', 'channel', 'local_date'])
    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.create_index('ix_incident_workspace_channel', ['workspace_id', 'card_channel', 'created_at'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.drop_index('ix_incident_workspace_channel')
    with op.batch_alter_table('digest_run', schema=None) as batch_op:
        batch_op.drop_constraint('uq_digest_run_once', type_='unique')
        batch_op.create_unique_constraint('uq_digest_run_once', ['channel', 'local_date'])
        batch_op.drop_column('workspace_id')
