"""monitoring: each job's latest run, the log store read by /monitoring/logs and the
per-minute traffic the dashboard draws; indexes for its
reads over the last day (SLA breaches, refunds done, returns completed, credit issued,
open returns)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 15:00:00
"""
from alembic import op
import sqlalchemy as sa

import app.db


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_returns_team_sla', 'returns', ['team', 'sla_due_at'], unique=False)
    op.create_index('ix_outbox_kind_done', 'outbox', ['kind', 'done_at'], unique=False)
    op.create_index('ix_return_events_to_state_at', 'return_events', ['to_state', 'at'], unique=False)
    op.create_index('ix_returns_version_state', 'returns', ['workflow_version', 'state'], unique=False)
    op.create_index(op.f('ix_credit_entries_created_at'), 'credit_entries', ['created_at'], unique=False)
    op.create_table('job_states',
    sa.Column('job_id', sa.String(length=60), nullable=False),
    sa.Column('interval_seconds', sa.Integer(), nullable=False),
    sa.Column('last_run_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_duration_ms', sa.Float(), nullable=False),
    sa.Column('last_outcome', sa.String(length=10), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('last_success_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('job_id', name=op.f('pk_job_states'))
    )
    op.create_table('log_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('level', sa.String(length=10), nullable=False),
    sa.Column('logger', sa.String(length=100), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('request_id', sa.String(length=128), nullable=False),
    sa.Column('job_id', sa.String(length=60), nullable=True),
    sa.Column('fields', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_log_events'))
    )
    op.create_index(op.f('ix_log_events_at'), 'log_events', ['at'], unique=False)
    op.create_index(op.f('ix_log_events_request_id'), 'log_events', ['request_id'], unique=False)
    op.create_table('traffic_minutes',
    sa.Column('minute', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('area', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=3), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('seconds', sa.Float(), nullable=False),
    sa.Column('b0', sa.Integer(), nullable=False),
    sa.Column('b1', sa.Integer(), nullable=False),
    sa.Column('b2', sa.Integer(), nullable=False),
    sa.Column('b3', sa.Integer(), nullable=False),
    sa.Column('b4', sa.Integer(), nullable=False),
    sa.Column('b5', sa.Integer(), nullable=False),
    sa.Column('b6', sa.Integer(), nullable=False),
    sa.Column('b7', sa.Integer(), nullable=False),
    sa.Column('b8', sa.Integer(), nullable=False),
    sa.Column('b9', sa.Integer(), nullable=False),
    sa.Column('b10', sa.Integer(), nullable=False),
    sa.Column('b11', sa.Integer(), nullable=False),
    sa.Column('b12', sa.Integer(), nullable=False),
    sa.Column('b13', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('minute', 'area', 'status', name=op.f('pk_traffic_minutes'))
    )


def downgrade() -> None:
    op.drop_table('traffic_minutes')
    op.drop_index(op.f('ix_log_events_request_id'), table_name='log_events')
    op.drop_index(op.f('ix_log_events_at'), table_name='log_events')
    op.drop_table('log_events')
    op.drop_table('job_states')
    op.drop_index('ix_outbox_kind_done', table_name='outbox')
    op.drop_index('ix_returns_team_sla', table_name='returns')
    op.drop_index(op.f('ix_credit_entries_created_at'), table_name='credit_entries')
    op.drop_index('ix_returns_version_state', table_name='returns')
    op.drop_index('ix_return_events_to_state_at', table_name='return_events')
