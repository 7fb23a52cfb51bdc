"""bus outbox: every committed change, written in the transaction that commits it, for the relay to publish

Revision ID: bus_outbox
Revises: engine_write_path
"""
from alembic import op
import sqlalchemy as sa


revision = 'bus_outbox'
down_revision = 'engine_write_path'
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        'outbox',
        sa.Column('id', _ID, primary_key=True, autoincrement=True),
        sa.Column('event_id', sa.String(length=64), nullable=False),
        sa.Column('type', sa.String(length=200), nullable=False),
        sa.Column('subject', sa.String(length=300), nullable=False),
        sa.Column('entity', sa.String(length=64), nullable=False),
        sa.Column('data', sa.JSON(), nullable=False),
        sa.Column('created_at', _TS, nullable=False),
        sa.Column('published_at', _TS, nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False, server_default='0'),
        sa.UniqueConstraint('event_id', name='uq_outbox_event'),
    )
    op.create_index('ix_outbox_unpublished', 'outbox', ['published_at', 'id'])


def downgrade() -> None:
    op.drop_index('ix_outbox_unpublished', table_name='outbox')
    op.drop_table('outbox')
