"""The states things move through, as `str` enums so they read well in JSON and SQL."""
from __future__ import annotations

from enum import StrEnum


class AlertStatus(StrEnum):
    DRAFT = "draft"          # composed, not sent; may be edited
    SCHEDULED = "scheduled"  # to be sent at `scheduled_for` by the workers; may be edited or cancelled
    AWAITING_APPROVAL = "awaiting_approval"  # two-person rule: a second operator must approve the send
    SENDING = "sending"      # send requested: recipients being resolved and messages handed over
    SENT = "sent"            # every message handed to a provider (or failed for good)
    CANCELLED = "cancelled"  # stopped by an operator; nothing more is sent
    CLOSED = "closed"        # incident over; the report is frozen


#: Alerts whose recipients' replies still count.
OPEN_ALERT_STATUSES = (AlertStatus.SENDING, AlertStatus.SENT)


class DeliveryStatus(StrEnum):
    PENDING = "pending"          # intent recorded, job enqueued, not yet claimed by a worker
    SENDING = "sending"          # claimed by a worker; the provider may or may not have it
    QUEUED = "queued"            # the provider accepted it
    SENT = "sent"                # the provider handed it to the carrier
    DELIVERED = "delivered"      # the handset has it
    UNDELIVERED = "undelivered"  # the carrier could not deliver it
    FAILED = "failed"            # never left: rejected by the provider, or retries exhausted
    BUSY = "busy"                # voice: the line was busy
    NO_ANSWER = "no_answer"      # voice: nobody picked up
    BOUNCED = "bounced"          # email: the receiving server refused it
    CANCELLED = "cancelled"      # not sent because the alert was cancelled first


#: A status only ever moves to a higher rank, so late or repeated provider callbacks cannot
#: move a message backwards (Twilio retries callbacks and may deliver them out of order).
DELIVERY_RANK: dict[str, int] = {
    DeliveryStatus.PENDING: 0,
    DeliveryStatus.SENDING: 1,
    DeliveryStatus.QUEUED: 2,
    DeliveryStatus.SENT: 3,
    DeliveryStatus.DELIVERED: 4,
    DeliveryStatus.UNDELIVERED: 4,
    DeliveryStatus.FAILED: 4,
    DeliveryStatus.CANCELLED: 4,
    DeliveryStatus.BUSY: 4,
    DeliveryStatus.NO_ANSWER: 4,
    DeliveryStatus.BOUNCED: 4,
}

#: The timestamp column each provider-reported status stamps on the delivery row.
DELIVERY_TIME_COLUMN: dict[str, str] = {
    DeliveryStatus.QUEUED: "queued_at",
    DeliveryStatus.SENT: "sent_at",
    DeliveryStatus.DELIVERED: "delivered_at",
    DeliveryStatus.UNDELIVERED: "failed_at",
    DeliveryStatus.FAILED: "failed_at",
    DeliveryStatus.BUSY: "failed_at",
    DeliveryStatus.NO_ANSWER: "failed_at",
    DeliveryStatus.BOUNCED: "failed_at",
}


class ResponseKind(StrEnum):
    SAFE = "safe"
    NEED_HELP = "need_help"
    ACKNOWLEDGED = "acknowledged"


#: How a person's state for an alert is decided from their responses: the highest rank wins, so a
#: later "need help" is never hidden by an earlier "safe", and a stray text never undoes "safe".
RESPONSE_RANK: dict[str, int] = {
    ResponseKind.ACKNOWLEDGED: 1,
    ResponseKind.SAFE: 2,
    ResponseKind.NEED_HELP: 3,
}

NO_RESPONSE = "no_response"


class Channel(StrEnum):
    SMS = "sms"
    VOICE = "voice"
    PUSH = "push"
    EMAIL = "email"


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    VIEWER = "viewer"


#: Each role may do what the roles after it may do.
ROLE_RANK = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}


class Severity(StrEnum):
    """CAP 1.2 severities, so alerts export to CAP without translation."""
    EXTREME = "extreme"
    SEVERE = "severe"
    MODERATE = "moderate"
    MINOR = "minor"
    UNKNOWN = "unknown"
