"""survey baselines: what customers who never had a problem answered, per period

`/recovery insights` compares recovered customers with the team's usual survey; `python -m
bot baseline --csv FILE` loads it here, one row per workspace and period.

Revision ID: 0010
Revises: 0009
Create Date: 2027-01-10
"""
from alembic import op
import sqlalchemy as sa

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'survey_baseline',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('workspace_id', sa.String(length=32), nullable=False),
        sa.Column('period_start', sa.Date(), nullable=False),
        sa.Column('period_end', sa.Date(), nullable=False),
        sa.Column('would_buy_again', sa.Float(), nullable=False),
        sa.Column('satisfaction', sa.Float(), nullable=False),
        sa.Column('answers', sa.Integer(), nullable=False),
        sa.Column('satisfaction_sd', sa.Float(), nullable=True),
        sa.Column('loaded_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_baseline')),
        sa.UniqueConstraint('workspace_id', 'period_start', name='uq_survey_baseline_period'),
    )


def downgrade() -> None:
    op.drop_table('survey_baseline')
