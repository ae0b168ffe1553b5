"""parked outbox rows: what conversations.info said about the channels cards go to

A parked row needs no schema change (``outbox.state`` is free text, ``parked`` fits, and
its reason is ``last_error``); the channel check does: whether a channel is shared with
another organization is asked once and remembered with when it was asked.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-10
"""
from alembic import op
import sqlalchemy as sa

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'channel_check',
        sa.Column('channel', sa.String(length=64), nullable=False),
        sa.Column('workspace_id', sa.String(length=32), nullable=False),
        sa.Column('shared', sa.Boolean(), nullable=False),
        sa.Column('checked_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('channel', name=op.f('pk_channel_check')),
    )


def downgrade() -> None:
    op.drop_table('channel_check')
