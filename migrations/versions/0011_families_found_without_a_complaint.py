"""families found without a complaint: a case may have no tier and no response deadline

A family found by screening or while visiting (看/听/问, 排查; domain.md §11) is stored as a
case of channel `screening` so that its visit plan, visits, reminders, audit trail, 附表3 row
and statistics are the same rows as every other family's — but it owes nobody an answer. Its
tier and response deadline are therefore NULL, not a made-up value: every query that asks
"past its deadline" (`response_due_at <= …`) leaves it out by SQL's own rules. No column is
added; on SQLite `cases` is rebuilt (batch mode) to drop the three NOT NULLs.

Downgrade refuses while such a case exists (the old columns would reject it), naming the
count; it changes nothing then.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08 09:00:00
"""

import sqlalchemy as sa
from alembic import op

import models.db.types

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

COLUMNS = (("tier", sa.String(length=16)),
           ("response_due_at", models.db.types.UTCDateTime()),
           ("response_due_date", sa.Date()))


class FoundFamiliesError(RuntimeError):
    """Cases without a deadline exist; the NOT NULL columns cannot come back."""


def _nullable(nullable: bool) -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        for name, type_ in COLUMNS:
            batch_op.alter_column(name, existing_type=type_, nullable=nullable)


def upgrade() -> None:
    _nullable(True)


def downgrade() -> None:
    count = op.get_bind().scalar(sa.text(
        "SELECT count(*) FROM cases WHERE tier IS NULL OR response_due_at IS NULL "
        "OR response_due_date IS NULL"))
    if count:
        raise FoundFamiliesError(
            f"{count} case(s) have no tier or response deadline (families found without a "
            "complaint); end or remove them before downgrading below 0011")
    _nullable(False)
