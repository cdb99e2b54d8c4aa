"""sweep_horizon: per set of due rules and program, the local midnight from which the rules' answer about the
program may change with its records unchanged, so a zone's midnight brings round only the programs whose answer
that day can change (store/sweep_marks.py, scheduler/sweep.py)

The marks are dropped: without horizons a midnight would bring no program round, so the first pass after the
upgrade runs in full and stores every program's horizon.

Revision ID: 0260
Revises: 0250
"""
import sqlalchemy as sa
from alembic import op

revision = '0260'
down_revision = '0250'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM sweep_mark")
    op.create_table(
        'sweep_horizon',
        sa.Column('rules', sa.String(length=64), primary_key=True),
        sa.Column('program_id', sa.Integer(), primary_key=True),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index('ix_sweep_horizon_rules_at', 'sweep_horizon', ['rules', 'at'])


def downgrade() -> None:
    op.drop_index('ix_sweep_horizon_rules_at', table_name='sweep_horizon')
    op.drop_table('sweep_horizon')
