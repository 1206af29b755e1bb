"""The directory: people, their groups, places and zones, their browsers (Web Push), the addresses
that asked not to be messaged, and the console's CSV imports of people.

Personal data (phone, email, names) lives on `recipients`; a delivery copies the address it was sent
to (alerting/models/alerts.py), because replies and provider callbacks must be matched to what was
actually sent even if the person's contact changes afterwards.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from alerting.models.base import Base, utcnow


class Group(Base):
    __tablename__ = "groups"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RecipientGroup(Base):
    __tablename__ = "recipient_groups"
    recipient_id: Mapped[int] = mapped_column(ForeignKey("recipients.id", ondelete="CASCADE"), primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True)
    __table_args__ = (Index("ix_recipient_groups_group", "group_id", "recipient_id"),)


class Recipient(Base):
    __tablename__ = "recipients"
    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(300), default="")
    phone: Mapped[str | None] = mapped_column(String(20), index=True)  # E.164
    email: Mapped[str | None] = mapped_column(String(320))
    locale: Mapped[str] = mapped_column(String(20), default="en")
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    groups: Mapped[list[Group]] = relationship(secondary="recipient_groups", lazy="selectin")
    locations: Mapped[list["RecipientLocation"]] = relationship(lazy="selectin", order_by="RecipientLocation.id",
                                                                cascade="all, delete-orphan")


class RecipientLocation(Base):
    """A place where a person may be: home, work, a dormitory, the last position their phone shared."""
    __tablename__ = "recipient_locations"
    id: Mapped[int] = mapped_column(primary_key=True)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("recipients.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(50), default="home")
    lat: Mapped[float]
    lon: Mapped[float]
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    __table_args__ = (Index("ix_recipient_locations_lat_lon", "lat", "lon"),
                      UniqueConstraint("recipient_id", "label", name="uq_recipient_locations_label"))


class Zone(Base):
    """A named, reusable area (Building 12, the river district), stored as a target's geographic part."""
    __tablename__ = "zones"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    area: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"geometry": ...} or {"circle": ...} or CAP
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PushSubscription(Base):
    """A browser that agreed to receive this person's alerts (a Web Push subscription)."""
    __tablename__ = "push_subscriptions"
    id: Mapped[int] = mapped_column(primary_key=True)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("recipients.id", ondelete="CASCADE"), index=True)
    endpoint: Mapped[str] = mapped_column(String(2048), unique=True)
    p256dh: Mapped[str] = mapped_column(String(200))
    auth: Mapped[str] = mapped_column(String(100))
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    gone_at: Mapped[datetime | None]  # the push service answered 404/410: never used again


class OptOut(Base):
    """A contact address that asked not to be messaged on a channel (SMS STOP). Suppressed at send time."""
    __tablename__ = "opt_outs"
    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(320))
    source: Mapped[str] = mapped_column(String(50))  # "sms-keyword", "api", ...
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    __table_args__ = (UniqueConstraint("channel", "address", name="uq_opt_outs_channel_address"),)


class PeopleImport(Base):
    """A CSV of people the console imports in the background (alerting/imports.py).

    The file's bytes wait here, not in memory or Redis, so any worker can take the job and one that
    dies leaves it resumable: `done` counts the file's records already committed, in the same
    transaction as the people themselves. The bytes are dropped once the import ends.
    """
    __tablename__ = "imports"
    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(20), default="queued")  # queued, running, done, failed
    filename: Mapped[str] = mapped_column(String(300), default="")
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    create_groups: Mapped[bool] = mapped_column(Boolean, default=False)
    total: Mapped[int] = mapped_column(Integer, default=0)      # records in the file (0 until read)
    done: Mapped[int] = mapped_column(Integer, default=0)       # records handled, good or rejected
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[list[Any]] = mapped_column(default=list)     # RowError.as_dict() of each rejected row
    created_groups: Mapped[list[Any]] = mapped_column(default=list)
    message: Mapped[str] = mapped_column(Text, default="")      # why a whole file failed
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
