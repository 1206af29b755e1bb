"""reply codes for people with several open alerts; automatic replies, to cap them per number

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""
from alembic import op
import sqlalchemy as sa

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reply_code', sa.String(length=4), nullable=True))
    op.create_table('auto_replies',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('address', sa.String(length=20), nullable=False),
                    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
                    sa.PrimaryKeyConstraint('id', name=op.f('pk_auto_replies')))
    op.create_index('ix_auto_replies_address_sent_at', 'auto_replies', ['address', 'sent_at'])


def downgrade() -> None:
    op.drop_index('ix_auto_replies_address_sent_at', table_name='auto_replies')
    op.drop_table('auto_replies')
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_column('reply_code')
