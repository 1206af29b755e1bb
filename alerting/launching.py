"""Launching an alert: sending now, scheduling it, and the two-person rule.

    draft ──submit──► sending                         (no approval needed, no time)
          ──submit──► scheduled ──due (worker)──► sending
          ──submit──► awaiting_approval ──approve (another operator)──► sending, or scheduled
                                        ──reject (with a reason)──────► draft
    scheduled ──reschedule──► scheduled (new time)   ──unschedule──► draft (to edit)
    scheduled, awaiting_approval ──cancel──► cancelled

Every transition is one compare-and-set UPDATE ... WHERE status = <expected>, so of two operators
(or a double click, or a stale page) exactly one moves the alert; the other gets `changed=False`.
Every transition is audited.

A scheduled alert is sent by a worker job that carries the alert id and the time it was scheduled
for (ops/jobs.py `send_scheduled`); the job sends only if the alert is still scheduled for that very
time, so a job left behind by a reschedule, an unschedule or a cancel does nothing. Times are kept
in UTC, to the whole second (RQ's scheduler counts in seconds).

The two-person rule (settings `approval_severity`): an alert at that severity or more severe (and
one of unknown severity, which cannot be shown to be less severe) waits for a second operator.
The operator who submitted it can never approve it; actors are compared as the audit log names
them (`user:<email>`, `token:<id>`, `quick_launch:<name>`), so an API token does not count as its
creator. Drills are exempt: the UK's Emergency Alerts require two people for live alerts, and an
exercise must stay quick to run. Going back to draft clears an approval: edited text is approved
again. A reschedule keeps it (the words and audience are unchanged). An alert approved after its
time has passed is sent at once.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from alerting import audit, dispatch, targeting
from alerting.alerts import get_alert
from alerting.errors import Conflict, PermissionDenied, ValidationError
from alerting.models import Alert, utcnow
from alerting.statuses import AlertStatus
from alerting.timefmt import as_utc

log = logging.getLogger(__name__)

#: How far ahead an alert may be scheduled.
MAX_AHEAD = timedelta(days=365)
#: A scheduled job may run this much before its time (clocks of the scheduler's host) and still send.
EARLY_TOLERANCE = timedelta(seconds=5)
#: Longest reason for refusing an approval.
MAX_REASON = 500
#: Severities from the least to the most severe; "unknown" (and anything else) counts as the most.
SEVERITY_ORDER = ("minor", "moderate", "severe", "extreme")
#: Who scheduled sends are recorded as having started them (the operator who scheduled is noted too).
SCHEDULER_ACTOR = "scheduler"

SENDING, SCHEDULED, AWAITING_APPROVAL = "sending", "scheduled", "awaiting_approval"


@dataclass(frozen=True)
class Outcome:
    """What a launch call left: the alert, its state in words, and whether this call moved it."""
    alert: Alert
    changed: bool

    @property
    def state(self) -> str:
        return state_of(self.alert)


def state_of(alert: Alert) -> str:
    """`sending` once a send has started (whatever happened next), else the alert's status."""
    if alert.send_requested_at is not None or alert.status in (AlertStatus.SENDING, AlertStatus.SENT):
        return SENDING
    return str(alert.status)


#: Aware, in UTC (SQLite hands back naive datetimes, which are UTC).
utc = as_utc


def parse_time(value: Any, *, now: datetime | None = None, naive_is_utc: bool = False) -> datetime:
    """Check a requested send time: ISO 8601 with an offset, in the future, at most a year ahead.
    Returned in UTC, to the whole second. `naive_is_utc`: a time without an offset (a form's
    datetime-local field, labelled UTC) is read as UTC instead of being refused."""
    now = utc(now or utcnow())
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value.strip():
        raw = value.strip()
        try:
            moment = datetime.fromisoformat(raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw)
        except ValueError:
            raise ValidationError(f"scheduled_for must be a date and time such as 2030-01-31T08:00:00+00:00, "
                                  f"got {raw!r}", field="scheduled_for") from None
    else:
        raise ValidationError("scheduled_for must be a date and time such as 2030-01-31T08:00:00+00:00",
                              field="scheduled_for")
    if moment.tzinfo is None:
        if not naive_is_utc:
            raise ValidationError("scheduled_for needs its UTC offset, e.g. 2030-01-31T08:00:00+01:00 or ...Z",
                                  field="scheduled_for")
        moment = moment.replace(tzinfo=timezone.utc)
    moment = utc(moment).replace(microsecond=0)
    if moment <= now:
        raise ValidationError(f"scheduled_for must be in the future; {moment.isoformat()} has passed",
                              field="scheduled_for")
    if moment > now + MAX_AHEAD:
        raise ValidationError("scheduled_for must be at most a year ahead", field="scheduled_for")
    return moment


