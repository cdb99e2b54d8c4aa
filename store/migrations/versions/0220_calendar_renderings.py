"""calendar_sequence keeps each event's VEVENT as last rendered (`vevent`) and a digest of what it was rendered
from (`rendered_from`), so a feed gathered again after a restart renders only what changed

Revision ID: 0220
Revises: 0210
"""
import sqlalchemy as sa
from alembic import op

revision = '0220'
down_revision = '0210'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('calendar_sequence') as table:
        table.add_column(sa.Column('rendered_from', sa.String(length=64), nullable=False, server_default=''))
        table.add_column(sa.Column('vevent', sa.LargeBinary(), nullable=False, server_default=sa.text("''")))


def downgrade() -> None:
    with op.batch_alter_table('calendar_sequence') as table:
        table.drop_column('vevent')
        table.drop_column('rendered_from')
