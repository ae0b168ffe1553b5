"""timers: the next alert per incident, one digest per channel and day

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""
from alembic import op
import sqlalchemy as sa

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('digest_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=64), nullable=False),
    sa.Column('local_date', sa.String(length=10), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_digest_run')),
    sa.UniqueConstraint('channel', 'local_date', name='uq_digest_run_once')
    )
    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_alert_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('next_alert_kind', sa.String(length=16), nullable=True))
        batch_op.create_index('ix_incident_next_alert', ['status', 'next_alert_at'], unique=False)
        batch_op.create_index('ix_incident_card_channel', ['card_channel', 'created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.drop_index('ix_incident_card_channel')
        batch_op.drop_index('ix_incident_next_alert')
        batch_op.drop_column('next_alert_kind')
        batch_op.drop_column('next_alert_at')
    op.drop_table('digest_run')