def needs_approval(alert: Alert, approval_severity: str | None) -> bool:
    """Whether the two-person rule holds this alert: live, and at or above the configured severity."""
    if approval_severity is None or alert.drill:
        return False
    threshold = SEVERITY_ORDER.index(approval_severity)
    rank = SEVERITY_ORDER.index(alert.severity) if alert.severity in SEVERITY_ORDER else len(SEVERITY_ORDER)
    return rank >= threshold


def _check_reaches_someone(session: Session, alert: Alert) -> None:
    if not targeting.reaches_anyone(session, alert.target):
        raise ValidationError("the target reaches no one: no recipient is in its groups or areas", field="target")


def _cas(session: Session, alert: Alert, expected: tuple[str, ...], *extra_where: Any, **values: Any) -> bool:
    changed = session.execute(update(Alert).where(Alert.id == alert.id, Alert.status.in_(expected), *extra_where)
                              .values(**values).execution_options(synchronize_session=False)).rowcount
    session.refresh(alert)  # read back what the database now holds (naive UTC datetimes on SQLite)
    return bool(changed)


def submit(session: Session, alert_id: int, *, actor: str, scheduled_for: Any = None,
           approval_severity: str | None = None, skip_approval: bool = False,
           now: datetime | None = None) -> Outcome:
    """Press send on a draft, optionally for a later time: it starts sending, is scheduled, or waits
    for approval. A repeated press (same time) changes nothing; a scheduled or waiting alert is
    not sent by pressing send again (reschedule, approve or unschedule it instead)."""
    now = utc(now or utcnow())
    alert = get_alert(session, alert_id)
    at = parse_time(scheduled_for, now=now) if scheduled_for is not None else None
    if alert.status in (AlertStatus.SENDING, AlertStatus.SENT):
        return Outcome(alert, False)
    if alert.status == AlertStatus.AWAITING_APPROVAL:
        return Outcome(alert, False)
    if alert.status == AlertStatus.SCHEDULED:
        if at is not None and utc(alert.scheduled_for) == at:
            return Outcome(alert, False)
        raise Conflict(f"alert {alert.id} is scheduled for {utc(alert.scheduled_for).isoformat()}: "
                       "reschedule or unschedule it instead")
    if alert.status != AlertStatus.DRAFT:
        raise Conflict(f"alert {alert.id} is {alert.status} and cannot be sent")
    _check_reaches_someone(session, alert)
    if not skip_approval and needs_approval(alert, approval_severity):
        changed = _cas(session, alert, (AlertStatus.DRAFT,), status=AlertStatus.AWAITING_APPROVAL,
                       submitted_by=actor, submitted_at=now, scheduled_for=at, approved_by=None, approved_at=None)
        if changed:
            audit.record(session, actor, "alert.submit_for_approval", "alert", alert.id, severity=alert.severity,
                         scheduled_for=at.isoformat() if at else None)
        return Outcome(alert, changed)
    if at is not None:
        changed = _cas(session, alert, (AlertStatus.DRAFT,), status=AlertStatus.SCHEDULED, scheduled_for=at,
                       submitted_by=actor, submitted_at=now)
        if changed:
            audit.record(session, actor, "alert.schedule", "alert", alert.id, scheduled_for=at.isoformat(),
                         drill=alert.drill)
        return Outcome(alert, changed)
    alert, started = dispatch.request_send(session, alert_id, actor=actor, submitted_by=actor, submitted_at=now)
    return Outcome(alert, started)


