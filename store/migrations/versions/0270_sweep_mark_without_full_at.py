"""sweep_mark without full_at: the scheduler's safety net no longer runs a daily full pass counted from the last
one; each UTC hour's first pass asks about a slice of the programs instead (scheduler/sweep.py), and the
stability rules' settled window became a horizon, so the horizons stored before may lack that day.

The marks are dropped: a mark only lets a pass do less, so the first pass after the upgrade runs in full and
stores every program's horizon anew.

Revision ID: 0270
Revises: 0260
"""
import sqlalchemy as sa
from alembic import op

revision = '0270'
down_revision = '0260'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM sweep_mark")
    with op.batch_alter_table('sweep_mark') as batch:
        batch.drop_column('full_at')


def downgrade() -> None:
    op.execute("DELETE FROM sweep_mark")
    with op.batch_alter_table('sweep_mark') as batch:
        batch.add_column(sa.Column('full_at', sa.DateTime(timezone=True), nullable=False))
