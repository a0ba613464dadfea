"""case imports: a batch intake (weiquan intake --batch) and the one flow run it is owed

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 09:00:00.000000
"""

from alembic import op
import sqlalchemy as sa
import models.db.types


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('case_imports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('stored', sa.Integer(), nullable=False),
    sa.Column('known', sa.Integer(), nullable=False),
    sa.Column('refused', sa.Integer(), nullable=False),
    sa.Column('created_at', models.db.types.UTCDateTime(), nullable=False),
    sa.Column('finished_at', models.db.types.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_imports'))
    )
    # SQLite: a plain ADD COLUMN … REFERENCES (a batch re-create of `cases` would drop the table
    # its children reference); PostgreSQL: the column, then its constraint.
    for table in ('cases', 'flow_triggers'):
        if op.get_bind().dialect.name == 'sqlite':
            op.execute(f'ALTER TABLE {table} ADD COLUMN import_id INTEGER '
                       f'REFERENCES case_imports (id)')
        else:
            op.add_column(table, sa.Column('import_id', sa.Integer(), nullable=True))
            op.create_foreign_key(f'fk_{table}_import_id_case_imports', table, 'case_imports',
                                  ['import_id'], ['id'])
    op.create_index(op.f('ix_cases_import_id'), 'cases', ['import_id'], unique=False)
    op.create_index(op.f('ix_flow_triggers_import_id'), 'flow_triggers', ['import_id'],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_flow_triggers_import_id'), table_name='flow_triggers')
    op.drop_index(op.f('ix_cases_import_id'), table_name='cases')
    for table in ('flow_triggers', 'cases'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('import_id')
    op.drop_table('case_imports')
