"""held records waiting for a related record's link (hold_waits)

Revision ID: hold_waits
Revises: aggregates_effects
"""
from alembic import op
import sqlalchemy as sa


revision = 'hold_waits'
down_revision = 'aggregates_effects'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        'hold_waits',
        sa.Column('id', _ID, primary_key=True, autoincrement=True),
        sa.Column('dead_letter_id', _ID, nullable=False),
        sa.Column('wait_key', sa.String(length=400), nullable=False),
    )
    op.create_index('ix_hold_waits_key', 'hold_waits', ['wait_key'])
    op.create_index('ix_hold_waits_letter', 'hold_waits', ['dead_letter_id'])


def downgrade() -> None:
    op.drop_index('ix_hold_waits_letter', table_name='hold_waits')
    op.drop_index('ix_hold_waits_key', table_name='hold_waits')
    op.drop_table('hold_waits')
