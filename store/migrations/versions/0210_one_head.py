"""one head: the areas' branches (agreements, batches and their QA release, stability, submissions' document
signatures, concurrency, the audit checkpoint, calendar feeds) merged, so that every later migration has one
parent and `cmo-bot migrate` upgrades to one revision. No change to the schema.

Revision ID: 0210
Revises: 0002, 0110, 0151, 0171, 0180, 0190, 0200
"""

revision = '0210'
down_revision = ('0002', '0110', '0151', '0171', '0180', '0190', '0200')
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
