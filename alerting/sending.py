"""Sending one batch of deliveries: claim, send concurrently, record. Runs inside a worker job.

Delivery guarantee (at-least-once, with a small duplicate window):
1. Claim: one UPDATE moves the batch's rows from `pending` to `sending`. Only rows this job moved
   are sent, so two jobs holding the same ids (a re-enqueue after Redis loss) never both send.
2. Send: each message goes to the provider; its status callback URL carries the delivery id.
3. Record: one transaction writes every receipt (retried for about a minute if the database is
   unreachable). Transient failures go back to `pending` and the job raises `RetryLater`, so RQ
   runs it again after a wait; permanent failures are final.
A worker killed between 2 and 3 leaves rows in `sending`: the provider may or may not have those
messages. That is the duplicate window. A provider callback for such a row (the URL carries the
delivery id) moves it on. The next worker to start hands the dead worker's job back
(ops/recovery.py): after a short grace for callbacks, `release_claims` returns the rows still
`sending` to `pending` and they are sent again. `requeue_stale` (at start-up, claims older than
`older_than`) catches the rest, e.g. a worker on a machine that never came back. At-least-once: a
duplicate only if the provider took it and neither the worker nor any callback said so in time.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Protocol, Sequence

from sqlalchemy import Integer, String, Text, bindparam, case, literal, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from alerting import dispatch, telemetry
from alerting.compose import Claimed, compose
from alerting.links import LinkSigner
from alerting.models import Alert, Delivery, OptOut, PushSubscription, utcnow
from alerting.sql import insert_ignoring_duplicates, lock_rows, rows_parameter
from alerting.statuses import DELIVERY_RANK, AlertStatus, Channel, DeliveryStatus
from channels.base import ChannelAdapter, Outbound, Outcome, Receipt

#: Provider error codes meaning the person has opted out at the carrier: suppress the address.
OPTED_OUT_CODES = {"21610"}
#: Provider codes saying the address itself is unusable: 21211 invalid number, 21214 unreachable,
#: 21614 not a mobile number (SMS), 21217 not a valid phone number (voice); 5xx from a mail server
#: (a bounce). The address is suppressed on that channel so later alerts do not try it again; it
#: stays suppressed until the contact is corrected (a new address is not suppressed).
UNUSABLE_ADDRESS_CODES = {Channel.SMS: {"21211", "21214", "21614"}, Channel.VOICE: {"21211", "21214", "21217"}}
#: A push service's answer that the subscription no longer exists: never use it again.
PUSH_GONE_CODES = {"404", "410"}


class BatchSender(Protocol):
    """Sends a batch on a channel and waits for every receipt (ops keeps adapters and their
    connections alive across batches, on one event loop per worker process)."""

    def send(self, channel: str, messages: list[Outbound]) -> list[Receipt]: ...


class RetryLater(Exception):
    """Some messages failed transiently and are pending again; the job should be retried."""


@dataclass(frozen=True)
class SendOptions:
    public_url: str
    org_name: str
    concurrency: int
    max_tries: int
    signer: LinkSigner


def claim(session: Session, delivery_ids: Sequence[int]) -> list[Claimed]:
    """Move pending rows to `sending`; returns the rows this caller now owns."""
    now = utcnow()
    rows = session.execute(
        update(Delivery).where(Delivery.id.in_(list(delivery_ids)), Delivery.status == DeliveryStatus.PENDING)
        .values(status=DeliveryStatus.SENDING, status_rank=DELIVERY_RANK[DeliveryStatus.SENDING],
                claimed_at=now, updated_at=now, tries=Delivery.tries + 1)
        .returning(Delivery.id, Delivery.address, Delivery.tries, Delivery.recipient_id)).all()
    return [Claimed(*r) for r in rows]


async def send_concurrently(adapter: ChannelAdapter, messages: list[Outbound], concurrency: int) -> list[Receipt]:
    """Send with at most `concurrency` provider calls in flight; receipts in the messages' order.
    Each call's time is recorded (alerting/telemetry.py) by channel and the provider that answered.

    `concurrency` lanes each take the next message as soon as their last one is answered, rather
    than a task per message behind a semaphore: a batch of 1,000 at 350 in flight then costs 350
    tasks, not 1,000 tasks and 650 waits on a semaphore (a twentieth of a worker's CPU per SMS at 0 ms latency)."""
    receipts: list[Receipt | None] = [None] * len(messages)
    queue = iter(enumerate(messages))
    channel = adapter.channel

    async def lane() -> None:
        for index, message in queue:
            started = time.perf_counter()
            receipt = receipts[index] = await adapter.send(message)
            telemetry.send_latency(channel, receipt.provider, time.perf_counter() - started)

    lanes = min(concurrency, len(messages))
    if lanes == 1:
        await lane()
    else:
        await asyncio.gather(*(lane() for _ in range(lanes)))
    return receipts  # type: ignore[return-value]  # every lane ran to the end: none is None


def send_batch(sessions: sessionmaker[Session], sender: BatchSender, options: SendOptions, alert_id: int, channel: str, delivery_ids: Sequence[int]) -> dict[str, int]:
    """Send the batch's pending deliveries; returns counts by outcome. Raises RetryLater if needed."""
    with sessions.begin() as session:
        alert = session.get(Alert, alert_id)
        if alert is None:
            return {}
        if alert.status not in (AlertStatus.SENDING, AlertStatus.SENT):
            _cancel(session, delivery_ids)
            return {"cancelled": len(delivery_ids)}
        owned = claim(session, delivery_ids)
        if not owned:
            return {}
        messages = compose(session, channel, alert, owned, public_url=options.public_url,
                           org_name=options.org_name, signer=options.signer)
    receipts = sender.send(channel, messages)
    tries = {c.id: c.tries for c in owned}
    addresses = {c.id: c.address for c in owned}

    def record(session: Session) -> dict[str, int]:
        counts = record_receipts(session, channel, receipts, tries, addresses, options.max_tries)
        dispatch.lock_for_finish(session, alert_id)
        if not anything_waits(session, alert_id):
            dispatch.finish_if_done(session, alert_id)
        return counts

    counts = _record_retrying(sessions, record)
    if counts.get("retry"):
        raise RetryLater(f"{counts['retry']} of {len(receipts)} messages failed transiently")
    return counts


def anything_waits(session: Session, alert_id: int) -> bool:
    """Whether a message of the alert is still pending or in flight: a few seeks on the
    (alert_id, channel, status) index. Every batch asks; the rank test of `finish_if_done` would
    walk all of the alert's delivered rows each time once most are delivered (quadratic in N)."""
    return session.scalar(select(Delivery.id).where(
        Delivery.alert_id == alert_id, Delivery.channel.in_([c.value for c in Channel]),
        Delivery.status.in_([DeliveryStatus.PENDING.value, DeliveryStatus.SENDING.value])).limit(1)) is not None


#: Waits between tries to record receipts while the database is unreachable (about a minute in all).
RECORD_RETRY_WAITS_S = (0.5, 1, 2, 4, 8, 15, 30)


def _record_retrying(sessions: sessionmaker[Session], write: Callable[[Session], dict[str, int]]) -> dict[str, int]:
    """Record receipts, riding out a database outage: the messages are already with the provider,
    and a job that gave up here would leave them `sending` (to be sent again much later)."""
    for wait in RECORD_RETRY_WAITS_S:
        try:
            with sessions.begin() as session:
                return write(session)
        except OperationalError:
            time.sleep(wait)
    with sessions.begin() as session:
        return write(session)


def record_receipts(session: Session, channel: str, receipts: list[Receipt], tries: dict[int, int],
                    addresses: dict[int, str | None], max_tries: int) -> dict[str, int]:
    now = utcnow()
    accepted, retry, failed = [], [], []
    for r in receipts:
        params = {"did": r.key, "provider": r.provider, "sid": r.provider_message_id,
                  "code": r.error_code, "error": r.error_message, "now": now, "note": r.note}
        if r.outcome == Outcome.ACCEPTED:
            accepted.append(params)
        elif r.outcome == Outcome.TRANSIENT and tries[r.key] < max_tries:
            retry.append(params)
        else:
            if r.outcome == Outcome.TRANSIENT:
                params["error"] = f"gave up after {tries[r.key]} tries: {r.error_message or r.error_code}"
            # A mail server refusing an address for good (5xx) is a bounce.
            bounced = channel == Channel.EMAIL and r.outcome == Outcome.PERMANENT and (r.error_code or "").startswith("5")
            params["status"] = DeliveryStatus.BOUNCED if bounced else DeliveryStatus.FAILED
            failed.append(params)
    lock_rows(session, Delivery.id, [r.key for r in receipts])
    conn = session.connection()
    if accepted:
        # A status callback may already have moved the row further (it carries the delivery id):
        # the rank guard keeps the later state, and the provider and message id are stored either way.
        # One statement per batch, the receipts joined as one parameter (UPDATE ... FROM): every SET
        # sees the row as it was, so the guard holds for all three.
        behind = Delivery.status_rank < DELIVERY_RANK[DeliveryStatus.QUEUED]
        receipt = rows_parameter(session, {"did": Integer(), "provider": String(), "sid": String(), "note": Text()},
                                 [(p["did"], p["provider"], p["sid"], p["note"]) for p in accepted])
        conn.execute(update(Delivery).where(Delivery.id == receipt.c.did).values(
            provider=receipt.c.provider, provider_message_id=receipt.c.sid, error_code=None,
            error_message=None, route_note=receipt.c.note, updated_at=now,
            status=case((behind, literal(DeliveryStatus.QUEUED.value)), else_=Delivery.status),
            status_rank=case((behind, literal(DELIVERY_RANK[DeliveryStatus.QUEUED])), else_=Delivery.status_rank),
            queued_at=case((behind, literal(now, Delivery.queued_at.type)), else_=Delivery.queued_at)))
    if retry:
        conn.execute(update(Delivery).where(Delivery.id == bindparam("did")).values(
            status=DeliveryStatus.PENDING, status_rank=0, provider=bindparam("provider"), route_note=bindparam("note"),
            error_code=bindparam("code"), error_message=bindparam("error"), updated_at=bindparam("now")), retry)
    if failed:
        conn.execute(update(Delivery).where(Delivery.id == bindparam("did")).values(
            status=bindparam("status"), status_rank=DELIVERY_RANK[DeliveryStatus.FAILED],
            provider=bindparam("provider"), error_code=bindparam("code"), error_message=bindparam("error"),
            route_note=bindparam("note"), failed_at=bindparam("now"), updated_at=bindparam("now")), failed)
        _flag_contacts(session, channel, [p for p in failed if p["code"]], addresses, now)
    telemetry.messages_recorded(channel, [(p["provider"], "accepted") for p in accepted]
                                + [(p["provider"], "retry") for p in retry]
                                + [(p["provider"], str(p["status"])) for p in failed])
    return {"accepted": len(accepted), "retry": len(retry), "failed": len(failed)}


def _flag_contacts(session: Session, channel: str, failed: list[dict], addresses: dict[int, str | None],
                   now: object) -> None:
    """Permanent failures that say something about the contact itself are recorded against it."""
    suppress: dict[str, str] = {}
    for p in failed:
        address, code = addresses[p["did"]], p["code"] or ""
        if not address:
            continue
        if code in OPTED_OUT_CODES:
            suppress[address] = "provider-opt-out"
        elif code in UNUSABLE_ADDRESS_CODES.get(channel, ()):
            suppress[address] = f"invalid-{code}"
        elif channel == Channel.EMAIL and p.get("status") == DeliveryStatus.BOUNCED:
            suppress[address] = f"bounced-{code}"
    insert_ignoring_duplicates(session, OptOut.__table__, [
        {"channel": channel, "address": a, "source": source, "created_at": now} for a, source in suppress.items()])
    if channel == Channel.PUSH:
        gone = [int(a) for p in failed if p["code"] in PUSH_GONE_CODES and (a := addresses[p["did"]]) and a.isdigit()]
        if gone:
            session.execute(update(PushSubscription).where(PushSubscription.id.in_(gone)).values(gone_at=now))


def _cancel(session: Session, delivery_ids: Sequence[int]) -> None:
    now = utcnow()
    session.execute(update(Delivery).where(Delivery.id.in_(list(delivery_ids)), Delivery.status == DeliveryStatus.PENDING)
                    .values(status=DeliveryStatus.CANCELLED, status_rank=DELIVERY_RANK[DeliveryStatus.CANCELLED],
                            updated_at=now))


def release_claims(session: Session, delivery_ids: Sequence[int], claimed_before: datetime) -> int:
    """Return to `pending` the rows of a job whose worker died: those still `sending` under a claim
    made before its death (a provider callback in the meantime has moved the rows it sent on)."""
    return session.execute(update(Delivery).where(
        Delivery.id.in_(list(delivery_ids)), Delivery.status == DeliveryStatus.SENDING,
        Delivery.claimed_at < claimed_before).values(
        status=DeliveryStatus.PENDING, status_rank=0, updated_at=utcnow(), error_code="requeued",
        error_message="its worker died mid-send")).rowcount or 0


def requeue_stale(session: Session, older_than: timedelta) -> set[int]:
    """Return to `pending` the rows claimed longer ago than any job takes; gives their alert ids."""
    cutoff = utcnow() - older_than
    rows = session.execute(update(Delivery).where(Delivery.status == DeliveryStatus.SENDING,
                                                  Delivery.claimed_at < cutoff)
                           .values(status=DeliveryStatus.PENDING, status_rank=0, updated_at=utcnow(),
                                   error_code="requeued", error_message="its worker stopped mid-send")
                           .returning(Delivery.alert_id)).all()
    return {r[0] for r in rows}
