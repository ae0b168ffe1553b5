"""workspace settings: each workspace's own leads, channels, emoji, limit, currency, zone, hours,
digest time and step deadlines over the environment's, and the timeline of their changes

Revision ID: 0012
Revises: 0011
Create Date: 2027-01-10
"""
from alembic import op
import sqlalchemy as sa

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'workspace_setting',
        sa.Column('workspace_id', sa.String(length=32), nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('value', sa.Text(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.Column('updated_by', sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint('workspace_id', 'key', name=op.f('pk_workspace_setting')),
    )
    op.create_table(
        'workspace_setting_change',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('workspace_id', sa.String(length=32), nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('old', sa.Text(), nullable=True),
        sa.Column('new', sa.Text(), nullable=True),
        sa.Column('changed_by', sa.String(length=32), nullable=False),
        sa.Column('changed_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_workspace_setting_change')),
    )
    op.create_index('ix_workspace_setting_change_workspace', 'workspace_setting_change',
                    ['workspace_id', 'changed_at'])


def downgrade() -> None:
    op.drop_index('ix_workspace_setting_change_workspace', table_name='workspace_setting_change')
    op.drop_table('workspace_setting_change')
    op.drop_table('workspace_setting')
