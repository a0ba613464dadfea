"""附表2: the helpers' work log typed by a cadre (a new table only)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 09:00:00
"""

import sqlalchemy as sa
from alembic import op

import models.db.types

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'helper_work',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('contact_id', sa.Integer(), nullable=False),
        sa.Column('worked_on', sa.Date(), nullable=False),
        sa.Column('work', sa.Text(), nullable=False),
        sa.Column('recorded_at', models.db.types.UTCDateTime(), nullable=False),
        sa.Column('recorded_by', sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'],
                                name=op.f('fk_helper_work_contact_id_contacts')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_helper_work')))
    op.create_index(op.f('ix_helper_work_contact_id'), 'helper_work', ['contact_id'])


def downgrade() -> None:
    op.drop_index(op.f('ix_helper_work_contact_id'), table_name='helper_work')
    op.drop_table('helper_work')
