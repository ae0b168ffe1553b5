"""digest indexes: a channel's incidents by status, close and buy-in time

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.create_index('ix_incident_channel_status', ['card_channel', 'status'], unique=False)
        batch_op.create_index('ix_incident_channel_closed', ['card_channel', 'closed_at'], unique=False)
        batch_op.create_index('ix_incident_channel_buy_in', ['card_channel', 'buy_in_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.drop_index('ix_incident_channel_buy_in')
        batch_op.drop_index('ix_incident_channel_closed')
        batch_op.drop_index('ix_incident_channel_status')
