"""stability results per batch; intermediate pulls on standby until a significant change at accelerated

A primary study has several batches (lots): a result belongs to a pull, a batch and an attribute, so the
second and third batch at one time point are results of their own. Intermediate pulls of a study that also
has an accelerated condition wait on standby (no reminders) until a significant change there starts them.

Revision ID: 0180
Revises: 0120
"""
import sqlalchemy as sa
from alembic import op

revision = '0180'
down_revision = '0120'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('stability_result') as batch:
        batch.add_column(sa.Column('batch', sa.String(length=40), nullable=False, server_default=''))
        batch.drop_constraint('uq_stability_result', type_='unique')
        batch.create_unique_constraint('uq_stability_result', ['pull_id', 'batch', 'attribute'])
    with op.batch_alter_table('stability_pull') as batch:
        batch.add_column(sa.Column('standby', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column('activated_on', sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('stability_pull') as batch:
        batch.drop_column('activated_on')
        batch.drop_column('standby')
    with op.batch_alter_table('stability_result') as batch:
        batch.drop_constraint('uq_stability_result', type_='unique')
        batch.create_unique_constraint('uq_stability_result', ['pull_id', 'attribute'])
        batch.drop_column('batch')
