"""workflows: the audit of moving records in flight from one version to another

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 10:30:00
"""
from alembic import op
import sqlalchemy as sa

import app.db


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('workflow_migrations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('from_version', sa.Integer(), nullable=False),
    sa.Column('to_version', sa.Integer(), nullable=False),
    sa.Column('mapping', sa.Text(), nullable=False),
    sa.Column('moved', sa.Integer(), nullable=False),
    sa.Column('at', app.db.UTCDateTime(), nullable=False),
    sa.Column('by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['by'], ['users.id'], name=op.f('fk_workflow_migrations_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_workflow_migrations'))
    )


def downgrade() -> None:
    op.drop_table('workflow_migrations')
