"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-24
"""
from alembic import op
import sqlalchemy as sa



revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('incident',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.String(length=32), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('origin_channel', sa.String(length=64), nullable=False),
    sa.Column('origin_ts', sa.String(length=128), nullable=False),
    sa.Column('permalink', sa.String(length=1000), nullable=True),
    sa.Column('excerpt', sa.String(length=500), nullable=False),
    sa.Column('summary', sa.String(length=500), nullable=False),
    sa.Column('flagged_by', sa.String(length=32), nullable=False),
    sa.Column('customer_name', sa.String(length=200), nullable=True),
    sa.Column('contact_channel', sa.String(length=32), nullable=True),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('category', sa.String(length=100), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('owner_id', sa.String(length=32), nullable=True),
    sa.Column('current_step', sa.String(length=32), nullable=False),
    sa.Column('step_seq', sa.Integer(), nullable=False),
    sa.Column('step_started_at', sa.DateTime(), nullable=False),
    sa.Column('step_due_at', sa.DateTime(), nullable=True),
    sa.Column('snoozed_until', sa.DateTime(), nullable=True),
    sa.Column('card_channel', sa.String(length=64), nullable=False),
    sa.Column('card_ts', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('claimed_at', sa.DateTime(), nullable=True),
    sa.Column('closed_at', sa.DateTime(), nullable=True),
    sa.Column('root_cause', sa.String(length=100), nullable=True),
    sa.Column('fix_note', sa.Text(), nullable=True),
    sa.Column('remedy_kind', sa.String(length=32), nullable=True),
    sa.Column('remedy_amount', sa.Numeric(precision=12, scale=2), nullable=True),
    sa.Column('approval', sa.String(length=16), nullable=True),
    sa.Column('approval_note', sa.Text(), nullable=True),
    sa.Column('buy_in_at', sa.DateTime(), nullable=True),
    sa.Column('csat', sa.Integer(), nullable=True),
    sa.Column('buy_again', sa.String(length=8), nullable=True),
    sa.Column('follow_up_note', sa.Text(), nullable=True),
    sa.Column('cancel_reason', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incident')),
    sa.UniqueConstraint('workspace_id', 'number', name='uq_incident_number'),
    sa.UniqueConstraint('workspace_id', 'origin_channel', 'origin_ts', name='uq_incident_origin')
    )
    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.create_index('ix_incident_open_due', ['status', 'step_due_at'], unique=False)
        batch_op.create_index('ix_incident_workspace_status', ['workspace_id', 'status', 'number'], unique=False)

    op.create_table('workspace_counter',
    sa.Column('workspace_id', sa.String(length=32), nullable=False),
    sa.Column('last_number', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('workspace_id', name=op.f('pk_workspace_counter'))
    )
    op.create_table('outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.String(length=32), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=True),
    sa.Column('step_seq', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('channel', sa.String(length=64), nullable=True),
    sa.Column('user_id', sa.String(length=32), nullable=True),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('dedupe_key', sa.String(length=200), nullable=True),
    sa.Column('ordering_key', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('uncertain', sa.Boolean(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(), nullable=False),
    sa.Column('lease_until', sa.DateTime(), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.Column('result_ts', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['incident_id'], ['incident.id'], name=op.f('fk_outbox_incident_id_incident')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_outbox_dedupe_key'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_due', ['state', 'next_attempt_at'], unique=False)
        batch_op.create_index('ix_outbox_ordering', ['ordering_key', 'id'], unique=False)

    op.create_table('step_record',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('step', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('due_at', sa.DateTime(), nullable=True),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.Column('ended_by', sa.String(length=32), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('message_ts', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['incident_id'], ['incident.id'], name=op.f('fk_step_record_incident_id_incident')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_step_record')),
    sa.UniqueConstraint('incident_id', 'seq', name='uq_step_record_seq')
    )
    op.create_table('timeline_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('actor', sa.String(length=32), nullable=True),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incident.id'], name=op.f('fk_timeline_event_incident_id_incident')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_timeline_event'))
    )
    with op.batch_alter_table('timeline_event', schema=None) as batch_op:
        batch_op.create_index('ix_timeline_event_incident', ['incident_id', 'id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('timeline_event', schema=None) as batch_op:
        batch_op.drop_index('ix_timeline_event_incident')

    op.drop_table('timeline_event')
    op.drop_table('step_record')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_ordering')
        batch_op.drop_index('ix_outbox_due')

    op.drop_table('outbox')
    op.drop_table('workspace_counter')
    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.drop_index('ix_incident_workspace_status')
        batch_op.drop_index('ix_incident_open_due')

    op.drop_table('incident')
