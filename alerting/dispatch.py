"""Sending an alert: from "send" pressed to every message enqueued, streaming.

    request_send   (web)     draft -> sending, once, whoever presses send and however often
                             (scheduled and approved sends: alerting/launching.py)
    dispatch_alert (worker)  resolve recipients chunk by chunk; per chunk write the people and one
                             pending delivery per channel, commit, then enqueue the chunk's send jobs
    sending.send_batch       (worker) claim, send, record; see alerting/sending.py

Every write is idempotent (INSERT ... ON CONFLICT DO NOTHING on the natural keys), so a dispatch
that dies half-way is simply run again: it resumes without doubling anyone. Messages are written as
intent ("pending") before any job can see them; the database, not Redis, says what remains to send.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Iterator, Protocol, Sequence

import numpy as np
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from alerting import audit, incidents, targeting
from alerting import consent
from alerting.alerts import get_alert
from alerting.errors import Conflict, ValidationError
from alerting.models import Alert, AlertRecipient, Delivery, OptOut, PushSubscription, utcnow
from alerting.sql import insert_columns_ignoring_duplicates, insert_ignoring_duplicates, serialize
from alerting.statuses import OPEN_ALERT_STATUSES, AlertStatus, Channel, DeliveryStatus
from alerting.targeting import TargetRow


class Enqueuer(Protocol):
    """Where the core hands work to workers (RQ in production, see ops/queues.py)."""

    def enqueue_dispatch(self, alert_id: int, *, urgent: bool) -> None: ...

    def enqueue_sends(self, alert_id: int, channel: str, batches: Sequence[Sequence[int]], *, urgent: bool) -> None: ...


def is_urgent(alert: Alert) -> bool:
    """Real alerts go to the urgent queue; drills never delay them."""
    return not alert.drill


def request_send(session: Session, alert_id: int, *, actor: str, from_status: str = AlertStatus.DRAFT,
                 scheduled_for: datetime | None = None, sent_by: str | None = None,
                 **stamp: Any) -> tuple[Alert, bool]:
    """Mark an alert as sending. Returns (alert, started); a repeated press starts nothing new.

    Usually from a draft; alerting/launching.py also starts an approved alert (`from_status`
    awaiting_approval, `stamp` = approved_by/approved_at) and a due scheduled one (`from_status`
    scheduled, only while it is still scheduled for exactly `scheduled_for`). `sent_by` is who asked
    for the send when it is not `actor` (the operator who scheduled it)."""
    alert = get_alert(session, alert_id)
    if alert.status in (AlertStatus.SENDING, AlertStatus.SENT):
        return alert, False
    if alert.status != from_status:
        raise Conflict(f"alert {alert.id} is {alert.status} and cannot be sent")
    if not targeting.reaches_anyone(session, alert.target):
        raise ValidationError("the target reaches no one: no recipient is in its groups or areas", field="target")
    now = utcnow()
    where = [Alert.id == alert.id, Alert.status == from_status]
    if scheduled_for is not None:
        where.append(Alert.scheduled_for == scheduled_for)
    # Compare-and-set: of two operators pressing send at once, exactly one update matches.
    changed = session.execute(update(Alert).where(*where)
                              .values(status=AlertStatus.SENDING, send_requested_at=now, sent_by=sent_by or actor,
                                      reply_code=free_reply_code(session), **stamp)).rowcount
    session.refresh(alert)
    if not changed:
        return alert, False
    extra = {"requested_by": sent_by} if sent_by and sent_by != actor else {}
    audit.record(session, actor, "alert.send", "alert", alert.id, channels=alert.channels, drill=alert.drill, **extra)
    return alert, True


def _codes() -> "Iterator[str]":
    letters = [chr(c) for c in range(ord("A"), ord("Z") + 1)]
    yield from letters
    yield from (a + b for a in letters for b in letters)


def free_reply_code(session: Session) -> str:
    """The first code (A, B, ..., Z, AA, ...) no open alert holds; freed when an alert closes.

    Two alerts sent at once must not both pick the same code: the choice is serialised, and the
    lock is held until the caller's transaction (which takes the code) commits."""
    serialize(session, "tocsin.reply_code")
    used = set(session.scalars(select(Alert.reply_code).where(Alert.status.in_(OPEN_ALERT_STATUSES),
                                                              Alert.reply_code.is_not(None))))
    return next(code for code in _codes() if code not in used)


