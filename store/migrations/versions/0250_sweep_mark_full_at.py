"""sweep_mark.full_at: when a set of due rules was last asked about every program, now that the scheduler's
passes between re-ask only the programs that changed (scheduler/sweep.py)

The marks are dropped: a mark only lets a pass do less, so the first pass after the upgrade runs in full and
writes a new one.

Revision ID: 0250
Revises: 0240
"""
import sqlalchemy as sa
from alembic import op

revision = '0250'
down_revision = '0240'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM sweep_mark")
    with op.batch_alter_table('sweep_mark') as batch:
        batch.add_column(sa.Column('full_at', sa.DateTime(timezone=True), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('sweep_mark') as batch:
        batch.drop_column('full_at')
