"""home viewers: who opened the bot's Home tab, and the hash of their last published Home

The Home is republished after a change only for people who opened it once (a publish for
someone who never looks costs a call of views.publish's budget for nothing), each with the
hash Slack gave the last publish, so that an older view never overwrites a newer one.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-20
"""
from alembic import op
import sqlalchemy as sa

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'home_viewer',
        sa.Column('workspace_id', sa.String(length=32), nullable=False),
        sa.Column('user_id', sa.String(length=32), nullable=False),
        sa.Column('first_opened_at', sa.DateTime(), nullable=False),
        sa.Column('last_hash', sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint('workspace_id', 'user_id', name=op.f('pk_home_viewer')),
    )


def downgrade() -> None:
    op.drop_table('home_viewer')
