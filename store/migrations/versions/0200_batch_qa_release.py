"""batch QA release: the CMO quality unit's signed release of a batch record before the customer's review
(table batch_release, the batch's release day), and the `qa_release` setting `off` for the programs that exist
when this lands (nothing changes for them silently; new programs require the release)

Revision ID: 0200
Revises: 0170
"""
import sqlalchemy as sa
from alembic import op

revision = '0200'
down_revision = '0170'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql')


def upgrade() -> None:
    op.create_table('batch_release',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('signer_name', sa.String(length=255), nullable=False),
    sa.Column('meaning', sa.String(length=500), nullable=False),
    sa.Column('signed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('local_time', sa.String(length=40), nullable=False),
    sa.Column('local_tz', sa.String(length=64), nullable=False),
    sa.Column('second_component', sa.String(length=64), nullable=False),
    sa.Column('linked_sha256', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['batch.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('batch_id')
    )
    with op.batch_alter_table('batch', schema=None) as batch_op:
        batch_op.add_column(sa.Column('released_on', sa.Date(), nullable=True))
    program = sa.table('program', sa.column('id', sa.Integer()), sa.column('settings', JSON))
    connection = op.get_bind()
    for row in connection.execute(sa.select(program.c.id, program.c.settings)).all():
        settings = dict(row.settings or {})
        settings['batches'] = {**(settings.get('batches') or {}), 'qa_release': 'off'}
        connection.execute(program.update().where(program.c.id == row.id).values(settings=settings))


def downgrade() -> None:
    with op.batch_alter_table('batch', schema=None) as batch_op:
        batch_op.drop_column('released_on')
    op.drop_table('batch_release')
