"""casework records: mediations, verifications, not accepted, the visit after closing, DV
protective measures (domain.md §11), and the case status 不予受理 (not_accepted)

New tables only, plus one changed CHECK: `cases.status` takes `not_accepted`. On SQLite a
constraint cannot be altered in place, so `cases` is rebuilt for that one change (batch mode,
foreign keys off around it: migrations/env.py); no column is added to it. The enumerations'
values are written out here, not imported, so the migration stays what it was.

Downgrade refuses while a case is not_accepted (the old constraint would reject it), naming
the count; it changes nothing then.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 09:00:00
"""

import sqlalchemy as sa
from alembic import op

import models.db.types

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

OLD_STATUSES = ("accepted", "investigating", "handling", "closed", "visiting")
NEW_STATUSES = (*OLD_STATUSES, "not_accepted")


def _check(column: str, values: tuple[str, ...], *, table: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(f"{column} IN ({', '.join(repr(v) for v in values)})",
                              name=op.f(f"ck_{table}_{column}"))


def _status_check(values: tuple[str, ...]) -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_cases_status'), type_='check')
        batch_op.create_check_constraint(op.f('ck_cases_status'),
                                         f"status IN ({', '.join(repr(v) for v in values)})")


def _recorded() -> list[sa.Column]:
    return [sa.Column('recorded_at', models.db.types.UTCDateTime(), nullable=False),
            sa.Column('recorded_by', sa.String(length=100), nullable=False)]


def _case_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f(f'fk_{table}_case_id_cases'))


def upgrade() -> None:
    _status_check(NEW_STATUSES)
    op.create_table(
        'mediations',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('held_on', sa.Date(), nullable=False),
        sa.Column('mediator_contact_id', sa.Integer(), nullable=True),
        sa.Column('mediator_name', sa.String(length=200), nullable=False),
        sa.Column('outcome', sa.String(length=16), nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        *_recorded(),
        _case_fk('mediations'),
        sa.ForeignKeyConstraint(['mediator_contact_id'], ['contacts.id'],
                                name=op.f('fk_mediations_mediator_contact_id_contacts')),
        _check('outcome', ('success', 'partial', 'failed'), table='mediations'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_mediations')))
    op.create_index(op.f('ix_mediations_case_id'), 'mediations', ['case_id'])
    op.create_table(
        'verifications',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('verified_at', models.db.types.UTCDateTime(), nullable=False),
        sa.Column('method', sa.String(length=16), nullable=False),
        sa.Column('with_whom', sa.String(length=200), nullable=False),
        sa.Column('findings', sa.Text(), nullable=False),
        sa.Column('veracity', sa.String(length=16), nullable=False),
        sa.Column('reasonableness', sa.String(length=20), nullable=False),
        *_recorded(),
        _case_fk('verifications'),
        _check('method', ('visit', 'phone', 'interview', 'documents', 'other'),
               table='verifications'),
        _check('veracity', ('true', 'partly_true', 'untrue'), table='verifications'),
        _check('reasonableness', ('reasonable', 'partly_reasonable', 'unreasonable'),
               table='verifications'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_verifications')))
    op.create_index(op.f('ix_verifications_case_id'), 'verifications', ['case_id'])
    op.create_table(
        'case_rejections',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('redirected_to', sa.String(length=200), nullable=False),
        sa.Column('rejected_at', models.db.types.UTCDateTime(), nullable=False),
        sa.Column('recorded_by', sa.String(length=100), nullable=False),
        _case_fk('case_rejections'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_case_rejections')),
        sa.UniqueConstraint('case_id', name=op.f('uq_case_rejections_case_id')))
    op.create_table(
        'follow_ups',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('due_at', models.db.types.UTCDateTime(), nullable=False),
        sa.Column('visited_at', models.db.types.UTCDateTime(), nullable=True),
        sa.Column('visited_by', sa.String(length=100), nullable=False),
        sa.Column('outcome', sa.Text(), nullable=False),
        sa.Column('satisfaction', sa.String(length=20), nullable=True),
        sa.Column('created_at', models.db.types.UTCDateTime(), nullable=False),
        sa.Column('recorded_at', models.db.types.UTCDateTime(), nullable=True),
        sa.Column('recorded_by', sa.String(length=100), nullable=False),
        _case_fk('follow_ups'),
        _check('satisfaction', ('satisfied', 'mostly_satisfied', 'dissatisfied'),
               table='follow_ups'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_follow_ups')),
        sa.UniqueConstraint('case_id', name=op.f('uq_follow_ups_case_id')))
    op.create_index(op.f('ix_follow_ups_due_at'), 'follow_ups', ['due_at'])
    op.create_table(
        'protective_measures',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('on_date', sa.Date(), nullable=False),
        sa.Column('until_date', sa.Date(), nullable=True),
        sa.Column('issuer', sa.String(length=200), nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        *_recorded(),
        _case_fk('protective_measures'),
        _check('kind', ('warning_letter', 'injury_appraisal', 'protection_order', 'shelter'),
               table='protective_measures'),
        _check('status', ('issued', 'requested', 'done', 'applied', 'granted', 'refused',
                          'placed'), table='protective_measures'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_protective_measures')))
    op.create_index(op.f('ix_protective_measures_case_id'), 'protective_measures', ['case_id'])


class NotAcceptedCasesError(RuntimeError):
    """Cases hold the status the old constraint refuses; nothing was changed."""


def downgrade() -> None:
    count = op.get_bind().execute(sa.text(
        "SELECT count(*) FROM cases WHERE status = 'not_accepted'")).scalar()
    if count:
        raise NotAcceptedCasesError(
            f"migration 0007 downgrade stopped, nothing changed — {count} case(s) are "
            "not_accepted, which revision 0006 cannot hold")
    op.drop_index(op.f('ix_protective_measures_case_id'), table_name='protective_measures')
    op.drop_table('protective_measures')
    op.drop_index(op.f('ix_follow_ups_due_at'), table_name='follow_ups')
    op.drop_table('follow_ups')
    op.drop_table('case_rejections')
    op.drop_index(op.f('ix_verifications_case_id'), table_name='verifications')
    op.drop_table('verifications')
    op.drop_index(op.f('ix_mediations_case_id'), table_name='mediations')
    op.drop_table('mediations')
    _status_check(OLD_STATUSES)