def address_for(row: TargetRow, channel: str, push: dict[int, int]) -> str | None:
    """Where a channel reaches this person: a phone, an email address, or their newest push subscription."""
    if channel in (Channel.SMS, Channel.VOICE):
        return row.phone
    if channel == Channel.EMAIL:
        return row.email
    if channel == Channel.PUSH and row.id in push:
        return str(push[row.id])
    return None


def push_subscriptions_of(session: Session, recipient_ids: list[int]) -> dict[int, int]:
    """Each person's newest push subscription still in use, by recipient id."""
    return dict(session.execute(select(PushSubscription.recipient_id, func.max(PushSubscription.id)).where(
        PushSubscription.recipient_id.in_(recipient_ids), PushSubscription.gone_at.is_(None))
        .group_by(PushSubscription.recipient_id)).all())


#: People in an alert's first send job: small, so the first messages leave while the rest is written.
FIRST_BATCH = 100


def dispatch_alert(sessions: sessionmaker[Session], enqueuer: Enqueuer, alert_id: int, *,
                   chunk_size: int, batch_size: int) -> int:
    """Resolve, record and enqueue an alert's messages; returns the number of people reached.

    The target is resolved to ids once (integers: cheap even for a million people); contact
    details are then read, written and enqueued chunk by chunk, so sending starts at once. A
    target of groups or named people sends its first batch even before that (its lowest ids,
    `targeting.first_ids`): reading 100,000 ids takes a few hundred milliseconds.
    """
    with sessions.begin() as session:
        alert = get_alert(session, alert_id)
        if alert.status != AlertStatus.SENDING:
            return 0
        channels, urgent = list(alert.channels), is_urgent(alert)
        target = alert.target
        first = targeting.first_ids(session, target, min(batch_size, FIRST_BATCH))

    def record_and_enqueue(chunk: np.ndarray) -> None:
        with sessions.begin() as session:
            rows = targeting.rows_for(session, chunk)
            pending = _record_chunk(session, alert_id, channels, rows) if rows else {}
        # Enqueued only after the commit, so a worker always finds the rows it is given.
        for channel, delivery_ids in pending.items():
            batches = [delivery_ids[i:i + batch_size] for i in range(0, len(delivery_ids), batch_size)]
            enqueuer.enqueue_sends(alert_id, channel, batches, urgent=urgent)

    # The first messages leave as soon as possible: one batch first, taken from the target's lowest
    # ids before the whole target is read when the target allows it (targeting.first_ids).
    if first is not None and first.size:
        record_and_enqueue(first)
    with sessions.begin() as session:
        ids = targeting.resolve(session, target)
    if first is not None:
        ids = np.setdiff1d(ids, first, assume_unique=True)  # whatever the target became meanwhile
    start, size = 0, chunk_size if first is not None else min(chunk_size, batch_size, FIRST_BATCH)
    while start < len(ids):
        record_and_enqueue(ids[start:start + size])
        start, size = start + size, chunk_size
    with sessions.begin() as session:
        lock_for_finish(session, alert_id)
        total = session.scalar(select(func.count()).select_from(AlertRecipient)
                               .where(AlertRecipient.alert_id == alert_id)) or 0
        session.execute(update(Alert).where(Alert.id == alert_id)
                        .values(recipient_count=total, resolved_at=utcnow()))
        finish_if_done(session, alert_id)
    return total


#: Addresses per IN (...) list: SQLite and PostgreSQL both limit the parameters of one statement.
ADDRESS_CHUNK = 5000


def write_pending(session: Session, alert_id: int, channel: str, rows: Sequence[TargetRow], push: dict[int, int],
                  *, attempts: dict[int, int]) -> None:
    """Write one pending delivery on `channel` for each person with an address there who has not
    opted out (suppression is decided here, for first sends and escalations alike). A person's
    attempt is `attempts[id] + 1` (1 for a first send); an existing row is never doubled."""
    addressed = [(r, a) for r in rows if (a := address_for(r, channel, push))]
    if not addressed:
        return
    addresses = sorted({a for _, a in addressed})
    opted_out: set[str] = set()
    for start in range(0, len(addresses), ADDRESS_CHUNK):
        opted_out.update(session.scalars(select(OptOut.address).where(
            OptOut.channel == channel, OptOut.address.in_(addresses[start:start + ADDRESS_CHUNK]))))
    # Self-subscribed people are messaged only with their consent on this channel (alerting/consent.py).
    opted_out |= consent.unconsented(session, channel, [(r.id, a) for r, a in addressed])
    now = utcnow()
    insert_columns_ignoring_duplicates(
        session, Delivery.__table__,
        {"alert_id": alert_id, "channel": channel, "status": DeliveryStatus.PENDING.value, "status_rank": 0,
         "tries": 0, "created_at": now, "updated_at": now},
        ("recipient_id", "attempt", "address"),
        [(r.id, attempts.get(r.id, 0) + 1, a) for r, a in addressed if a not in opted_out])


