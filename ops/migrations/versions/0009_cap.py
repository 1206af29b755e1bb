"""CAP 1.2: the CAP message of an alert, followed upstream feeds, CAP messages already handled

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23
"""
from alembic import op
import sqlalchemy as sa

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cap', sa.JSON(), nullable=True))
    op.create_table('cap_feeds',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('name', sa.String(length=200), nullable=False),
                    sa.Column('url', sa.String(length=2048), nullable=False),
                    sa.Column('rule', sa.JSON(), nullable=False),
                    sa.Column('interval_s', sa.Integer(), nullable=False),
                    sa.Column('created_by', sa.String(length=200), nullable=False),
                    sa.Column('created_at', TZ, nullable=False),
                    sa.Column('last_polled_at', TZ, nullable=True),
                    sa.Column('last_error', sa.Text(), nullable=True),
                    sa.PrimaryKeyConstraint('id', name=op.f('pk_cap_feeds')),
                    sa.UniqueConstraint('name', name=op.f('uq_cap_feeds_name')))
    op.create_table('cap_seen',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('feed_id', sa.Integer(), nullable=True),
                    sa.Column('sender', sa.String(length=300), nullable=False),
                    sa.Column('identifier', sa.String(length=300), nullable=False),
                    sa.Column('sent', sa.String(length=40), nullable=False),
                    sa.Column('alert_id', sa.Integer(), nullable=True),
                    sa.Column('outcome', sa.String(length=40), nullable=False),
                    sa.Column('seen_at', TZ, nullable=False),
                    sa.ForeignKeyConstraint(['feed_id'], ['cap_feeds.id'], name=op.f('fk_cap_seen_feed_id_cap_feeds'),
                                            ondelete='CASCADE'),
                    sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], name=op.f('fk_cap_seen_alert_id_alerts'),
                                            ondelete='SET NULL'),
                    sa.PrimaryKeyConstraint('id', name=op.f('pk_cap_seen')),
                    sa.UniqueConstraint('feed_id', 'sender', 'identifier', 'sent', name='uq_cap_seen_once'))
    op.create_index('ix_cap_seen_sender_identifier', 'cap_seen', ['sender', 'identifier'])


def downgrade() -> None:
    op.drop_index('ix_cap_seen_sender_identifier', table_name='cap_seen')
    op.drop_table('cap_seen')
    op.drop_table('cap_feeds')
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_column('cap')
