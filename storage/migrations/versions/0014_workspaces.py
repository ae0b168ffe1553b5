"""workspaces: installed or uninstalled, so an uninstalled one's sends and timers stop

`app_uninstalled` and `tokens_revoked` mark a workspace uninstalled (its outbox rows wait,
its timers are not fired, its data is kept or erased); a reinstall marks it installed. The
same row carries the lease under which one replica refreshes the workspace's rotating bot
token, and why its messages park when Slack refused the refresh.

Revision ID: 0014
Revises: 0013
Create Date: 2027-02-10
"""
from alembic import op
import sqlalchemy as sa

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'workspace',
        sa.Column('workspace_id', sa.String(length=32), nullable=False),
        sa.Column('team_name', sa.String(length=200), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('changed_at', sa.DateTime(), nullable=False),
        sa.Column('erase_due', sa.Boolean(), nullable=False),
        sa.Column('token_error', sa.String(length=64), nullable=True),
        sa.Column('refresh_lease_until', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('workspace_id', name=op.f('pk_workspace')),
    )


def downgrade() -> None:
    op.drop_table('workspace')
