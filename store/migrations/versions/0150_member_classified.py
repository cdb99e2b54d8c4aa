"""program_member.classified: a member counts as outside the company until Slack has said otherwise

Existing memberships are marked unclassified: a guest whose lookup failed before this revision stayed
internal for good, so everyone is looked up again (on their next command, or the scheduler's next pass).

Revision ID: 0150
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = '0150'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('program_member') as batch:
        batch.add_column(sa.Column('classified', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('program_member') as batch:
        batch.drop_column('classified')
