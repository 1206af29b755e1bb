"""Where alerts come from besides the compose form: templates, quick launches (a template behind a
secret URL) and followed CAP feeds, with every CAP message handled once."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from alerting.models.base import Base, utcnow


class AlertTemplate(Base):
    """A ready alert ("Shelter in place") with `{placeholders}` the operator or each person fills."""
    __tablename__ = "alert_templates"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    title: Mapped[str] = mapped_column(String(300))
    message: Mapped[str] = mapped_column(Text)
    variants: Mapped[dict[str, Any]] = mapped_column(default=dict)       # {channel: text}
    translations: Mapped[dict[str, Any]] = mapped_column(default=dict)   # {lang: {title, message, variants}}
    channels: Mapped[list[Any]] = mapped_column(default=list)
    severity: Mapped[str] = mapped_column(String(20), default="severe")
    target: Mapped[dict[str, Any] | None] = mapped_column(JSON)           # default target, or None
    policy: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    archived_at: Mapped[datetime | None]


class QuickLaunch(Base):
    """A template bound to a target and policy behind a secret URL: one step from a panic button."""
    __tablename__ = "quick_launches"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("alert_templates.id"))
    target: Mapped[dict[str, Any]] = mapped_column(default=dict)
    channels: Mapped[list[Any] | None] = mapped_column(JSON)             # None: the template's
    policy: Mapped[str | None] = mapped_column(String(200))
    values: Mapped[dict[str, Any]] = mapped_column(default=dict)         # placeholder values
    drill: Mapped[bool] = mapped_column(Boolean, default=False)
    #: A live launch that does not wait for a second operator (a panic button nobody can wait on).
    skip_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class CapFeed(Base):
    """An upstream CAP Atom/RSS feed we follow, with the rule for what its alerts become."""
    __tablename__ = "cap_feeds"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    url: Mapped[str] = mapped_column(String(2048))
    #: {"events": [..], "min_severity": "severe", "action": "draft"|"send", "template_id", "policy",
    #:  "channels": [..]}: see alerting/cap/feeds.py.
    rule: Mapped[dict[str, Any]] = mapped_column(default=dict)
    interval_s: Mapped[int] = mapped_column(Integer, default=60)
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_polled_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class CapSeen(Base):
    """A CAP message handled once: inserted before it is acted on (a feed's duplicate is skipped).
    Imports by hand have no feed; every row names the alert it became, for Update/Cancel links."""
    __tablename__ = "cap_seen"
    id: Mapped[int] = mapped_column(primary_key=True)
    feed_id: Mapped[int | None] = mapped_column(ForeignKey("cap_feeds.id", ondelete="CASCADE"))
    sender: Mapped[str] = mapped_column(String(300))
    identifier: Mapped[str] = mapped_column(String(300))
    sent: Mapped[str] = mapped_column(String(40))  # ISO 8601 in UTC, so equal instants compare equal
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id", ondelete="SET NULL"))
    outcome: Mapped[str] = mapped_column(String(40), default="")
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    __table_args__ = (UniqueConstraint("feed_id", "sender", "identifier", "sent", name="uq_cap_seen_once"),
                      Index("ix_cap_seen_sender_identifier", "sender", "identifier"))
