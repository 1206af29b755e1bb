"""consent: versioned consent texts, contacts and their append-only consent log, SMS keywords,
self-subscribed people, pending confirmations (keyword YES, SMS codes, email links)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23

`consent_log` and `consent_texts` are append-only, like `audit_log`: triggers refuse UPDATE and
DELETE on SQLite and PostgreSQL.
"""
from alembic import op
import sqlalchemy as sa

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)
APPEND_ONLY = ("consent_log", "consent_texts")


def upgrade() -> None:
    op.create_table('consent_texts',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('version', sa.String(length=40), nullable=False),
                    sa.Column('locale', sa.String(length=20), nullable=False),
                    sa.Column('text', sa.Text(), nullable=False),
                    sa.Column('created_at', TZ, nullable=False),
                    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_texts')),
                    sa.UniqueConstraint('version', 'locale', name='uq_consent_texts_version_locale'))
    op.create_table('consent_contacts',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('channel', sa.String(length=20), nullable=False),
                    sa.Column('address', sa.String(length=320), nullable=True),
                    sa.Column('address_hash', sa.String(length=64), nullable=False),
                    sa.Column('recipient_id', sa.Integer(), nullable=True),
                    sa.Column('status', sa.String(length=20), nullable=False),
                    sa.Column('authority', sa.String(length=20), nullable=False),
                    sa.Column('updated_at', TZ, nullable=False),
                    sa.ForeignKeyConstraint(['recipient_id'], ['recipients.id'],
                                            name=op.f('fk_consent_contacts_recipient_id_recipients'),
                                            ondelete='SET NULL'),
                    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_contacts')),
                    sa.UniqueConstraint('channel', 'address_hash', name='uq_consent_contacts_channel_hash'))
    op.create_index(op.f('ix_consent_contacts_recipient_id'), 'consent_contacts', ['recipient_id'])
    op.create_index('ix_consent_contacts_channel_address', 'consent_contacts', ['channel', 'address'])
    op.create_table('consent_log',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('at', TZ, nullable=False),
                    sa.Column('contact_id', sa.Integer(), nullable=True),
                    sa.Column('channel', sa.String(length=20), nullable=False),
                    sa.Column('address_hash', sa.String(length=64), nullable=True),
                    sa.Column('action', sa.String(length=20), nullable=False),
                    sa.Column('method', sa.String(length=20), nullable=False),
                    sa.Column('authority', sa.String(length=20), nullable=False),
                    sa.Column('text_version', sa.String(length=40), nullable=True),
                    sa.Column('locale', sa.String(length=20), nullable=False),
                    sa.Column('actor', sa.String(length=200), nullable=False),
                    sa.Column('details', sa.JSON(), nullable=False),
                    sa.ForeignKeyConstraint(['contact_id'], ['consent_contacts.id'],
                                            name=op.f('fk_consent_log_contact_id_consent_contacts')),
                    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_log')))
    op.create_index(op.f('ix_consent_log_at'), 'consent_log', ['at'])
    op.create_index(op.f('ix_consent_log_contact_id'), 'consent_log', ['contact_id'])
    op.create_table('sms_keywords',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('keyword', sa.String(length=40), nullable=False),
                    sa.Column('action', sa.String(length=20), nullable=False),
                    sa.Column('locale', sa.String(length=20), nullable=False),
                    sa.Column('zones', sa.JSON(), nullable=False),
                    sa.Column('reply', sa.Text(), nullable=True),
                    sa.Column('updated_at', TZ, nullable=False),
                    sa.PrimaryKeyConstraint('id', name=op.f('pk_sms_keywords')),
                    sa.UniqueConstraint('keyword', name=op.f('uq_sms_keywords_keyword')))
    op.create_table('subscribers',
                    sa.Column('recipient_id', sa.Integer(), nullable=False),
                    sa.Column('source', sa.String(length=20), nullable=False),
                    sa.Column('zones', sa.JSON(), nullable=False),
                    sa.Column('created_at', TZ, nullable=False),
                    sa.Column('updated_at', TZ, nullable=False),
                    sa.ForeignKeyConstraint(['recipient_id'], ['recipients.id'],
                                            name=op.f('fk_subscribers_recipient_id_recipients'), ondelete='CASCADE'),
                    sa.PrimaryKeyConstraint('recipient_id', name=op.f('pk_subscribers')))
    op.create_table('subscription_requests',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('kind', sa.String(length=20), nullable=False),
                    sa.Column('address', sa.String(length=320), nullable=True),
                    sa.Column('address_hash', sa.String(length=64), nullable=False),
                    sa.Column('code_hash', sa.String(length=64), nullable=True),
                    sa.Column('payload', sa.JSON(), nullable=False),
                    sa.Column('attempts', sa.Integer(), nullable=False),
                    sa.Column('created_at', TZ, nullable=False),
                    sa.Column('expires_at', TZ, nullable=False),
                    sa.Column('used_at', TZ, nullable=True),
                    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscription_requests')))
    op.create_index('ix_subscription_requests_kind_hash', 'subscription_requests',
                    ['kind', 'address_hash', 'created_at'])
    for table in APPEND_ONLY:
        _protect(table)


def downgrade() -> None:
    for table in APPEND_ONLY:
        _unprotect(table)
    op.drop_table('subscription_requests')
    op.drop_table('subscribers')
    op.drop_table('sms_keywords')
    op.drop_table('consent_log')
    op.drop_table('consent_contacts')
    op.drop_table('consent_texts')


def _protect(table: str) -> None:
    """Refuse UPDATE and DELETE on `table`, as 0001 does for audit_log."""
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                       f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END")
    elif dialect == "postgresql":
        op.execute(f"CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS "
                   f"$$ BEGIN RAISE EXCEPTION '{table} is append-only'; END $$")
        op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()")


def _unprotect(table: str) -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
    elif dialect == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS {table}_append_only()")
