"""notices that must be confirmed

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 19:53:23.252201
"""

from alembic import op
import sqlalchemy as sa
import models.db.types


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('notices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('must_confirm', sa.Boolean(), nullable=False, server_default=sa.false()))
    # Reports made before this revision: a case whose cadre was told to call 110 was a life at risk.
    op.execute("UPDATE notices SET must_confirm = true WHERE kind = 'at_once' AND case_id IN "
               "(SELECT case_id FROM notices WHERE kind = 'call_110')")



def downgrade() -> None:
    with op.batch_alter_table('notices', schema=None) as batch_op:
        batch_op.drop_column('must_confirm')

