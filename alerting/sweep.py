"""What the periodic sweep (ops/sweep.py) reads from the database and records in it.

The sweep exists because the events that move a message on can be lost: a send job dropped by
Redis or by RQ's scheduler leaves its rows `pending`; a status callback lost while the database was
down leaves a delivered SMS `queued` or `sent`. The database still says what is unfinished; these
queries find it, and the writes here record what the sweep learnt, under the same rules as the rest
of the core: a claim decides who sends, a status never moves backwards (`deliveries.apply_statuses`,
the code path status callbacks take).

Only open alerts (`sending`, or `sent` with an escalation still writing messages) are looked at:
their rows are found through the (alert_id, channel, status) index, never by walking the history.
"""
from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from alerting import dispatch, sending
from alerting.deliveries import StatusReport, apply_statuses
from alerting.models import Alert, Delivery, utcnow
from alerting.statuses import (
    DELIVERY_RANK,
    OPEN_ALERT_STATUSES,
    AlertStatus,
    Channel,
    DeliveryStatus,
)

#: `error_code` of a message whose final status the provider would not tell us: no more queries.
#: Its status stays what it was (a late callback still moves it on); `error_message` says why.
STATUS_UNKNOWN = "status-unknown"
#: Channels whose provider can be asked for a message's status (Twilio's Messages and Calls).
QUERYABLE_CHANNELS = (Channel.SMS, Channel.VOICE)
#: Statuses that a provider's later report would normally move on: accepted, not yet final.
UNCONFIRMED_STATUSES = (DeliveryStatus.QUEUED, DeliveryStatus.SENT)


@dataclass(frozen=True)
class Waiting:
    """Pending messages of one alert and channel that nobody has touched for a while."""
    alert_id: int
    channel: str
    urgent: bool
    delivery_ids: list[int]


@dataclass(frozen=True)
class Unconfirmed:
    """A message the provider accepted long ago and never reported final (its callbacks lost?)."""
    delivery_id: int
    channel: str
    provider: str
    provider_message_id: str
    status: str

    @property
    def rank(self) -> int:
        return DELIVERY_RANK[self.status]


def _open_alerts(session: Session) -> dict[int, bool]:
    """Open alerts' ids, each with whether it is urgent (live, not a drill)."""
    return {alert_id: not drill for alert_id, drill in session.execute(
        select(Alert.id, Alert.drill).where(Alert.status.in_([s.value for s in OPEN_ALERT_STATUSES])))}


def stale_pending(session: Session, older_than: timedelta) -> list[Waiting]:
    """Pending messages of open alerts unchanged for `older_than`, by alert and channel, in id order.

    Young rows are left alone: a dispatch writes a chunk's rows and enqueues their jobs just after
    its commit, and a batch that failed transiently is pending again while RQ waits to retry it."""
    cutoff = utcnow() - older_than
    found: list[Waiting] = []
    for alert_id, urgent in sorted(_open_alerts(session).items()):
        by_channel = dispatch.pending_by_channel(session, alert_id, untouched_since=cutoff)
        found.extend(Waiting(alert_id, channel, urgent, ids) for channel, ids in sorted(by_channel.items()))
    return found


def release_stale_claims(session: Session, older_than: timedelta, batch_size: int) -> list[Waiting]:
    """Return to `pending` the messages claimed longer ago than any send job may run (its worker is
    gone: killed, or on a host that never came back), and give every pending message of their
    alerts, to be enqueued again. A job still holding some of them finds them claimed and skips them."""
    alerts = sending.requeue_stale(session, older_than)
    if not alerts:
        return []
    urgent = {a.id: dispatch.is_urgent(a) for a in session.scalars(select(Alert).where(Alert.id.in_(sorted(alerts))))}
    return [Waiting(alert_id, channel, urgent[alert_id], ids)
            for alert_id in sorted(urgent)
            for channel, batches in dispatch.pending_batches(session, alert_id, batch_size).items()
            for ids in batches]


def undispatched(session: Session, older_than: timedelta) -> list[tuple[int, bool]]:
    """Alerts sending for `older_than` whose recipients are not all written yet: (id, urgent).
    Their dispatch job may be running; the caller checks whether RQ still holds one."""
    cutoff = utcnow() - older_than
    return [(alert_id, not drill) for alert_id, drill in session.execute(
        select(Alert.id, Alert.drill).where(Alert.status == AlertStatus.SENDING, Alert.resolved_at.is_(None),
                                            Alert.send_requested_at < cutoff).order_by(Alert.id))]


def finish_idle(sessions: sessionmaker[Session]) -> list[int]:
    """Mark `sent` the alerts still `sending` with every recipient written and nothing waiting or in
    flight (their last batch's own check can be lost with the job); returns their ids."""
    with sessions() as session:
        candidates = list(session.scalars(select(Alert.id).where(
            Alert.status == AlertStatus.SENDING, Alert.resolved_at.is_not(None)).order_by(Alert.id)))
    finished = []
    for alert_id in candidates:
        with sessions.begin() as session:
            dispatch.lock_for_finish(session, alert_id)  # in turn with a batch finishing at this moment
            if not sending.anything_waits(session, alert_id) and dispatch.finish_if_done(session, alert_id):
                finished.append(alert_id)
    return finished


def unconfirmed(session: Session, older_than: timedelta, limit: int) -> list[Unconfirmed]:
    """SMS and calls of open alerts still `queued` or `sent` `older_than` after anything last
    happened to them (a report, or our last query), oldest first, at most `limit`."""
    cutoff = utcnow() - older_than
    rows = session.execute(
        select(Delivery.id, Delivery.channel, Delivery.provider, Delivery.provider_message_id, Delivery.status)
        .where(Delivery.alert_id.in_(list(_open_alerts(session))),
               Delivery.channel.in_([c.value for c in QUERYABLE_CHANNELS]),
               Delivery.status.in_([s.value for s in UNCONFIRMED_STATUSES]),
               Delivery.updated_at < cutoff, Delivery.provider_message_id.is_not(None), Delivery.provider.is_not(None),
               or_(Delivery.error_code.is_(None), Delivery.error_code != STATUS_UNKNOWN))
        .order_by(Delivery.updated_at, Delivery.id).limit(limit)).all()
    return [Unconfirmed(*row) for row in rows]


def record_status_queries(session: Session, asked: Collection[Unconfirmed], reports: Iterable[StatusReport],
                          give_up: dict[int, str]) -> int:
    """Record what the provider said about `asked`; returns how many messages moved forward.

    Reports go through `apply_statuses`, as callbacks do: only forward, only for the same message id.
    Every row asked about is stamped (`updated_at`), so it is asked again only after the limit.
    `give_up` (delivery id: why) marks rows not to ask about again, unless they moved meanwhile."""
    moved = apply_statuses(session, list(reports))
    now = utcnow()
    conn = session.connection()
    if asked:
        conn.execute(update(Delivery).where(Delivery.id == bindparam("did"), Delivery.status_rank == bindparam("rank"))
                     .values(updated_at=now), [{"did": row.delivery_id, "rank": row.rank} for row in asked])
    ranks = {row.delivery_id: row.rank for row in asked}
    if give_up:
        conn.execute(update(Delivery).where(Delivery.id == bindparam("did"), Delivery.status_rank == bindparam("rank"))
                     .values(error_code=STATUS_UNKNOWN, error_message=bindparam("why"), updated_at=now),
                     [{"did": did, "rank": ranks[did], "why": why} for did, why in give_up.items() if did in ranks])
    return moved
