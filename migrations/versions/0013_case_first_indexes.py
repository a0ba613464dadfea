"""the planner's batch reads found by case: sent at-once reports (a partial index), referrals
and visit plans by case and status together

The planner reads, for each batch of a few hundred cases, their sent at-once reports to be
confirmed, referrals awaiting feedback and active visit plans. With an index on case_id alone
beside one on status, SQLite chose the status index (it cannot tell how many ids the list
holds) and read every sent notice of the database for every batch: a cost that grows with
the outbox's history, not with the batch. The sent at-once reports get a partial index of
their own (those rows only: a small tree, whatever the outbox's size).

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 12:50:00.000000
"""

import sqlalchemy as sa
from alembic import op


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

# as models/db/orm.py writes it then (a migration keeps its own copy)
SENT_AT_ONCE = sa.text("kind = 'at_once' AND must_confirm AND status = 'sent'")


def upgrade() -> None:
    with op.batch_alter_table('notices', schema=None) as batch_op:
        batch_op.create_index('ix_notices_sent_at_once', ['case_id'], unique=False,
                              sqlite_where=SENT_AT_ONCE, postgresql_where=SENT_AT_ONCE)
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.create_index('ix_referrals_case_status', ['case_id', 'status'], unique=False)
        batch_op.drop_index(batch_op.f('ix_referrals_case_id'))
    with op.batch_alter_table('visit_plans', schema=None) as batch_op:
        batch_op.create_index('ix_visit_plans_case_status', ['case_id', 'status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('visit_plans', schema=None) as batch_op:
        batch_op.drop_index('ix_visit_plans_case_status')
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_referrals_case_id'), ['case_id'], unique=False)
        batch_op.drop_index('ix_referrals_case_status')
    with op.batch_alter_table('notices', schema=None) as batch_op:
        batch_op.drop_index('ix_notices_sent_at_once')
