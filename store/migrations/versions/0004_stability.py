"""stability

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-25 07:44:56.800392
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('stability_study',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('program_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=20), nullable=False),
    sa.Column('product', sa.String(length=200), nullable=False),
    sa.Column('lots', sa.String(length=500), nullable=False),
    sa.Column('protocol', sa.String(length=100), nullable=False),
    sa.Column('duration_months', sa.Integer(), nullable=False),
    sa.Column('placed_on', sa.Date(), nullable=False),
    sa.Column('conditions', sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql'), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['program_id'], ['program.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('program_id', 'code', name='uq_stability_study_code')
    )
    with op.batch_alter_table('stability_study', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stability_study_program_id'), ['program_id'], unique=False)

    op.create_table('stability_pull',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('program_id', sa.Integer(), nullable=False),
    sa.Column('condition', sa.String(length=16), nullable=False),
    sa.Column('months', sa.Integer(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('opens_on', sa.Date(), nullable=False),
    sa.Column('closes_on', sa.Date(), nullable=False),
    sa.Column('pulled_on', sa.Date(), nullable=True),
    sa.Column('pulled_by', sa.String(length=64), nullable=True),
    sa.Column('pulled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('deviation', sa.Boolean(), nullable=False),
    sa.Column('lab', sa.String(length=100), nullable=True),
    sa.Column('sample_ids', sa.String(length=500), nullable=True),
    sa.Column('submitted_on', sa.Date(), nullable=True),
    sa.Column('results_due_on', sa.Date(), nullable=True),
    sa.Column('results_on', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['program_id'], ['program.id'], ),
    sa.ForeignKeyConstraint(['study_id'], ['stability_study.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('study_id', 'condition', 'months', name='uq_stability_pull')
    )
    with op.batch_alter_table('stability_pull', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stability_pull_due_on'), ['due_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_stability_pull_program_id'), ['program_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_stability_pull_study_id'), ['study_id'], unique=False)

    op.create_table('stability_result',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('pull_id', sa.Integer(), nullable=False),
    sa.Column('attribute', sa.String(length=100), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('unit', sa.String(length=32), nullable=False),
    sa.Column('spec_low', sa.Float(), nullable=True),
    sa.Column('spec_high', sa.Float(), nullable=True),
    sa.Column('out_of_spec', sa.Boolean(), nullable=False),
    sa.Column('recorded_by', sa.String(length=64), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['pull_id'], ['stability_pull.id'], ),
    sa.ForeignKeyConstraint(['study_id'], ['stability_study.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('pull_id', 'attribute', name='uq_stability_result')
    )
    with op.batch_alter_table('stability_result', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stability_result_pull_id'), ['pull_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_stability_result_study_id'), ['study_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('stability_result', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stability_result_study_id'))
        batch_op.drop_index(batch_op.f('ix_stability_result_pull_id'))

    op.drop_table('stability_result')
    with op.batch_alter_table('stability_pull', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stability_pull_study_id'))
        batch_op.drop_index(batch_op.f('ix_stability_pull_program_id'))
        batch_op.drop_index(batch_op.f('ix_stability_pull_due_on'))

    op.drop_table('stability_pull')
    with op.batch_alter_table('stability_study', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stability_study_program_id'))

    op.drop_table('stability_study')
