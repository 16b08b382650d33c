"""feeds: partners, their API keys, imports with their staged changes and rejected rows;
products learn the feed row hash and take a partner's longer categories and image URLs

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 12:00:00
"""
from alembic import op
import sqlalchemy as sa

import app.db


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('partners',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('format', sa.String(length=30), nullable=False),
    sa.Column('feed_url', sa.String(length=2000), nullable=True),
    sa.Column('poll_minutes', sa.Integer(), nullable=True),
    sa.Column('mapping', sa.Text(), nullable=True),
    sa.Column('price_guard_percent', sa.Integer(), nullable=False),
    sa.Column('drop_guard_percent', sa.Integer(), nullable=False),
    sa.Column('stale_after_minutes', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('next_poll_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('poll_etag', sa.String(length=500), nullable=True),
    sa.Column('poll_last_modified', sa.String(length=100), nullable=True),
    sa.Column('last_polled_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('poll_failures', sa.Integer(), nullable=False),
    sa.Column('last_poll_error', sa.Text(), nullable=True),
    sa.Column('last_success_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_partners_created_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_partners')),
    sa.UniqueConstraint('name', name=op.f('uq_partners_name'))
    )
    with op.batch_alter_table('partners', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_partners_next_poll_at'), ['next_poll_at'], unique=False)

    op.create_table('partner_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('revoked_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_partner_keys_created_by_users')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_partner_keys_partner_id_partners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_partner_keys')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_partner_keys_key_hash'))
    )
    with op.batch_alter_table('partner_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_partner_keys_partner_id'), ['partner_id'], unique=False)

    op.create_table('feed_imports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('approval', sa.String(length=20), nullable=True),
    sa.Column('dry_run', sa.Boolean(), nullable=False),
    sa.Column('complete', sa.Boolean(), nullable=False),
    sa.Column('source', sa.String(length=10), nullable=False),
    sa.Column('format', sa.String(length=30), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=True),
    sa.Column('file_name', sa.String(length=100), nullable=False),
    sa.Column('original_name', sa.String(length=200), nullable=True),
    sa.Column('file_size', sa.Integer(), nullable=False),
    sa.Column('rows_total', sa.Integer(), nullable=False),
    sa.Column('created', sa.Integer(), nullable=False),
    sa.Column('updated', sa.Integer(), nullable=False),
    sa.Column('unchanged', sa.Integer(), nullable=False),
    sa.Column('rejected', sa.Integer(), nullable=False),
    sa.Column('dropped', sa.Integer(), nullable=False),
    sa.Column('price_changes', sa.Integer(), nullable=False),
    sa.Column('existing', sa.Integer(), nullable=False),
    sa.Column('phase', sa.String(length=10), nullable=False),
    sa.Column('staged_rows', sa.Integer(), nullable=False),
    sa.Column('applied_through', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('claimed_by', sa.String(length=120), nullable=True),
    sa.Column('lease_until', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('requested_by', sa.Integer(), nullable=True),
    sa.Column('key_id', sa.Integer(), nullable=True),
    sa.Column('decided_by', sa.Integer(), nullable=True),
    sa.Column('decided_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('cleaned_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['decided_by'], ['users.id'], name=op.f('fk_feed_imports_decided_by_users')),
    sa.ForeignKeyConstraint(['key_id'], ['partner_keys.id'], name=op.f('fk_feed_imports_key_id_partner_keys')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_feed_imports_partner_id_partners')),
    sa.ForeignKeyConstraint(['requested_by'], ['users.id'], name=op.f('fk_feed_imports_requested_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feed_imports'))
    )
    with op.batch_alter_table('feed_imports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_feed_imports_partner_id'), ['partner_id'], unique=False)
        batch_op.create_index('ix_feed_imports_status_id', ['status', 'id'], unique=False)

    op.create_table('feed_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('import_id', sa.Integer(), nullable=False),
    sa.Column('row', sa.Integer(), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=10), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=True),
    sa.Column('data', sa.Text(), nullable=False),
    sa.Column('diff', sa.Text(), nullable=False),
    sa.Column('hash', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['import_id'], ['feed_imports.id'], name=op.f('fk_feed_changes_import_id_feed_imports')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feed_changes'))
    )
    with op.batch_alter_table('feed_changes', schema=None) as batch_op:
        batch_op.create_index('ix_feed_changes_import_id_id', ['import_id', 'id'], unique=False)

    op.create_table('feed_rejections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('import_id', sa.Integer(), nullable=False),
    sa.Column('row', sa.Integer(), nullable=False),
    sa.Column('sku', sa.String(length=200), nullable=True),
    sa.Column('problems', sa.Text(), nullable=False),
    sa.Column('cells', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['import_id'], ['feed_imports.id'], name=op.f('fk_feed_rejections_import_id_feed_imports')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feed_rejections'))
    )
    with op.batch_alter_table('feed_rejections', schema=None) as batch_op:
        batch_op.create_index('ix_feed_rejections_import_id_row', ['import_id', 'row'], unique=False)

    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.add_column(sa.Column('feed_hash', sa.String(length=32), nullable=True))
        batch_op.alter_column('category',
               existing_type=sa.VARCHAR(length=80),
               type_=sa.String(length=100),
               existing_nullable=False)
        batch_op.alter_column('image_url',
               existing_type=sa.VARCHAR(length=500),
               type_=sa.String(length=2000),
               existing_nullable=True)
        batch_op.create_foreign_key(batch_op.f('fk_products_partner_id_partners'), 'partners', ['partner_id'], ['id'])



def downgrade() -> None:
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_products_partner_id_partners'), type_='foreignkey')
        batch_op.alter_column('image_url',
               existing_type=sa.String(length=2000),
               type_=sa.VARCHAR(length=500),
               existing_nullable=True)
        batch_op.alter_column('category',
               existing_type=sa.String(length=100),
               type_=sa.VARCHAR(length=80),
               existing_nullable=False)
        batch_op.drop_column('feed_hash')

    with op.batch_alter_table('feed_rejections', schema=None) as batch_op:
        batch_op.drop_index('ix_feed_rejections_import_id_row')

    op.drop_table('feed_rejections')
    with op.batch_alter_table('feed_changes', schema=None) as batch_op:
        batch_op.drop_index('ix_feed_changes_import_id_id')

    op.drop_table('feed_changes')
    with op.batch_alter_table('feed_imports', schema=None) as batch_op:
        batch_op.drop_index('ix_feed_imports_status_id')
        batch_op.drop_index(batch_op.f('ix_feed_imports_partner_id'))

    op.drop_table('feed_imports')
    with op.batch_alter_table('partner_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_partner_keys_partner_id'))

    op.drop_table('partner_keys')
    with op.batch_alter_table('partners', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_partners_next_poll_at'))

    op.drop_table('partners')
