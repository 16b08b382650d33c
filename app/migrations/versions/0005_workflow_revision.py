"""workflows: a draft's revision (two admins editing one draft), who edited and published

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 10:05:00
"""
from alembic import op
import sqlalchemy as sa

import app.db


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('workflow_definitions', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('revision', sa.Integer(), server_default='1', nullable=False)
        )
        batch_op.add_column(
            sa.Column('updated_at', app.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column('updated_by', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('published_by', sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column('retired_at', app.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_foreign_key(
            batch_op.f('fk_workflow_definitions_updated_by_users'), 'users', ['updated_by'], ['id']
        )
        batch_op.create_foreign_key(
            batch_op.f('fk_workflow_definitions_published_by_users'),
            'users',
            ['published_by'],
            ['id'],
        )


def downgrade() -> None:
    with op.batch_alter_table('workflow_definitions', schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f('fk_workflow_definitions_published_by_users'), type_='foreignkey'
        )
        batch_op.drop_constraint(
            batch_op.f('fk_workflow_definitions_updated_by_users'), type_='foreignkey'
        )
        batch_op.drop_column('retired_at')
        batch_op.drop_column('published_by')
        batch_op.drop_column('updated_by')
        batch_op.drop_column('updated_at')
        batch_op.drop_column('revision')
