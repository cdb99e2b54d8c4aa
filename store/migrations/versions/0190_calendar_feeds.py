"""calendar_feed (a person's feed tokens, as hashes) and calendar_sequence (each event's SEQUENCE)

Revision ID: 0190
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = '0190'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'calendar_feed',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('user_id', sa.String(length=32), nullable=False),
        sa.Column('scope', sa.String(length=32), nullable=False),
        sa.Column('nonce', sa.String(length=64), nullable=False),
        sa.Column('token_sha256', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('user_id', 'scope', name='uq_calendar_feed_scope'),
        sa.UniqueConstraint('token_sha256'),
    )
    op.create_index('ix_calendar_feed_user_id', 'calendar_feed', ['user_id'])
    op.create_table(
        'calendar_sequence',
        sa.Column('uid', sa.String(length=96), primary_key=True),
        sa.Column('program_id', sa.Integer(), nullable=False),
        sa.Column('dates', sa.String(length=64), nullable=False),
        sa.Column('sequence', sa.Integer(), nullable=False),
        sa.Column('stamped_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index('ix_calendar_sequence_program_id', 'calendar_sequence', ['program_id'])

def downgrade() -> None:
    op.drop_table('calendar_sequence')
    op.drop_table('calendar_feed')
