"""Self-service subscription and consent (issue 10, migration 0010): the consent texts, each
contact's consent and its append-only log, the organisation's SMS keywords, the people who
subscribed themselves and the confirmations they owe."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from alerting.models.base import Base, utcnow


class ConsentText(Base):
    """The exact words a person agreed to, versioned. Append-only: a changed text is a new version."""
    __tablename__ = "consent_texts"
    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[str] = mapped_column(String(40))
    locale: Mapped[str] = mapped_column(String(20), default="en")
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    __table_args__ = (UniqueConstraint("version", "locale", name="uq_consent_texts_version_locale"),)


class ConsentContact(Base):
    """One contact (a channel and an address) and its consent now; the history is in `consent_log`.

    `address_hash` (keyed HMAC) is what the log refers to; erasing a person blanks `address` and
    keeps the hash, so the proof of consent survives without the number."""
    __tablename__ = "consent_contacts"
    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    address: Mapped[str | None] = mapped_column(String(320))
    address_hash: Mapped[str] = mapped_column(String(64))
    recipient_id: Mapped[int | None] = mapped_column(ForeignKey("recipients.id", ondelete="SET NULL"), index=True)
    status: Mapped[str] = mapped_column(String(20))         # "granted", "withdrawn"
    authority: Mapped[str] = mapped_column(String(20))      # "person", "organisation"
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    __table_args__ = (UniqueConstraint("channel", "address_hash", name="uq_consent_contacts_channel_hash"),
                      Index("ix_consent_contacts_channel_address", "channel", "address"))


class ConsentEvent(Base):
    """Consent given, confirmed or withdrawn, how and under which text. Append-only (triggers)."""
    __tablename__ = "consent_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("consent_contacts.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    address_hash: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(20))          # "opt_in", "opt_out", "requested"
    method: Mapped[str] = mapped_column(String(20))          # "keyword", "web", "import", "api"
    authority: Mapped[str] = mapped_column(String(20))       # "person", "organisation"
    text_version: Mapped[str | None] = mapped_column(String(40))
    locale: Mapped[str] = mapped_column(String(20), default="en")
    actor: Mapped[str] = mapped_column(String(200), default="")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)  # never personal data


class SmsKeyword(Base):
    """An organisation's SMS keyword: JOIN-like (with zones), YES, HELP, STOP, START; built-ins apply
    when no row overrides them (alerting/sms_keywords.py)."""
    __tablename__ = "sms_keywords"
    id: Mapped[int] = mapped_column(primary_key=True)
    keyword: Mapped[str] = mapped_column(String(40), unique=True)   # normalised: "NORTHSIDE", "10001"
    action: Mapped[str] = mapped_column(String(20))                 # "join", "confirm", "help", "stop", "start"
    locale: Mapped[str] = mapped_column(String(20), default="en")
    zones: Mapped[list[Any]] = mapped_column(default=list)          # zone names a join subscribes to
    reply: Mapped[str | None] = mapped_column(Text)                 # replaces the built-in answer
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Subscriber(Base):
    """A recipient who subscribed themselves (keyword or web): messaged only with their consent."""
    __tablename__ = "subscribers"
    recipient_id: Mapped[int] = mapped_column(ForeignKey("recipients.id", ondelete="CASCADE"), primary_key=True)
    source: Mapped[str] = mapped_column(String(20))                 # "keyword", "web"
    zones: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class SubscriptionRequest(Base):
    """Something waiting for a person's confirmation: a JOIN awaiting YES, a code sent by SMS, an
    email link. Single-use (`used_at`), expiring; rows per address also serve as its rate limit."""
    __tablename__ = "subscription_requests"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))                   # "sms_join", "phone_code", "email_link"
    address: Mapped[str | None] = mapped_column(String(320))
    address_hash: Mapped[str] = mapped_column(String(64))
    code_hash: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    __table_args__ = (Index("ix_subscription_requests_kind_hash", "kind", "address_hash", "created_at"),)
