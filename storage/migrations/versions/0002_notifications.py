"""notifications sent once per step, approval message ts, step-due index

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""
from alembic import op
import sqlalchemy as sa

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('notification',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('step_seq', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incident.id'], name=op.f('fk_notification_incident_id_incident')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification')),
    sa.UniqueConstraint('incident_id', 'step_seq', 'kind', name='uq_notification_once')
    )
    with op.batch_alter_table('step_record', schema=None) as batch_op:
        batch_op.add_column(sa.Column('approval_ts', sa.String(length=64), nullable=True))
    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.create_index('ix_incident_step_due', ['status', 'current_step', 'step_due_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.drop_index('ix_incident_step_due')
    with op.batch_alter_table('step_record', schema=None) as batch_op:
        batch_op.drop_column('approval_ts')
    op.drop_table('notification')