def approve(session: Session, alert_id: int, *, actor: str, now: datetime | None = None) -> Outcome:
    """A second operator approves an alert awaiting approval: it sends, or is scheduled if its time
    is still ahead. The submitter may not approve their own; a second approval changes nothing."""
    now = utc(now or utcnow())
    alert = get_alert(session, alert_id)
    if alert.status != AlertStatus.AWAITING_APPROVAL:
        if alert.approved_by is not None and alert.status != AlertStatus.DRAFT:
            return Outcome(alert, False)  # approved already (a double press, or two approvers at once)
        raise Conflict(f"alert {alert.id} is {alert.status}, not awaiting approval")
    if alert.submitted_by == actor:
        raise PermissionDenied("you submitted this alert: another operator must approve it (two-person rule)")
    stamp = {"approved_by": actor, "approved_at": now}
    different = Alert.submitted_by != actor
    if alert.scheduled_for is not None and utc(alert.scheduled_for) > now:
        changed = _cas(session, alert, (AlertStatus.AWAITING_APPROVAL,), different, status=AlertStatus.SCHEDULED,
                       **stamp)
        if changed:
            audit.record(session, actor, "alert.approve", "alert", alert.id, submitted_by=alert.submitted_by,
                         scheduled_for=utc(alert.scheduled_for).isoformat())
        return Outcome(alert, changed)
    _check_reaches_someone(session, alert)
    # The audit entry first, in the same transaction: it is dropped if the send loses the race.
    alert, started = dispatch.request_send(session, alert_id, actor=actor, from_status=AlertStatus.AWAITING_APPROVAL,
                                           sent_by=alert.submitted_by, **stamp)
    if started:
        audit.record(session, actor, "alert.approve", "alert", alert.id, submitted_by=alert.submitted_by)
    return Outcome(alert, started)


def reject(session: Session, alert_id: int, reason: Any, *, actor: str) -> Outcome:
    """Refuse an alert awaiting approval: back to draft, with the reason in the audit log. The
    submitter may withdraw their own this way."""
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationError("say why the alert is refused", field="reason")
    if len(reason) > MAX_REASON:
        raise ValidationError(f"the reason is longer than {MAX_REASON} characters", field="reason")
    alert = get_alert(session, alert_id)
    if alert.status != AlertStatus.AWAITING_APPROVAL:
        raise Conflict(f"alert {alert.id} is {alert.status}, not awaiting approval")
    submitted_by = alert.submitted_by
    changed = _cas(session, alert, (AlertStatus.AWAITING_APPROVAL,), status=AlertStatus.DRAFT, scheduled_for=None,
                   submitted_by=None, submitted_at=None, approved_by=None, approved_at=None)
    if changed:
        audit.record(session, actor, "alert.reject", "alert", alert.id, reason=reason.strip(),
                     submitted_by=submitted_by)
    return Outcome(alert, changed)


def reschedule(session: Session, alert_id: int, scheduled_for: Any, *, actor: str,
               now: datetime | None = None) -> Outcome:
    """Move a scheduled alert to another time; the job for the old time will find it moved."""
    at = parse_time(scheduled_for, now=now)
    alert = get_alert(session, alert_id)
    if alert.status != AlertStatus.SCHEDULED:
        raise Conflict(f"alert {alert.id} is {alert.status}, not scheduled")
    before = utc(alert.scheduled_for)
    if before == at:
        return Outcome(alert, False)
    changed = _cas(session, alert, (AlertStatus.SCHEDULED,), status=AlertStatus.SCHEDULED, scheduled_for=at)
    if changed:
        audit.record(session, actor, "alert.reschedule", "alert", alert.id, scheduled_for=at.isoformat(),
                     was=before.isoformat())
    return Outcome(alert, changed)


def unschedule(session: Session, alert_id: int, *, actor: str) -> Outcome:
    """A scheduled alert back to draft, to be edited (and submitted, and approved, again)."""
    alert = get_alert(session, alert_id)
    if alert.status == AlertStatus.DRAFT:
        return Outcome(alert, False)
    if alert.status != AlertStatus.SCHEDULED:
        raise Conflict(f"alert {alert.id} is {alert.status}, not scheduled")
    before = utc(alert.scheduled_for)
    changed = _cas(session, alert, (AlertStatus.SCHEDULED,), status=AlertStatus.DRAFT, scheduled_for=None,
                   submitted_by=None, submitted_at=None, approved_by=None, approved_at=None)
    if changed:
        audit.record(session, actor, "alert.unschedule", "alert", alert.id, was=before.isoformat())
    return Outcome(alert, changed)


def cancel(session: Session, alert_id: int, *, actor: str) -> Outcome:
    """Cancel an alert that has not gone out: scheduled or awaiting approval. Nothing is sent."""
    alert = get_alert(session, alert_id)
    if alert.status == AlertStatus.CANCELLED and alert.send_requested_at is None:
        return Outcome(alert, False)
    if alert.status not in (AlertStatus.SCHEDULED, AlertStatus.AWAITING_APPROVAL):
        raise Conflict(f"alert {alert.id} is {alert.status}: only a scheduled alert or one awaiting approval "
                       "is cancelled here")
    was = alert.status
    changed = _cas(session, alert, (AlertStatus.SCHEDULED, AlertStatus.AWAITING_APPROVAL),
                   status=AlertStatus.CANCELLED, cancelled_at=utcnow())
    if changed:
        audit.record(session, actor, "alert.cancel", "alert", alert.id, was=str(was),
                     scheduled_for=alert.scheduled_for and utc(alert.scheduled_for).isoformat())
    return Outcome(alert, changed)


