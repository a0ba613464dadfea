"""status check constraints

The columns that hold a domain enumeration (a case's status, tier and risk levels, a notice's,
referral's, visit plan's and flow trigger's status, a ledger, a jurisdiction's level, a user's
role, an incident's assessed level) refuse any other value: a CHECK constraint named
`ck_<table>_<column>`, as `models.db.types.enum_of` declares it. The values are written out
here, not imported: a migration stays what it was when the enums change (a new value is a
new migration).

Existing rows are checked first; if any hold a value outside its list, the upgrade stops and
names table, column, value and count, changing nothing — fix those rows, then upgrade again.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 10:00:00
"""

from itertools import groupby

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

RISK_LEVELS = ("critical", "high", "elevated", "focus", "none")
CHECKS = (  # (table, column, allowed values), grouped by table
    ("jurisdictions", "level", ("province", "city", "county", "township", "village")),
    ("cases", "tier", ("simple", "ordinary", "complex", "difficult")),
    ("cases", "status", ("accepted", "investigating", "handling", "closed", "visiting")),
    ("cases", "risk_level", RISK_LEVELS),
    ("cases", "rule_risk_level", RISK_LEVELS),
    ("cases", "pause_reason", ("awaiting_upper_level", "awaiting_department",
                               "victim_unreachable", "victim_requested_delay",
                               "awaiting_appraisal")),
    ("notices", "status", ("queued", "sending", "sent", "failed", "cancelled")),
    ("referrals", "status", ("open", "acknowledged", "resulted", "withdrawn")),
    ("visit_plans", "ledger", ("high_risk", "focus")),
    ("visit_plans", "status", ("active", "ended")),
    ("incidents", "assessed_level", RISK_LEVELS),
    ("users", "role", ("cadre", "supervisor", "operator", "admin")),
    ("flow_triggers", "status", ("pending", "running", "done")),
)


class StatusValueError(RuntimeError):
    """Rows hold values the new constraints would refuse; nothing was changed."""


def _name(table: str, column: str) -> str:
    return f"ck_{table}_{column}"


def _condition(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _violations() -> list[str]:
    bind = op.get_bind()
    found = []
    for table, column, values in CHECKS:
        col = sa.column(column)
        rows = bind.execute(sa.select(col, sa.func.count()).select_from(sa.table(table))
                            .where(col.is_not(None), col.not_in(values))
                            .group_by(col).order_by(col)).all()
        found += [f"{table}.{column} = {value!r}: {count} row(s) (allowed: {', '.join(values)})"
                  for value, count in rows]
    return found


def upgrade() -> None:
    bad = _violations()
    if bad:
        raise StatusValueError("migration 0004 stopped, nothing changed — rows hold values "
                               "outside their enumeration:\n  " + "\n  ".join(bad))
    for table, checks in groupby(CHECKS, key=lambda check: check[0]):
        # SQLite cannot add a constraint to a table: batch mode rebuilds the table with it.
        with op.batch_alter_table(table, schema=None) as batch_op:
            for _, column, values in checks:
                batch_op.create_check_constraint(op.f(_name(table, column)),
                                                 _condition(column, values))


def downgrade() -> None:
    for table, checks in groupby(CHECKS, key=lambda check: check[0]):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for _, column, _values in checks:
                batch_op.drop_constraint(op.f(_name(table, column)), type_="check")
