"""the leader lease: one service process leads the scheduler at a time

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 09:00:00.000000
"""

from alembic import op
import sqlalchemy as sa
import models.db.types


revision = '0010'
# Chained after 0008 on this branch; on merge it follows 0009.
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('leases',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('holder', sa.String(length=120), nullable=False),
    sa.Column('acquired_at', models.db.types.UTCDateTime(), nullable=False),
    sa.Column('heartbeat_at', models.db.types.UTCDateTime(), nullable=False),
    sa.Column('expires_at', models.db.types.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_leases'))
    )


def downgrade() -> None:
    op.drop_table('leases')