def start_due(session: Session, alert_id: int, scheduled_for: datetime, *, now: datetime | None = None) -> Outcome:
    """The scheduled job's work: start the send if the alert is still scheduled for exactly this
    time and the time has come; otherwise nothing (an edit, cancel or reschedule made the job
    stale). An alert whose target now reaches no one goes back to draft, audited, not sent."""
    now, at = utc(now or utcnow()), utc(scheduled_for)
    alert = get_alert(session, alert_id)
    if alert.status != AlertStatus.SCHEDULED or alert.scheduled_for is None or utc(alert.scheduled_for) != at:
        return Outcome(alert, False)
    if now + EARLY_TOLERANCE < at:
        log.warning("alert %s: scheduled job ran %s early; not sent", alert_id, at - now)
        return Outcome(alert, False)
    if not targeting.reaches_anyone(session, alert.target):
        if _cas(session, alert, (AlertStatus.SCHEDULED,), Alert.scheduled_for == at, status=AlertStatus.DRAFT,
                scheduled_for=None):
            audit.record(session, SCHEDULER_ACTOR, "alert.schedule_failed", "alert", alert.id,
                         reason="the target reaches no one", scheduled_for=at.isoformat())
            log.warning("alert %s: scheduled send found a target reaching no one; back to draft", alert_id)
        return Outcome(alert, False)
    alert, started = dispatch.request_send(session, alert_id, actor=SCHEDULER_ACTOR,
                                           from_status=AlertStatus.SCHEDULED, scheduled_for=at,
                                           sent_by=alert.submitted_by)
    return Outcome(alert, started)


def scheduled(session: Session, *, due_by: datetime | None = None) -> list[tuple[int, datetime, bool]]:
    """(alert id, time, drill) of every scheduled alert, soonest first; `due_by`: only those due by then."""
    query = select(Alert.id, Alert.scheduled_for, Alert.drill).where(Alert.status == AlertStatus.SCHEDULED,
                                                                     Alert.scheduled_for.is_not(None))
    if due_by is not None:
        query = query.where(Alert.scheduled_for <= utc(due_by))
    return [(i, utc(t), d) for i, t, d in session.execute(query.order_by(Alert.scheduled_for, Alert.id))]


def calendar(session: Session, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """What goes out, or went out, between `start` and `end`: scheduled alerts (and those awaiting
    approval for a time) at their time, and sends started in the period at theirs; soonest first."""
    start, end = utc(start), utc(end)
    waiting = session.scalars(select(Alert).where(
        Alert.status.in_((AlertStatus.SCHEDULED, AlertStatus.AWAITING_APPROVAL)),
        Alert.scheduled_for >= start, Alert.scheduled_for < end))
    past = session.scalars(select(Alert).where(Alert.send_requested_at >= start, Alert.send_requested_at < end))
    entries = [_entry(session, a, utc(a.scheduled_for)) for a in waiting]
    entries += [_entry(session, a, utc(a.send_requested_at)) for a in past]
    return sorted(entries, key=lambda e: (e["at"], e["id"]))


def awaiting_approval(session: Session) -> list[dict[str, Any]]:
    """Every alert waiting for a second operator, oldest request first."""
    rows = session.scalars(select(Alert).where(Alert.status == AlertStatus.AWAITING_APPROVAL)
                           .order_by(Alert.submitted_at, Alert.id))
    return [_entry(session, a, utc(a.scheduled_for) if a.scheduled_for else None) for a in rows]


def _entry(session: Session, alert: Alert, at: datetime | None) -> dict[str, Any]:
    sent = alert.send_requested_at is not None
    return {"id": alert.id, "title": alert.title, "status": str(alert.status), "state": state_of(alert),
            "drill": alert.drill, "severity": alert.severity, "channels": list(alert.channels), "at": at,
            "scheduled_for": alert.scheduled_for and utc(alert.scheduled_for),
            "audience": (alert.recipient_count or 0) if sent else targeting.count(session, alert.target),
            "submitted_by": alert.submitted_by, "approved_by": alert.approved_by, "sent_by": alert.sent_by,
            "sent": sent}
