"""The database schema: the single source of truth. Redis only carries work.

Personal data (phone, email, names) lives on `recipients`; a delivery copies the address it was sent
to, because replies and provider callbacks must be matched to what was actually sent even if the
person's contact changes afterwards.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON, Boolean, DateTime, ForeignKey, Index, Integer, LargeBinary, MetaData, String, Text, UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

def utcnow() -> datetime:
    return datetime.now(timezone.utc)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: DateTime(timezone=True), dict[str, Any]: JSON, list[Any]: JSON}

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

class Incident(Base):
    """A named situation grouping its alerts: the first warning, the updates, the all-clear."""
    __tablename__ = "incidents"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(20), default="open")
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]

class Alert(Base):
    __tablename__ = "alerts"

    def text_for(self, channel: str, locale: str | None = None) -> str:
        """What this alert says on a channel, in a person's language when the alert has a translation
        for it: that language's variant for the channel, else its message; then the same in the
        alert's own language."""
        translation = (self.translations or {}).get((locale or "")[:2].lower()) if locale else None
        if translation:
            return (translation.get("variants") or {}).get(channel) or translation.get("message") or self.message
        return (self.variants or {}).get(channel) or self.message

    def title_for(self, locale: str | None = None) -> str:
        translation = (self.translations or {}).get((locale or "")[:2].lower()) if locale else None
        return (translation or {}).get("title") or self.title

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    message: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(String(20), default="severe")
    channels: Mapped[list[Any]] = mapped_column(default=list)
    target: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: While open: a code (A, B, ...) unique among open alerts, so a person with several can answer
    #: one of them ("A1" safe, "A2" help) without Tocsin guessing which.
    reply_code: Mapped[str | None] = mapped_column(String(4))
    #: Optional text per channel ({"sms": short, "email": long}); a channel without one says `message`.
    variants: Mapped[dict[str, Any]] = mapped_column(default=dict)
    drill: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20), default="draft", index=True)
    recipient_count: Mapped[int | None]
    created_by: Mapped[str] = mapped_column(String(200), default="")
    sent_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    send_requested_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]     # every recipient written and every batch enqueued
    sent_at: Mapped[datetime | None]         # every message handed over or failed for good
    cancelled_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    # Escalation (migration 0005): the name of the EscalationPolicy it follows; None: no escalation.
    policy: Mapped[str | None] = mapped_column(String(200))
    # The console (migration 0008).
    #: Other languages: {"es": {"title", "message", "variants": {channel: text}}}; a person whose
    #: locale has one gets it (see text_for), everyone else gets `message`.
    translations: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    #: When a scheduled alert goes out (status "scheduled"); workers send it then, console or not.
    scheduled_for: Mapped[datetime | None]
    #: Two-person rule: who asked for the send (status "awaiting_approval") and who approved it.
    submitted_by: Mapped[str | None] = mapped_column(String(200))
    submitted_at: Mapped[datetime | None]
    approved_by: Mapped[str | None] = mapped_column(String(200))
    approved_at: Mapped[datetime | None]
    #: A follow-up (correction, false alarm, update, all clear) names the alert it follows.
    follows_alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id", ondelete="SET NULL"))
    follow_kind: Mapped[str | None] = mapped_column(String(20))
    template_id: Mapped[int | None] = mapped_column(ForeignKey("alert_templates.id", ondelete="SET NULL"))
    #: How it was launched: "console", "api", "quick_launch:<id>", "schedule", "escalation".
    origin: Mapped[str | None] = mapped_column(String(60))
    #: The CAP message it came from or goes out as (migration 0009, alerting/cap/document.py).
    cap: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    incident: Mapped[Incident] = relationship(lazy="joined", foreign_keys=[incident_id])
    __table_args__ = (Index("ix_alerts_status_scheduled_for", "status", "scheduled_for"),)

class AlertRecipient(Base):
    """One person targeted by one alert, with their accountability state (their strongest response)."""
    __tablename__ = "alert_recipients"
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("recipients.id", ondelete="CASCADE"), primary_key=True)
    response: Mapped[str | None] = mapped_column(String(20))        # None until they answer
    response_rank: Mapped[int] = mapped_column(Integer, default=0)
    first_response_at: Mapped[datetime | None]
    last_response_at: Mapped[datetime | None]
    __table_args__ = (Index("ix_alert_recipients_alert_response", "alert_id", "response"),)

