"""sums over related documents (agg_sources, agg_parts) and the effects ledger (effects)

Revision ID: aggregates_effects
Revises: bus_outbox
"""
from alembic import op
import sqlalchemy as sa


revision = 'aggregates_effects'
down_revision = 'bus_outbox'
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_COUNTED = sa.text("counted = 1 AND dedup_key IS NOT NULL")


def upgrade() -> None:
    op.create_table(
        'agg_sources',
        sa.Column('ledger', sa.String(length=64), primary_key=True),
        sa.Column('source', sa.String(length=200), primary_key=True),
        sa.Column('dedup_key', sa.String(length=512), nullable=True),
        sa.Column('amount', sa.String(length=40), nullable=False),
        sa.Column('counted', sa.Integer(), nullable=False),
        sa.Column('state', sa.String(length=24), nullable=False),
        sa.Column('replaces', sa.String(length=200), nullable=True),
        sa.Column('number', sa.String(length=80), nullable=True),
        sa.Column('doc_date', sa.String(length=32), nullable=True),
        sa.Column('updated_at', _TS, nullable=False),
    )
    op.create_index('uq_agg_sources_counted_key', 'agg_sources', ['ledger', 'dedup_key'], unique=True,
                    sqlite_where=_COUNTED, postgresql_where=_COUNTED)
    op.create_table(
        'agg_parts',
        sa.Column('id', _ID, primary_key=True, autoincrement=True),
        sa.Column('ledger', sa.String(length=64), nullable=False),
        sa.Column('source', sa.String(length=200), nullable=False),
        sa.Column('target', sa.String(length=200), nullable=False),
        sa.Column('amount', sa.String(length=40), nullable=False),
    )
    op.create_index('ix_agg_parts_target', 'agg_parts', ['ledger', 'target'])
    op.create_index('ix_agg_parts_source', 'agg_parts', ['ledger', 'source'])
    op.create_table(
        'effects',
        sa.Column('key', sa.String(length=300), primary_key=True),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('remote_id', sa.String(length=64), nullable=True),
        sa.Column('data', sa.JSON(), nullable=True),
        sa.Column('created_at', _TS, nullable=False),
        sa.Column('done_at', _TS, nullable=True),
    )


def downgrade() -> None:
    op.drop_table('effects')
    op.drop_index('ix_agg_parts_source', table_name='agg_parts')
    op.drop_index('ix_agg_parts_target', table_name='agg_parts')
    op.drop_table('agg_parts')
    op.drop_index('uq_agg_sources_counted_key', table_name='agg_sources')
    op.drop_table('agg_sources')
