"""imports: CSV imports of people run in the background, with their progress and per-row report

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23

The uploaded file waits in `body` (a BLOB on SQLite, bytea on PostgreSQL) until the import ends.
"""
from alembic import op
import sqlalchemy as sa

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table('imports',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('status', sa.String(length=20), nullable=False),
                    sa.Column('filename', sa.String(length=300), nullable=False),
                    sa.Column('body', sa.LargeBinary(), nullable=True),
                    sa.Column('create_groups', sa.Boolean(), nullable=False),
                    sa.Column('total', sa.Integer(), nullable=False),
                    sa.Column('done', sa.Integer(), nullable=False),
                    sa.Column('created', sa.Integer(), nullable=False),
                    sa.Column('updated', sa.Integer(), nullable=False),
                    sa.Column('rejected', sa.Integer(), nullable=False),
                    sa.Column('errors', sa.JSON(), nullable=False),
                    sa.Column('created_groups', sa.JSON(), nullable=False),
                    sa.Column('message', sa.Text(), nullable=False),
                    sa.Column('created_by', sa.String(length=200), nullable=False),
                    sa.Column('created_at', TZ, nullable=False),
                    sa.Column('started_at', TZ, nullable=True),
                    sa.Column('finished_at', TZ, nullable=True),
                    sa.PrimaryKeyConstraint('id', name=op.f('pk_imports')))


def downgrade() -> None:
    op.drop_table('imports')