class Delivery(Base):
    """One message to one person on one channel. Written before sending (intent), updated after."""
    __tablename__ = "deliveries"
    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    recipient_id: Mapped[int] = mapped_column(ForeignKey("recipients.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(20))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    address: Mapped[str | None] = mapped_column(String(320))
    provider: Mapped[str | None] = mapped_column(String(100))
    provider_message_id: Mapped[str | None] = mapped_column(String(100), index=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    status_rank: Mapped[int] = mapped_column(Integer, default=0)
    tries: Mapped[int] = mapped_column(Integer, default=0)          # provider calls made so far
    error_code: Mapped[str | None] = mapped_column(String(50))
    error_message: Mapped[str | None] = mapped_column(Text)
    route_note: Mapped[str | None] = mapped_column(Text)  # providers tried and why it moved
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[datetime | None]
    queued_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    __table_args__ = (
        UniqueConstraint("alert_id", "recipient_id", "channel", "attempt", name="uq_deliveries_once"),
        Index("ix_deliveries_alert_status", "alert_id", "channel", "status"),
        Index("ix_deliveries_address", "channel", "address", "id"),
    )

class AutoReply(Base):
    """An automatic SMS answer we sent to a number: counted to cap them, so two systems cannot loop."""
    __tablename__ = "auto_replies"
    id: Mapped[int] = mapped_column(primary_key=True)
    address: Mapped[str] = mapped_column(String(20))
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
    __table_args__ = (Index("ix_auto_replies_address_sent_at", "address", "sent_at"),)


class Response(Base):
    """Something a person told us about an alert: a reply, a keypress, a tap. Kept even when late."""
    __tablename__ = "responses"
    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("recipients.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(20))
    raw_text: Mapped[str] = mapped_column(Text, default="")
    provider_message_id: Mapped[str | None] = mapped_column(String(100), unique=True)  # duplicate webhooks
    counted: Mapped[bool] = mapped_column(Boolean, default=True)  # False when it arrived after close
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Escalation (migration 0005): the operator who recorded it on the person's behalf, if one did.
    recorded_by: Mapped[str | None] = mapped_column(String(200))

class AuditEntry(Base):
    """Who did what, when. Append-only: the migration adds triggers that refuse UPDATE and DELETE."""
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100))
    subject_type: Mapped[str] = mapped_column(String(50), default="")
    subject_id: Mapped[str] = mapped_column(String(100), default="")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)

class ApiToken(Base):
    """A bearer token for the JSON API. Only its SHA-256 is stored."""
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class EscalationPolicy(Base):
    """How an alert reaches people who stay silent: ordered steps, then supervisors (escalation/policies.py)."""
    __tablename__ = "escalation_policies"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    steps: Mapped[list[Any]] = mapped_column(default=list)          # [{"after_s", "channels", "repeat", "every_s"}]
    final: Mapped[dict[str, Any] | None] = mapped_column(JSON)       # {"after_s", "notify", "channels"} or None
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EscalationStep(Base):
    """One executed run of a policy step for an alert. Inserted first, so a run happens at most once."""
    __tablename__ = "escalation_steps"
    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    step_index: Mapped[int] = mapped_column(Integer)     # len(policy.steps) is the final (supervisors) step
    round: Mapped[int] = mapped_column(Integer)          # 0 .. repeat-1
    scheduled_at: Mapped[datetime]
    ran_at: Mapped[datetime] = mapped_column(default=utcnow)
    people: Mapped[int] = mapped_column(Integer, default=0)  # people still silent when it ran
    notice_alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id", ondelete="SET NULL"))
    __table_args__ = (UniqueConstraint("alert_id", "step_index", "round", name="uq_escalation_steps_once"),)


class User(Base):
    """An operator of the console. Passwords are argon2 hashes; repeated failures lock the account."""
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConsoleSession(Base):
    """A signed-in browser. The cookie holds a random token; only its SHA-256 digest is stored."""
    __tablename__ = "console_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    #: A trusted console (a dispatch desk) keeps its session for weeks; others for hours.
    trusted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


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


# ---- Self-service subscription and consent (issue 10, migration 0010) ------------------------------

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
    when no row overrides them (alerting/subscriptions.py)."""
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
