"""Provider status reports (callbacks) applied to delivery rows, idempotently and never backwards."""
from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from alerting.models import Delivery, utcnow
from alerting.statuses import DELIVERY_RANK, DELIVERY_TIME_COLUMN

#: Twilio's message statuses mapped to ours ("accepted"/"scheduled" mean queued at Twilio).
TWILIO_STATUS = {
    "accepted": "queued", "scheduled": "queued", "queued": "queued", "sending": "queued",
    "sent": "sent", "delivered": "delivered", "read": "delivered",
    "undelivered": "undelivered", "failed": "failed", "canceled": "failed",
}


def apply_status(session: Session, delivery_id: int, provider_message_id: str | None, provider_status: str,
                 error_code: str | None = None) -> bool:
    """Move a delivery to the reported status if that is forward; True if anything changed.

    The row is found by our own delivery id (carried in the callback URL), and the provider's message
    id must match when both are known, so a callback cannot be replayed onto another message.
    """
    status = TWILIO_STATUS.get(provider_status.lower())
    if status is None:
        return False
    now = utcnow()
    values = {"status": status, "status_rank": DELIVERY_RANK[status], "updated_at": now,
              DELIVERY_TIME_COLUMN[status]: now}
    if error_code and status in ("undelivered", "failed"):
        values["error_code"] = error_code
    query = update(Delivery).where(Delivery.id == delivery_id, Delivery.status_rank < DELIVERY_RANK[status])
    if provider_message_id:
        query = query.where((Delivery.provider_message_id.is_(None)) |
                            (Delivery.provider_message_id == provider_message_id))
        values["provider_message_id"] = provider_message_id
    return bool(session.execute(query.values(**values)).rowcount)
