"""engine write path: one open dead letter per record and reason, worker heartbeats, named leases, observed
trigger fields, paused entities

Revision ID: engine_write_path
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = 'engine_write_path'
down_revision = '0001'
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table('dead_letters', schema=None) as b:
        b.add_column(sa.Column('record_key', sa.String(length=400), nullable=True))
        b.add_column(sa.Column('reason_key', sa.String(length=200), nullable=True))
        b.add_column(sa.Column('count', sa.Integer(), nullable=False, server_default='1'))
        b.add_column(sa.Column('last_seen_at', _TS, nullable=True))
        b.create_index('ix_dead_record', ['record_key', 'reason_key', 'resolved_at'], unique=False)
    op.create_table('workers',
                    sa.Column('owner', sa.String(length=128), nullable=False),
                    sa.Column('host', sa.String(length=200), nullable=False),
                    sa.Column('pid', sa.Integer(), nullable=False),
                    sa.Column('started_at', _TS, nullable=False),
                    sa.Column('heartbeat_at', _TS, nullable=False),
                    sa.PrimaryKeyConstraint('owner'))
    op.create_table('leases',
                    sa.Column('name', sa.String(length=200), nullable=False),
                    sa.Column('owner', sa.String(length=128), nullable=False),
                    sa.Column('until', _TS, nullable=False),
                    sa.PrimaryKeyConstraint('name'))
    op.create_table('observed',
                    sa.Column('entity', sa.String(length=64), nullable=False),
                    sa.Column('side', sa.String(length=16), nullable=False),
                    sa.Column('record_id', sa.String(length=128), nullable=False),
                    sa.Column('field', sa.String(length=200), nullable=False),
                    sa.Column('value', sa.String(length=400), nullable=True),
                    sa.Column('at', _TS, nullable=False),
                    sa.PrimaryKeyConstraint('entity', 'side', 'record_id', 'field'))
    op.create_table('entity_state',
                    sa.Column('entity', sa.String(length=64), nullable=False),
                    sa.Column('paused', sa.Boolean(), nullable=False),
                    sa.Column('reason', sa.Text(), nullable=True),
                    sa.Column('detail', sa.JSON(), nullable=True),
                    sa.Column('since', _TS, nullable=True),
                    sa.PrimaryKeyConstraint('entity'))


def downgrade() -> None:
    op.drop_table('entity_state')
    op.drop_table('observed')
    op.drop_table('leases')
    op.drop_table('workers')
    with op.batch_alter_table('dead_letters', schema=None) as b:
        b.drop_index('ix_dead_record')
        b.drop_column('last_seen_at')
        b.drop_column('count')
        b.drop_column('reason_key')
        b.drop_column('record_key')
