"""batches: batch record reviews, signatures, messages to update in place, review calls

Revision ID: 0003
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('batch',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('program_id', sa.Integer(), nullable=False),
    sa.Column('batch_no', sa.String(length=40), nullable=False),
    sa.Column('product', sa.String(length=200), nullable=False),
    sa.Column('release_by', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('ready_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ready_on', sa.Date(), nullable=False),
    sa.Column('ready_by', sa.String(length=32), nullable=False),
    sa.Column('review_round', sa.Integer(), nullable=False),
    sa.Column('round_started_on', sa.Date(), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_on', sa.Date(), nullable=True),
    sa.Column('decided_by', sa.String(length=32), nullable=True),
    sa.Column('decided_by_name', sa.String(length=255), nullable=True),
    sa.Column('reason', sa.String(length=2000), nullable=True),
    sa.Column('record_name', sa.String(length=255), nullable=True),
    sa.Column('record_path', sa.String(length=500), nullable=True),
    sa.Column('record_sha256', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['program_id'], ['program.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('program_id', 'batch_no', name='uq_batch_program_no')
    )
    with op.batch_alter_table('batch', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_batch_program_id'), ['program_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_batch_status'), ['status'], unique=False)

    op.create_table('batch_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=True),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('ts', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['batch.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('channel', 'ts', name='uq_batch_message')
    )
    with op.batch_alter_table('batch_message', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_batch_message_batch_id'), ['batch_id'], unique=False)

    op.create_table('batch_review_call',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('minutes', sa.Integer(), nullable=False),
    sa.Column('requested_by', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['batch.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('batch_review_call', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_batch_review_call_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_batch_review_call_starts_at'), ['starts_at'], unique=False)

    op.create_table('batch_signature',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('review_round', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('signer_name', sa.String(length=255), nullable=False),
    sa.Column('meaning', sa.String(length=500), nullable=False),
    sa.Column('signed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('local_time', sa.String(length=40), nullable=False),
    sa.Column('local_tz', sa.String(length=64), nullable=False),
    sa.Column('second_component', sa.String(length=64), nullable=False),
    sa.Column('comment', sa.String(length=2000), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['batch.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('batch_id', 'review_round', 'user_id', name='uq_batch_signature')
    )
    with op.batch_alter_table('batch_signature', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_batch_signature_batch_id'), ['batch_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('batch_signature', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_batch_signature_batch_id'))

    op.drop_table('batch_signature')
    with op.batch_alter_table('batch_review_call', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_batch_review_call_starts_at'))
        batch_op.drop_index(batch_op.f('ix_batch_review_call_batch_id'))

    op.drop_table('batch_review_call')
    with op.batch_alter_table('batch_message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_batch_message_batch_id'))

    op.drop_table('batch_message')
    with op.batch_alter_table('batch', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_batch_status'))
        batch_op.drop_index(batch_op.f('ix_batch_program_id'))

    op.drop_table('batch')
