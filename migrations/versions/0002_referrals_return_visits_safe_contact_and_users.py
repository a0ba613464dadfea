"""referrals, return visits, safe contact and users

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 18:30:40.713128
"""

from alembic import op
import sqlalchemy as sa
import models.db.types


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=100), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('jurisdiction_code', sa.String(length=12), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=True),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', models.db.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_users_contact_id_contacts')),
    sa.ForeignKeyConstraint(['jurisdiction_code'], ['jurisdictions.code'], name=op.f('fk_users_jurisdiction_code_jurisdictions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_users_jurisdiction_code'), ['jurisdiction_code'], unique=False)

    op.create_table('incidents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('occurred_at', models.db.types.UTCDateTime(), nullable=False),
    sa.Column('risk_indicators', sa.JSON(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('assessed_level', sa.String(length=16), nullable=False),
    sa.Column('recorded_at', models.db.types.UTCDateTime(), nullable=False),
    sa.Column('recorded_by', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_incidents_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incidents'))
    )
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_incidents_case_id'), ['case_id'], unique=False)

    op.create_table('referrals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=40), nullable=False),
    sa.Column('jurisdiction_code', sa.String(length=12), nullable=False),
    sa.Column('purpose', sa.Text(), nullable=False),
    sa.Column('sent_at', models.db.types.UTCDateTime(), nullable=False),
    sa.Column('feedback_working_days', sa.Integer(), nullable=False),
    sa.Column('feedback_due_at', models.db.types.UTCDateTime(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('acknowledged_at', models.db.types.UTCDateTime(), nullable=True),
    sa.Column('acknowledged_by', sa.String(length=200), nullable=False),
    sa.Column('result_at', models.db.types.UTCDateTime(), nullable=True),
    sa.Column('result_note', sa.Text(), nullable=False),
    sa.Column('result_by', sa.String(length=200), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_referrals_case_id_cases')),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_referrals_contact_id_contacts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_referrals'))
    )
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_referrals_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_referrals_status'), ['status'], unique=False)

    op.create_table('visit_plans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('ledger', sa.String(length=16), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('started_at', models.db.types.UTCDateTime(), nullable=False),
    sa.Column('next_due_at', models.db.types.UTCDateTime(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('ended_at', models.db.types.UTCDateTime(), nullable=True),
    sa.Column('end_reason', sa.Text(), nullable=False),
    sa.Column('ended_by', sa.String(length=100), nullable=False),
    sa.Column('created_at', models.db.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_visit_plans_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_visit_plans')),
    sa.UniqueConstraint('case_id', name=op.f('uq_visit_plans_case_id'))
    )
    with op.batch_alter_table('visit_plans', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_visit_plans_next_due_at'), ['next_due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_visit_plans_status'), ['status'], unique=False)

    op.create_table('visits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('visited_at', models.db.types.UTCDateTime(), nullable=False),
    sa.Column('visited_by', sa.String(length=100), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('met_alone', sa.Boolean(), nullable=False),
    sa.Column('needs', sa.Text(), nullable=False),
    sa.Column('condition', sa.Text(), nullable=False),
    sa.Column('help_given', sa.Text(), nullable=False),
    sa.Column('next_due_at', models.db.types.UTCDateTime(), nullable=True),
    sa.Column('recorded_at', models.db.types.UTCDateTime(), nullable=False),
    sa.Column('recorded_by', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_visits_case_id_cases')),
    sa.ForeignKeyConstraint(['plan_id'], ['visit_plans.id'], name=op.f('fk_visits_plan_id_visit_plans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_visits'))
    )
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_visits_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_visits_plan_id'), ['plan_id'], unique=False)

    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rule_risk_level', sa.String(length=16), nullable=False, server_default='none'))
    # Cases taken in before this revision: the rules set the level they have now.
    op.execute("UPDATE cases SET rule_risk_level = risk_level")

    with op.batch_alter_table('notices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('acknowledged_at', models.db.types.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('acknowledged_by', sa.String(length=200), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('referral_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('visit_plan_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_notices_referral_id'), ['referral_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notices_visit_plan_id'), ['visit_plan_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_notices_visit_plan_id_visit_plans'), 'visit_plans', ['visit_plan_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_notices_referral_id_referrals'), 'referrals', ['referral_id'], ['id'])

    with op.batch_alter_table('parties', schema=None) as batch_op:
        batch_op.add_column(sa.Column('do_not_contact', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('safe_channel', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('quiet_hours', sa.String(length=11), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('parties', schema=None) as batch_op:
        batch_op.drop_column('quiet_hours')
        batch_op.drop_column('safe_channel')
        batch_op.drop_column('do_not_contact')

    with op.batch_alter_table('notices', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_notices_referral_id_referrals'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_notices_visit_plan_id_visit_plans'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_notices_visit_plan_id'))
        batch_op.drop_index(batch_op.f('ix_notices_referral_id'))
        batch_op.drop_column('visit_plan_id')
        batch_op.drop_column('referral_id')
        batch_op.drop_column('acknowledged_by')
        batch_op.drop_column('acknowledged_at')

    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_column('rule_risk_level')

    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_visits_plan_id'))
        batch_op.drop_index(batch_op.f('ix_visits_case_id'))

    op.drop_table('visits')
    with op.batch_alter_table('visit_plans', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_visit_plans_status'))
        batch_op.drop_index(batch_op.f('ix_visit_plans_next_due_at'))

    op.drop_table('visit_plans')
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_referrals_status'))
        batch_op.drop_index(batch_op.f('ix_referrals_case_id'))

    op.drop_table('referrals')
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_incidents_case_id'))

    op.drop_table('incidents')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_jurisdiction_code'))

    op.drop_table('users')
