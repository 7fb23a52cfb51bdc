"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-23 15:12:11.130231
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Generated from store/models.py by alembic autogenerate, then reviewed.
    op.create_table('conflicts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('entity', sa.String(length=64), nullable=False),
    sa.Column('crm_id', sa.String(length=128), nullable=True),
    sa.Column('erp_id', sa.String(length=128), nullable=True),
    sa.Column('field', sa.String(length=200), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('conflicts', schema=None) as batch_op:
        batch_op.create_index('ix_conflicts_open', ['entity', 'resolved_at'], unique=False)

    op.create_table('cursors',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('value', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('dead_letters',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('entity', sa.String(length=64), nullable=False),
    sa.Column('lane', sa.String(length=300), nullable=False),
    sa.Column('job_kind', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('error_type', sa.String(length=128), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolution', sa.String(length=32), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('dead_letters', schema=None) as batch_op:
        batch_op.create_index('ix_dead_lane', ['lane'], unique=False)
        batch_op.create_index('ix_dead_open', ['entity', 'resolved_at'], unique=False)

    op.create_table('fingerprints',
    sa.Column('entity', sa.String(length=64), nullable=False),
    sa.Column('side', sa.String(length=16), nullable=False),
    sa.Column('record_id', sa.String(length=128), nullable=False),
    sa.Column('read_hash', sa.String(length=64), nullable=True),
    sa.Column('written_hash', sa.String(length=64), nullable=True),
    sa.Column('written_values', sa.JSON(), nullable=True),
    sa.Column('version', sa.String(length=128), nullable=True),
    sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('written_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('entity', 'side', 'record_id')
    )
    op.create_table('history',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('job_id', sa.BigInteger(), nullable=True),
    sa.Column('entity', sa.String(length=64), nullable=False),
    sa.Column('lane', sa.String(length=300), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('target', sa.String(length=64), nullable=True),
    sa.Column('target_id', sa.String(length=128), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('duration_ms', sa.Integer(), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('history', schema=None) as batch_op:
        batch_op.create_index('ix_history_entity_at', ['entity', 'at'], unique=False)
        batch_op.create_index('ix_history_lane', ['lane', 'id'], unique=False)

    op.create_table('inbox',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('delivery_id', sa.String(length=300), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source', 'delivery_id', name='uq_inbox_delivery')
    )
    op.create_table('jobs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('lane', sa.String(length=300), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('entity', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('dedup_key', sa.String(length=400), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('run_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lease_owner', sa.String(length=128), nullable=True),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.create_index('ix_jobs_dedup', ['dedup_key', 'state'], unique=False)
        batch_op.create_index('ix_jobs_entity', ['entity', 'state'], unique=False)
        batch_op.create_index('ix_jobs_lane', ['lane', 'id'], unique=False)
        batch_op.create_index('ix_jobs_ready', ['state', 'run_at'], unique=False)

    op.create_table('kv',
    sa.Column('key', sa.String(length=300), nullable=False),
    sa.Column('value', sa.JSON(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('links',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('entity', sa.String(length=64), nullable=False),
    sa.Column('crm_id', sa.String(length=128), nullable=True),
    sa.Column('erp_id', sa.String(length=128), nullable=True),
    sa.Column('match_key', sa.String(length=512), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('entity', 'crm_id', name='uq_links_entity_crm'),
    sa.UniqueConstraint('entity', 'erp_id', name='uq_links_entity_erp'),
    sa.UniqueConstraint('entity', 'match_key', name='uq_links_entity_key')
    )
    op.create_table('write_intents',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('entity', sa.String(length=64), nullable=False),
    sa.Column('side', sa.String(length=16), nullable=False),
    sa.Column('op', sa.String(length=16), nullable=False),
    sa.Column('natural_key', sa.String(length=400), nullable=False),
    sa.Column('job_id', sa.BigInteger(), nullable=True),
    sa.Column('remote_id', sa.String(length=128), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('write_intents', schema=None) as batch_op:
        batch_op.create_index('ix_intents_open', ['entity', 'side', 'natural_key', 'resolved_at'], unique=False)



def downgrade() -> None:
    # Generated from store/models.py by alembic autogenerate, then reviewed.
    with op.batch_alter_table('write_intents', schema=None) as batch_op:
        batch_op.drop_index('ix_intents_open')

    op.drop_table('write_intents')
    op.drop_table('links')
    op.drop_table('kv')
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_jobs_ready')
        batch_op.drop_index('ix_jobs_lane')
        batch_op.drop_index('ix_jobs_entity')
        batch_op.drop_index('ix_jobs_dedup')

    op.drop_table('jobs')
    op.drop_table('inbox')
    with op.batch_alter_table('history', schema=None) as batch_op:
        batch_op.drop_index('ix_history_lane')
        batch_op.drop_index('ix_history_entity_at')

    op.drop_table('history')
    op.drop_table('fingerprints')
    with op.batch_alter_table('dead_letters', schema=None) as batch_op:
        batch_op.drop_index('ix_dead_open')
        batch_op.drop_index('ix_dead_lane')

    op.drop_table('dead_letters')
    op.drop_table('cursors')
    with op.batch_alter_table('conflicts', schema=None) as batch_op:
        batch_op.drop_index('ix_conflicts_open')

    op.drop_table('conflicts')
