"""outbox: send order (priority) and lease holders

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 10:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('notices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('priority', sa.Integer(), nullable=False, server_default='2'))
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=100), nullable=False,
                                      server_default=''))
        batch_op.create_index('ix_notices_claim', ['status', 'priority', 'next_attempt_at'],
                              unique=False)
    # Rows stored before this revision get the priority the kinds table gives them now
    # (written out: a migration must not change when the table does).
    op.execute("UPDATE notices SET priority = 0 WHERE kind = 'call_110' "
               "OR (kind = 'at_once' AND must_confirm = true)")
    op.execute("UPDATE notices SET priority = 1 WHERE priority = 2 AND kind IN "
               "('at_once', 'routing_gap', 'at_once_again', 'phone_unconfirmed')")
    op.execute("UPDATE notices SET priority = 3 WHERE kind IN ('cadre_digest', 'supervisor_digest')")


def downgrade() -> None:
    with op.batch_alter_table('notices', schema=None) as batch_op:
        batch_op.drop_index('ix_notices_claim')
        batch_op.drop_column('claimed_by')
        batch_op.drop_column('priority')