def _record_chunk(session: Session, alert_id: int, channels: list[str], rows: list[TargetRow]) -> dict[str, list[int]]:
    carried = incidents.earlier_answers(session, alert_id, [r.id for r in rows])
    # People who answered an earlier alert of the incident carry that answer (few rows, one by one);
    # everyone else starts with none (one set-based statement; the carried rows are kept).
    insert_ignoring_duplicates(session, AlertRecipient.__table__, [
        {"alert_id": alert_id, "recipient_id": rid, **answer} for rid, answer in carried.items()])
    insert_columns_ignoring_duplicates(session, AlertRecipient.__table__, {"alert_id": alert_id, "response_rank": 0},
                                       ("recipient_id",), [(r.id,) for r in rows])
    push = push_subscriptions_of(session, [r.id for r in rows]) if Channel.PUSH in channels else {}
    for channel in channels:
        write_pending(session, alert_id, channel, rows, push, attempts={})
    pending: dict[str, list[int]] = {}
    for channel, delivery_id in session.connection().execute(
            select(Delivery.channel, Delivery.id).where(
                Delivery.alert_id == alert_id, Delivery.status == DeliveryStatus.PENDING,
                Delivery.recipient_id.between(rows[0].id, rows[-1].id)).order_by(Delivery.id)):
        pending.setdefault(channel, []).append(delivery_id)
    return pending


def lock_for_finish(session: Session, alert_id: int) -> None:
    """Hold the alert's finishing lock until the transaction ends; take it before touching the alert's row.

    The dispatch and each batch end by asking "does anything still wait? then the alert is sent",
    each from what is committed. On PostgreSQL the last two at once would each see the other's rows
    still in flight, and neither would mark the alert sent; taken in turn, the later one sees all.
    """
    serialize(session, f"tocsin.finish.{alert_id}")


def finish_if_done(session: Session, alert_id: int) -> bool:
    """sending -> sent once every recipient is resolved and no message waits or is in flight."""
    alert = session.get(Alert, alert_id)
    if alert is None or alert.status != AlertStatus.SENDING or alert.resolved_at is None:
        return False
    in_flight = session.scalar(select(Delivery.id).where(
        Delivery.alert_id == alert_id, Delivery.status_rank < 2).limit(1))
    if in_flight is not None:
        return False
    session.execute(update(Alert).where(Alert.id == alert_id, Alert.status == AlertStatus.SENDING)
                    .values(status=AlertStatus.SENT, sent_at=utcnow()))
    return True


def pending_by_channel(session: Session, alert_id: int, untouched_since: datetime | None = None) -> dict[str, list[int]]:
    """An alert's messages waiting to be sent, by channel, in id order; with `untouched_since`, only
    those unchanged since then (what the sweep hands out again: alerting/sweep.py)."""
    query = select(Delivery.channel, Delivery.id).where(
        Delivery.alert_id == alert_id, Delivery.status == DeliveryStatus.PENDING,
        Delivery.channel.in_([c.value for c in Channel]))
    if untouched_since is not None:
        query = query.where(Delivery.updated_at < untouched_since)
    pending: dict[str, list[int]] = {}
    for channel, delivery_id in session.connection().execute(query.order_by(Delivery.id)):
        pending.setdefault(channel, []).append(delivery_id)
    return pending


def pending_batches(session: Session, alert_id: int, batch_size: int) -> dict[str, list[list[int]]]:
    """Every message of an alert still waiting to be sent, as batches: what a reconciler re-enqueues."""
    pending = pending_by_channel(session, alert_id)
    return {c: [ids[i:i + batch_size] for i in range(0, len(ids), batch_size)] for c, ids in pending.items()}
