"""agreements

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('agreement',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('program_id', sa.Integer(), nullable=False),
    sa.Column('ref', sa.String(length=20), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('counterparty', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('version', sa.String(length=40), nullable=False),
    sa.Column('effective_on', sa.Date(), nullable=True),
    sa.Column('expires_on', sa.Date(), nullable=True),
    sa.Column('evergreen', sa.Boolean(), nullable=False),
    sa.Column('review_on', sa.Date(), nullable=True),
    sa.Column('notice_days', sa.Integer(), nullable=True),
    sa.Column('owner_id', sa.String(length=32), nullable=True),
    sa.Column('notes', sa.String(length=3000), nullable=False),
    sa.Column('dates_set_on', sa.Date(), nullable=True),
    sa.Column('superseded_by', sa.Integer(), nullable=True),
    sa.Column('superseded_on', sa.Date(), nullable=True),
    sa.Column('created_by', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['program_id'], ['program.id'], ),
    sa.ForeignKeyConstraint(['superseded_by'], ['agreement.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('program_id', 'ref', name='uq_agreement_program_ref')
    )
    with op.batch_alter_table('agreement', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agreement_program_id'), ['program_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_agreement_status'), ['status'], unique=False)

    op.create_table('agreement_document',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agreement_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('slack_file_id', sa.String(length=32), nullable=True),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('path', sa.String(length=500), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('filed_by', sa.String(length=32), nullable=False),
    sa.Column('filed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['agreement_id'], ['agreement.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('agreement_document', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agreement_document_agreement_id'), ['agreement_id'], unique=False)

    op.create_table('agreement_redline',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agreement_id', sa.Integer(), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('version', sa.String(length=40), nullable=False),
    sa.Column('side', sa.String(length=16), nullable=False),
    sa.Column('by_id', sa.String(length=32), nullable=False),
    sa.Column('by_name', sa.String(length=255), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('note', sa.String(length=3000), nullable=False),
    sa.Column('slack_file_id', sa.String(length=32), nullable=True),
    sa.Column('file_name', sa.String(length=255), nullable=True),
    sa.ForeignKeyConstraint(['agreement_id'], ['agreement.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('agreement_id', 'round', name='uq_redline_round')
    )
    with op.batch_alter_table('agreement_redline', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agreement_redline_agreement_id'), ['agreement_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('agreement_redline', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agreement_redline_agreement_id'))

    op.drop_table('agreement_redline')
    with op.batch_alter_table('agreement_document', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agreement_document_agreement_id'))

    op.drop_table('agreement_document')
    with op.batch_alter_table('agreement', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agreement_status'))
        batch_op.drop_index(batch_op.f('ix_agreement_program_id'))

    op.drop_table('agreement')
