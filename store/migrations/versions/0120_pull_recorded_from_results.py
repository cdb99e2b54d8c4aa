"""stability pulls recorded from a results file

A pull recorded because a results file held results for it (onboarding a running study) is flagged, so the
schedule and the audit trail tell it from a pull recorded when it was made.

Revision ID: 0120
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = '0120'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('stability_pull') as batch:
        batch.add_column(sa.Column('from_results', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('stability_pull') as batch:
        batch.drop_column('from_results')
