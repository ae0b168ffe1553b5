"""lead messages: where each approval request and escalation reached a lead

An approval request or an escalation goes to every lead by DM (or once to LEAD_CHANNEL), so one
step can have several messages with buttons. Each is remembered with the conversation Slack put
it in, so that once someone decides or acts, every copy is redrawn and no lead presses a stale
Approve.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""
from alembic import op
import sqlalchemy as sa

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'lead_message',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('incident_id', sa.Integer(), nullable=False),
        sa.Column('step_seq', sa.Integer(), nullable=False),
        sa.Column('purpose', sa.String(length=16), nullable=False),
        sa.Column('channel', sa.String(length=64), nullable=False),
        sa.Column('ts', sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(['incident_id'], ['incident.id'],
                                name=op.f('fk_lead_message_incident_id_incident')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_lead_message')),
        sa.UniqueConstraint('channel', 'ts', name='uq_lead_message_ts'),
    )
    op.create_index('ix_lead_message_step', 'lead_message', ['incident_id', 'step_seq', 'purpose'])


def downgrade() -> None:
    op.drop_index('ix_lead_message_step', table_name='lead_message')
    op.drop_table('lead_message')
