"""intake sources (POST /api/intake), their per-minute request counts, and sign-in throttling

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 09:00:00.000000
"""

from alembic import op
import sqlalchemy as sa
import models.db.types


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('intake_sources',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('jurisdiction_code', sa.String(length=12), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', models.db.types.UTCDateTime(), nullable=False),
    sa.Column('revoked_at', models.db.types.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['jurisdiction_code'], ['jurisdictions.code'],
                            name=op.f('fk_intake_sources_jurisdiction_code_jurisdictions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_intake_sources')),
    sa.UniqueConstraint('name', name=op.f('uq_intake_sources_name')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_intake_sources_token_hash'))
    )
    op.create_index(op.f('ix_intake_sources_jurisdiction_code'), 'intake_sources',
                    ['jurisdiction_code'], unique=False)
    op.create_table('api_rate_windows',
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('window_start', models.db.types.UTCDateTime(), nullable=False),
    sa.Column('requests', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['source_id'], ['intake_sources.id'],
                            name=op.f('fk_api_rate_windows_source_id_intake_sources')),
    sa.PrimaryKeyConstraint('source_id', 'window_start', name=op.f('pk_api_rate_windows'))
    )
    # A failure at `at`, a lock until `until`: the same shape, looked up by scope and key.
    for table, moment in (('signin_failures', 'at'), ('signin_locks', 'until')):
        op.create_table(table,
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('scope', sa.String(length=10), nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column(moment, models.db.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f(f'pk_{table}'))
        )
        op.create_index(f'ix_{table}_key', table, ['scope', 'key', moment], unique=False)


def downgrade() -> None:
    for table in ('signin_locks', 'signin_failures'):
        op.drop_index(f'ix_{table}_key', table_name=table)
        op.drop_table(table)
    op.drop_table('api_rate_windows')
    op.drop_index(op.f('ix_intake_sources_jurisdiction_code'), table_name='intake_sources')
    op.drop_table('intake_sources')
