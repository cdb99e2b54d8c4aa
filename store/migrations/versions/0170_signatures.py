"""signatures: authenticator secrets, the printed names of people (Slack real names), the SHA-256 each batch
signature is linked to, and the signing method
of the programs that exist when this lands (they keep `initials` until a manager changes it)

Revision ID: 0170
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = '0170'
down_revision = '0003'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql')


def upgrade() -> None:
    op.create_table('signing_key',
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('secret', sa.String(length=500), nullable=False),
    sa.Column('enrolled_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_step', sa.Integer(), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('locked_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('user_id')
    )
    op.create_table('person',
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('real_name', sa.String(length=255), nullable=False),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('user_id')
    )
    with op.batch_alter_table('batch_signature', schema=None) as batch_op:
        batch_op.add_column(sa.Column('linked_sha256', sa.String(length=64), nullable=True))
    program = sa.table('program', sa.column('id', sa.Integer()), sa.column('settings', JSON))
    connection = op.get_bind()
    for row in connection.execute(sa.select(program.c.id, program.c.settings)).all():
        settings = dict(row.settings or {})
        settings['batches'] = {**(settings.get('batches') or {}), 'signing': 'initials'}
        connection.execute(program.update().where(program.c.id == row.id).values(settings=settings))


def downgrade() -> None:
    with op.batch_alter_table('batch_signature', schema=None) as batch_op:
        batch_op.drop_column('linked_sha256')
    op.drop_table('signing_key')
    op.drop_table('person')
