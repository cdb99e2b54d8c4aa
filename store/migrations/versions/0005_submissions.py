"""submissions: submissions, their checklist items and the files handed in

Revision ID: 0005
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('submission',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('program_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('filing_date', sa.Date(), nullable=False),
    sa.Column('customer_contact', sa.String(length=200), nullable=False),
    sa.Column('created_by', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('package_sha256', sa.String(length=64), nullable=True),
    sa.Column('packaged_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['program_id'], ['program.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('program_id', 'number', name='uq_submission_program_number')
    )
    with op.batch_alter_table('submission', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_submission_program_id'), ['program_id'], unique=False)

    op.create_table('submission_item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('submission_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('section', sa.String(length=200), nullable=False),
    sa.Column('document', sa.String(length=300), nullable=False),
    sa.Column('source', sa.String(length=100), nullable=False),
    sa.Column('owner', sa.String(length=32), nullable=True),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['submission_id'], ['submission.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('submission_id', 'number', name='uq_submission_item_number')
    )
    with op.batch_alter_table('submission_item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_submission_item_owner'), ['owner'], unique=False)
        batch_op.create_index(batch_op.f('ix_submission_item_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_submission_item_submission_id'), ['submission_id'], unique=False)

    op.create_table('submission_file',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=150), nullable=False),
    sa.Column('path', sa.String(length=500), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('slack_file_id', sa.String(length=32), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_by', sa.String(length=32), nullable=False),
    sa.Column('received_by_name', sa.String(length=255), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['submission_item.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('submission_file', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_submission_file_item_id'), ['item_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('submission_file', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_submission_file_item_id'))

    op.drop_table('submission_file')
    with op.batch_alter_table('submission_item', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_submission_item_submission_id'))
        batch_op.drop_index(batch_op.f('ix_submission_item_status'))
        batch_op.drop_index(batch_op.f('ix_submission_item_owner'))

    op.drop_table('submission_item')
    with op.batch_alter_table('submission', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_submission_program_id'))

    op.drop_table('submission')
