"""Alerts and what became of them: the incident they belong to, the people they targeted, one
delivery per message (written before it is sent), the responses people gave, the automatic answers
we sent, and the escalation policies and the steps they ran."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from alerting.models.base import Base, utcnow


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
