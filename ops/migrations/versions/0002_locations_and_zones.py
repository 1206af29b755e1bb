"""locations and zones

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('zones',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('area', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_zones')),
    sa.UniqueConstraint('name', name=op.f('uq_zones_name'))
    )
    op.create_table('recipient_locations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recipient_id', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(length=50), nullable=False),
    sa.Column('lat', sa.Double(), nullable=False),
    sa.Column('lon', sa.Double(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['recipient_id'], ['recipients.id'], name=op.f('fk_recipient_locations_recipient_id_recipients'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recipient_locations')),
    sa.UniqueConstraint('recipient_id', 'label', name='uq_recipient_locations_label')
    )
    with op.batch_alter_table('recipient_locations', schema=None) as batch_op:
        batch_op.create_index('ix_recipient_locations_lat_lon', ['lat', 'lon'], unique=False)
        batch_op.create_index(batch_op.f('ix_recipient_locations_recipient_id'), ['recipient_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('recipient_locations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recipient_locations_recipient_id'))
        batch_op.drop_index('ix_recipient_locations_lat_lon')

    op.drop_table('recipient_locations')
    op.drop_table('zones')
