"""the console: operators and their sessions, alert templates, quick launches; scheduled, approved
and follow-up alerts, translations

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23
"""
from alembic import op
import sqlalchemy as sa

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table('users',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('email', sa.String(length=320), nullable=False),
                    sa.Column('name', sa.String(length=200), nullable=False),
                    sa.Column('password_hash', sa.String(length=200), nullable=False),
                    sa.Column('role', sa.String(length=20), nullable=False),
                    sa.Column('failed_logins', sa.Integer(), nullable=False),
                    sa.Column('locked_until', TZ, nullable=True),
                    sa.Column('disabled_at', TZ, nullable=True),
                    sa.Column('last_login_at', TZ, nullable=True),
                    sa.Column('created_at', TZ, nullable=False),
                    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
                    sa.UniqueConstraint('email', name=op.f('uq_users_email')))
    op.create_table('console_sessions',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('token_hash', sa.String(length=64), nullable=False),
                    sa.Column('user_id', sa.Integer(), nullable=False),
                    sa.Column('csrf_token', sa.String(length=64), nullable=False),
                    sa.Column('trusted', sa.Boolean(), nullable=False),
                    sa.Column('created_at', TZ, nullable=False),
                    sa.Column('last_seen_at', TZ, nullable=False),
                    sa.Column('expires_at', TZ, nullable=False),
                    sa.Column('revoked_at', TZ, nullable=True),
                    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_console_sessions_user_id_users'),
                                            ondelete='CASCADE'),
                    sa.PrimaryKeyConstraint('id', name=op.f('pk_console_sessions')),
                    sa.UniqueConstraint('token_hash', name=op.f('uq_console_sessions_token_hash')))
    op.create_index(op.f('ix_console_sessions_user_id'), 'console_sessions', ['user_id'])
    op.create_table('alert_templates',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('name', sa.String(length=200), nullable=False),
                    sa.Column('description', sa.Text(), nullable=False),
                    sa.Column('title', sa.String(length=300), nullable=False),
                    sa.Column('message', sa.Text(), nullable=False),
                    sa.Column('variants', sa.JSON(), nullable=False),
                    sa.Column('translations', sa.JSON(), nullable=False),
                    sa.Column('channels', sa.JSON(), nullable=False),
                    sa.Column('severity', sa.String(length=20), nullable=False),
                    sa.Column('target', sa.JSON(), nullable=True),
                    sa.Column('policy', sa.String(length=200), nullable=True),
                    sa.Column('created_by', sa.String(length=200), nullable=False),
                    sa.Column('created_at', TZ, nullable=False),
                    sa.Column('updated_at', TZ, nullable=False),
                    sa.Column('archived_at', TZ, nullable=True),
                    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_templates')),
                    sa.UniqueConstraint('name', name=op.f('uq_alert_templates_name')))
    op.create_table('quick_launches',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('name', sa.String(length=200), nullable=False),
                    sa.Column('token_hash', sa.String(length=64), nullable=False),
                    sa.Column('template_id', sa.Integer(), nullable=False),
                    sa.Column('target', sa.JSON(), nullable=False),
                    sa.Column('channels', sa.JSON(), nullable=True),
                    sa.Column('policy', sa.String(length=200), nullable=True),
                    sa.Column('values', sa.JSON(), nullable=False),
                    sa.Column('drill', sa.Boolean(), nullable=False),
                    sa.Column('skip_approval', sa.Boolean(), nullable=False),
                    sa.Column('created_by', sa.String(length=200), nullable=False),
                    sa.Column('created_at', TZ, nullable=False),
                    sa.Column('last_used_at', TZ, nullable=True),
                    sa.Column('revoked_at', TZ, nullable=True),
                    sa.ForeignKeyConstraint(['template_id'], ['alert_templates.id'],
                                            name=op.f('fk_quick_launches_template_id_alert_templates')),
                    sa.PrimaryKeyConstraint('id', name=op.f('pk_quick_launches')),
                    sa.UniqueConstraint('name', name=op.f('uq_quick_launches_name')),
                    sa.UniqueConstraint('token_hash', name=op.f('uq_quick_launches_token_hash')))
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('translations', sa.JSON(), nullable=False, server_default='{}'))
        batch_op.add_column(sa.Column('scheduled_for', TZ, nullable=True))
        batch_op.add_column(sa.Column('submitted_by', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('submitted_at', TZ, nullable=True))
        batch_op.add_column(sa.Column('approved_by', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('approved_at', TZ, nullable=True))
        batch_op.add_column(sa.Column('follows_alert_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('follow_kind', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('template_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('origin', sa.String(length=60), nullable=True))
        batch_op.create_foreign_key(op.f('fk_alerts_follows_alert_id_alerts'), 'alerts', ['follows_alert_id'], ['id'],
                                    ondelete='SET NULL')
        batch_op.create_foreign_key(op.f('fk_alerts_template_id_alert_templates'), 'alert_templates', ['template_id'],
                                    ['id'], ondelete='SET NULL')
    op.create_index('ix_alerts_status_scheduled_for', 'alerts', ['status', 'scheduled_for'])


def downgrade() -> None:
    op.drop_index('ix_alerts_status_scheduled_for', table_name='alerts')
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('fk_alerts_template_id_alert_templates'), type_='foreignkey')
        batch_op.drop_constraint(op.f('fk_alerts_follows_alert_id_alerts'), type_='foreignkey')
        for column in ('origin', 'template_id', 'follow_kind', 'follows_alert_id', 'approved_at', 'approved_by',
                       'submitted_at', 'submitted_by', 'scheduled_for', 'translations'):
            batch_op.drop_column(column)
    op.drop_table('quick_launches')
    op.drop_table('alert_templates')
    op.drop_index(op.f('ix_console_sessions_user_id'), table_name='console_sessions')
    op.drop_table('console_sessions')
    op.drop_table('users')
