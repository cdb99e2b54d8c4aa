"""concurrency: the audit chain's head exists from the start; receipts of modal submissions

Revision ID: 0110
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = '0110'
down_revision = '0001'
branch_labels = None
depends_on = None

GENESIS = "0" * 64


def upgrade() -> None:
    # The head row every audited write locks; created here so that no two first writers race to create it.
    op.execute(sa.text("INSERT INTO audit_head (id, seq, hash) SELECT 1, 0, :genesis "
                       "WHERE NOT EXISTS (SELECT 1 FROM audit_head WHERE id = 1)").bindparams(genesis=GENESIS))
    op.create_table('submission_receipt',
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    with op.batch_alter_table('submission_receipt', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_submission_receipt_created_at'), ['created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('submission_receipt', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_submission_receipt_created_at'))
    op.drop_table('submission_receipt')
