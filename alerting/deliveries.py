"""Provider status reports (callbacks) applied to delivery rows, idempotently and never backwards."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from itertools import groupby
from typing import Iterable

from sqlalchemy import String, Update, bindparam, func, or_, update
from sqlalchemy.orm import Session

from alerting import telemetry
from alerting.models import Delivery, utcnow
from alerting.sql import lock_rows
from alerting.statuses import DELIVERY_RANK, DELIVERY_TIME_COLUMN

#: Twilio's message and call statuses mapped to ours ("accepted"/"scheduled" mean queued at Twilio;
#: a call that rang is "sent", one that was answered, by a person or a machine, is "delivered").
TWILIO_STATUS = {
    "accepted": "queued", "scheduled": "queued", "queued": "queued", "sending": "queued",
    "sent": "sent", "delivered": "delivered", "read": "delivered",
    "undelivered": "undelivered", "failed": "failed", "canceled": "failed",
    "initiated": "queued", "ringing": "sent", "in-progress": "delivered", "completed": "delivered",
    "busy": "busy", "no-answer": "no_answer",
}


@dataclass(frozen=True, slots=True)
class StatusReport:
    """One provider callback: our delivery id (carried in the callback URL), its message id and status."""
    delivery_id: int
    provider_message_id: str | None
    provider_status: str
    error_code: str | None = None

    @property
    def status(self) -> str | None:
        return TWILIO_STATUS.get(self.provider_status.lower())


def apply_statuses(session: Session, reports: Iterable[StatusReport]) -> int:
    """Apply many reports in one transaction; returns how many rows moved forward.

    A row moves only to a higher-ranked status, so repeated and out-of-order callbacks are harmless.
    The provider's message id must match when both are known, so a callback cannot be replayed onto
    another message. Reports are applied in rank order: within one batch, `queued, sent, delivered`
    for the same message ends at `delivered` whatever order they arrived in.
    """
    known = sorted((r for r in reports if r.status), key=lambda r: DELIVERY_RANK[r.status or ""])
    now = utcnow()
    moved = 0
    lock_rows(session, Delivery.id, sorted({r.delivery_id for r in known}))
    for status, group in groupby(known, key=lambda r: r.status):
        assert status is not None
        params = [{"did": r.delivery_id, "sid": r.provider_message_id, "code": r.error_code, "now": now}
                  for r in group]
        changed = session.connection().execute(_status_update(status), params).rowcount or 0
        telemetry.statuses_moved(status, changed)
        moved += changed
    return moved


@cache
def _status_update(status: str) -> Update:
    """The UPDATE moving rows to `status`, built once: building it per batch cost more than running it
    (measured on SQLite: 676 µs a one-report batch, 140 µs with the statement built once)."""
    sid = bindparam("sid", type_=String)  # typed: PostgreSQL cannot infer a type for `$1 IS NULL`
    now = bindparam("now")
    values = {"status": status, "status_rank": DELIVERY_RANK[status], "updated_at": now,
              DELIVERY_TIME_COLUMN[status]: now,
              # a report without a message id keeps the one already stored
              "provider_message_id": func.coalesce(sid, Delivery.provider_message_id)}
    if DELIVERY_TIME_COLUMN[status] != "queued_at":
        # A report of a later state says the provider had taken the message by then. Twilio sends
        # no callback for the initial `queued`, and a `sent` can arrive before the worker records
        # the API's answer (which then leaves a row already ahead alone): without this the row
        # would never get its queued time, and provider health could not time it.
        values["queued_at"] = func.coalesce(Delivery.queued_at, now)
    if status in ("undelivered", "failed"):
        values["error_code"] = bindparam("code")
    return (update(Delivery)
            .where(Delivery.id == bindparam("did"), Delivery.status_rank < DELIVERY_RANK[status],
                   or_(Delivery.provider_message_id.is_(None), sid.is_(None), Delivery.provider_message_id == sid))
            .values(**values))


def apply_status(session: Session, delivery_id: int, provider_message_id: str | None, provider_status: str,
                 error_code: str | None = None) -> bool:
    """Apply one report; True if the row moved forward."""
    return bool(apply_statuses(session, [StatusReport(delivery_id, provider_message_id, provider_status, error_code)]))
