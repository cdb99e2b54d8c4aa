"""work: requests acknowledged by serve/socket and waiting for a `cmo-bot work` process (store/work.py)

Revision ID: 0240
Revises: 0230
"""
import sqlalchemy as sa
from alembic import op

revision = '0240'
down_revision = '0230'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'work',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('queue', sa.String(length=64), nullable=False),
        sa.Column('listener', sa.String(length=255), nullable=False),
        sa.Column('mode', sa.String(length=16), nullable=False),
        sa.Column('content_type', sa.String(length=255), nullable=True),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('claimed_by', sa.String(length=64), nullable=True),
        sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('applied_by', sa.String(length=80), nullable=True),
    )
    op.create_index('ix_work_queue_claimed_by', 'work', ['queue', 'claimed_by'])


def downgrade() -> None:
    op.drop_index('ix_work_queue_claimed_by', table_name='work')
    op.drop_table('work')
