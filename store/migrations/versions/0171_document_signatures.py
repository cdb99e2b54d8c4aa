"""document signatures: signed approvals of submission documents, linked to the file's SHA-256

Revision ID: 0171
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = '0171'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('document_signature',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('file_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('signer_name', sa.String(length=255), nullable=False),
    sa.Column('meaning', sa.String(length=500), nullable=False),
    sa.Column('signed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('local_time', sa.String(length=40), nullable=False),
    sa.Column('local_tz', sa.String(length=64), nullable=False),
    sa.Column('second_component', sa.String(length=64), nullable=False),
    sa.Column('linked_sha256', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['file_id'], ['submission_file.id'], ),
    sa.ForeignKeyConstraint(['item_id'], ['submission_item.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('document_signature', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_document_signature_item_id'), ['item_id'], unique=False)


def downgrade() -> None:
    op.drop_table('document_signature')
