"""stats indexes: a workspace's incidents by flag, close and buy-in time

`/recovery stats` reads a workspace's incidents open now or flagged, closed or resolved in
its window; with one index per alternative the database reads those, not every incident the
workspace ever had (the channel digest's indexes of 0004, for a workspace).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-14
"""
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.create_index('ix_incident_workspace_created', ['workspace_id', 'created_at'], unique=False)
        batch_op.create_index('ix_incident_workspace_closed', ['workspace_id', 'closed_at'], unique=False)
        batch_op.create_index('ix_incident_workspace_buy_in', ['workspace_id', 'buy_in_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.drop_index('ix_incident_workspace_buy_in')
        batch_op.drop_index('ix_incident_workspace_closed')
        batch_op.drop_index('ix_incident_workspace_created')
