"""audit_checkpoint: when each checkpoint of the audit chain was published outside the database

Revision ID: 0151
Revises: 0150
"""
import sqlalchemy as sa
from alembic import op

revision = '0151'
down_revision = '0150'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_checkpoint',
    sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('seq')
    )


def downgrade() -> None:
    op.drop_table('audit_checkpoint')
