"""sweep_mark: per set of due rules, the audit sequence and instant of its last full pass and until when that
pass's answer holds, so the scheduler's steady passes skip the rules (store/sweep_marks.py)

Revision ID: 0230
Revises: 0220
"""
import sqlalchemy as sa
from alembic import op

revision = '0230'
down_revision = '0220'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'sweep_mark',
        sa.Column('rules', sa.String(length=64), primary_key=True),
        sa.Column('audit_seq', sa.Integer(), nullable=False),
        sa.Column('swept_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('until', sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('sweep_mark')
