"""Running escalation: each run of a policy step is a scheduled job that re-reads the database.

    schedule_alert (web, after send)  schedule every run of the alert's policy at its due time
    run_step       (worker)           one run: record it, then re-send to the silent or tell supervisors
    reconcile      (start-up)         schedule again every run of an open alert not yet recorded
    run_next_now   (web)              an operator's "escalate now": the next run, at once

Exactly-once per run, whatever Redis does: a run first inserts its row in `escalation_steps`
(unique per alert, step and round) and does nothing if the row was already there, so a job run
twice (a duplicate after Redis loss, a reconcile racing the original) sends nothing the second
time. Job ids are deterministic (`step_job_id`), so scheduling the same run twice is refused by RQ.

A run re-sends only to people with no response on any channel, as new delivery attempts
(attempt = the person's last attempt on that channel + 1), written as pending intent and then
enqueued like a dispatch's batches. A cancelled or closed alert escalates no further. People the
alert's dispatch has not yet resolved when a run starts are not in it (runs due while an alert of
hundreds of thousands is still resolving reach only those already written).

The final step creates a separate alert in the same incident, to the supervisors, naming who is
still unaccounted for (more than `MAX_NAMED`: their count and the report's URL), so supervisors'
messages and replies never mix into the original alert's counts.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Protocol

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from alerting import alerts, audit, dispatch, targeting, telemetry
from alerting.errors import Conflict, TocsinError
from alerting.models import Alert, AlertRecipient, Delivery, EscalationPolicy, EscalationStep, Recipient, utcnow
from alerting.sql import id_in
from alerting.statuses import OPEN_ALERT_STATUSES, Channel, DeliveryStatus
from alerting.timefmt import as_utc
from escalation.policies import Run, plan

log = logging.getLogger(__name__)

#: The final step's message names at most this many people; beyond it, their count and a link.
MAX_NAMED = 20
#: Silent people handled per statement when a run writes its deliveries.
CHUNK = 2000
#: Who escalation's own actions are recorded as in the audit log.
ACTOR = "escalation"

#: Publishes a small JSON-able message on a live channel (Redis pub/sub in ops; tests may record).
Publish = Callable[[str, dict[str, Any]], None]


class StepScheduler(Protocol):
    """Where escalation hands runs to the job queue (RQ in production, see ops/jobs.py)."""

    def schedule_step(self, alert_id: int, step_index: int, round: int, at: datetime, *, urgent: bool) -> bool:
        """Schedule one run; False if a job with its id already exists."""
        ...


def step_job_id(alert_id: int, step_index: int, round: int) -> str:
    """The one job id of a run. (RQ allows only letters, digits, '_' and '-' in ids, hence no colons.)"""
    return f"escalate-{alert_id}-{step_index}-{round}"


def live_channel(alert_id: int) -> str:
    """The Redis pub/sub channel where an alert's live changes are announced."""
    return f"tocsin:alert:{alert_id}"




def _runs(session: Session, alert: Alert) -> list[Run]:
    if alert.policy is None:
        return []
    policy = session.scalar(select(EscalationPolicy).where(EscalationPolicy.name == alert.policy))
    return plan(policy.steps, policy.final) if policy else []


def _schedule(session: Session, scheduler: StepScheduler, alert: Alert) -> int:
    if alert.send_requested_at is None or alert.status not in OPEN_ALERT_STATUSES:
        return 0
    done = {tuple(r) for r in session.execute(select(EscalationStep.step_index, EscalationStep.round)
                                              .where(EscalationStep.alert_id == alert.id))}
    start, now, scheduled = as_utc(alert.send_requested_at), utcnow(), 0
    for run in _runs(session, alert):
        if (run.step_index, run.round) in done:
            continue
        at = max(start + timedelta(seconds=run.after_s), now)  # past due: now
        scheduled += scheduler.schedule_step(alert.id, run.step_index, run.round, at,
                                             urgent=dispatch.is_urgent(alert))
    return scheduled


def schedule_alert(sessions: sessionmaker[Session], scheduler: StepScheduler, alert_id: int) -> int:
    """Schedule every run of the alert's policy; returns how many jobs were newly scheduled."""
    with sessions.begin() as session:
        alert = session.get(Alert, alert_id)
        return _schedule(session, scheduler, alert) if alert else 0


def reconcile(sessions: sessionmaker[Session], scheduler: StepScheduler) -> int:
    """For every open alert with a policy, schedule each run not yet recorded (past due: now).
    Idempotent: job ids are deterministic, and a run already recorded is never scheduled again."""
    with sessions.begin() as session:
        open_alerts = session.scalars(select(Alert).where(Alert.status.in_(OPEN_ALERT_STATUSES),
                                                          Alert.policy.is_not(None))).all()
        scheduled = sum(_schedule(session, scheduler, a) for a in open_alerts)
    if scheduled:
        log.info("scheduled %d escalation run(s) for %d open alert(s)", scheduled, len(open_alerts))
    return scheduled


@dataclass(frozen=True)
class StepResult:
    ran: bool                       # False: already run, alert no longer open, or no such step
    people: int = 0                 # people still silent when it ran
    messages: int = 0               # new deliveries written (a re-send step)
    notice_alert_id: int | None = None  # the supervisors' alert (the final step)


def _claim_run(session: Session, alert: Alert, step_index: int, round: int, after_s: int) -> bool:
    """Insert the run's row if absent; True if this caller inserted it (and so must do the run)."""
    module = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    scheduled_at = as_utc(alert.send_requested_at or utcnow()) + timedelta(seconds=after_s)
    # RETURNING, not rowcount: psycopg reports -1 for an INSERT that returns rows.
    inserted = session.execute(module.insert(EscalationStep.__table__).on_conflict_do_nothing().values(
        alert_id=alert.id, step_index=step_index, round=round, scheduled_at=scheduled_at, ran_at=utcnow(), people=0)
        .returning(EscalationStep.__table__.c.id)).first()
    return inserted is not None


def _silent(session: Session, alert_id: int) -> list[int]:
    return list(session.scalars(select(AlertRecipient.recipient_id).where(
        AlertRecipient.alert_id == alert_id, AlertRecipient.response.is_(None)).order_by(AlertRecipient.recipient_id)))


def _write_attempts(session: Session, alert_id: int, channels: list[str], ids: list[int]) -> dict[str, list[int]]:
    """New pending deliveries for these people on these channels; returns pending ids per channel."""
    rows = targeting.rows_for(session, ids)
    push = dispatch.push_subscriptions_of(session, ids) if Channel.PUSH in channels else {}
    pending: dict[str, list[int]] = {}
    for channel in channels:
        last = dict(session.execute(select(Delivery.recipient_id, func.max(Delivery.attempt)).where(
            Delivery.alert_id == alert_id, Delivery.channel == channel, id_in(session, Delivery.recipient_id, ids))
            .group_by(Delivery.recipient_id)).all())
        dispatch.write_pending(session, alert_id, channel, rows, push, attempts=last)
        # Any pending row of these people on the channel: a claim makes enqueueing one twice harmless.
        pending[channel] = list(session.scalars(select(Delivery.id).where(
            Delivery.alert_id == alert_id, Delivery.channel == channel, Delivery.status == DeliveryStatus.PENDING,
            id_in(session, Delivery.recipient_id, ids)).order_by(Delivery.id)))
    return pending


def unaccounted_message(alert: Alert, people: list[tuple[str, str]], report_url: str) -> str:
    """What supervisors are told: who has not answered (names and ids), or how many and where to look."""
    head = f'{len(people)} people have not responded to "{alert.title}" (alert {alert.id})'
    if not people:
        return f'Everyone has responded to "{alert.title}" (alert {alert.id}).'
    if len(people) > MAX_NAMED:
        return f"{head}. The list: {report_url}"
    return f"{head}: " + "; ".join(f"{name} ({external_id})" if name else external_id
                                   for external_id, name in people) + f". Report: {report_url}"


def _notify_supervisors(session: Session, alert: Alert, final: dict[str, Any], silent: list[int],
                        public_url: str) -> int | None:
    people = [tuple(r) for r in session.execute(
        select(Recipient.external_id, Recipient.name).where(id_in(session, Recipient.id, silent))
        .order_by(Recipient.external_id))] if silent else []
    report_url = f"{public_url.rstrip('/')}/api/v1/alerts/{alert.id}/report"
    data = {"title": f"Unaccounted for: {alert.title}"[:alerts.MAX_TITLE],
            "message": unaccounted_message(alert, people, report_url),  # type: ignore[arg-type]
            "channels": final["channels"], "target": {"recipients": final["notify"]},
            "drill": alert.drill, "incident_id": alert.incident_id, "severity": alert.severity}
    try:
        # Channels were checked against the configuration when the policy was stored.
        notice = alerts.create_alert(session, data, actor=ACTOR, available_channels=final["channels"])
        dispatch.request_send(session, notice.id, actor=ACTOR)
    except TocsinError as exc:  # a supervisor deleted since, or the incident closed: log, do not retry forever
        log.warning("alert %s: could not notify supervisors: %s", alert.id, exc)
        return None
    return notice.id


def run_step(sessions: sessionmaker[Session], enqueuer: dispatch.Enqueuer, alert_id: int, step_index: int,
             round: int, *, batch_size: int, public_url: str, publish: Publish | None = None) -> StepResult:
    """Do one run of the alert's policy, once: re-send to the silent, or (final) tell supervisors."""
    with sessions.begin() as session:
        alert = session.get(Alert, alert_id)
        if alert is None or alert.status not in OPEN_ALERT_STATUSES or alert.policy is None:
            return StepResult(False)
        policy = session.scalar(select(EscalationPolicy).where(EscalationPolicy.name == alert.policy))
        run = next((r for r in (plan(policy.steps, policy.final) if policy else [])
                    if (r.step_index, r.round) == (step_index, round)), None)
        if policy is None or run is None or not _claim_run(session, alert, step_index, round, run.after_s):
            return StepResult(False)
        silent, urgent = _silent(session, alert_id), dispatch.is_urgent(alert)
        pending: dict[str, list[int]] = {}
        notice_id = None
        if step_index == len(policy.steps):
            notice_id = _notify_supervisors(session, alert, policy.final, silent, public_url)
        else:
            for start in range(0, len(silent), CHUNK):
                for channel, ids in _write_attempts(session, alert_id, policy.steps[step_index]["channels"],
                                                    silent[start:start + CHUNK]).items():
                    pending.setdefault(channel, []).extend(ids)
        session.execute(update(EscalationStep).where(
            EscalationStep.alert_id == alert_id, EscalationStep.step_index == step_index,
            EscalationStep.round == round).values(people=len(silent), notice_alert_id=notice_id))
    # Enqueued only after the commit, so workers always find the rows they are given.
    for channel, ids in pending.items():
        enqueuer.enqueue_sends(alert_id, channel, [ids[i:i + batch_size] for i in range(0, len(ids), batch_size)],
                               urgent=urgent)
    if notice_id is not None:
        enqueuer.enqueue_dispatch(notice_id, urgent=urgent)
    result = StepResult(True, len(silent), sum(map(len, pending.values())), notice_id)
    telemetry.escalation_step("final" if step_index == len(policy.steps) else "resend", len(silent))
    log.info("alert %s: escalation step %s round %s reached %d silent people", alert_id, step_index, round,
             len(silent), extra={"alert_id": alert_id})
    if publish is not None:
        publish(live_channel(alert_id), {"type": "escalation_step", "alert_id": alert_id, "step": step_index,
                                         "round": round, "people": len(silent), "notice_alert_id": notice_id})
    return result


def next_run(session: Session, alert: Alert) -> Run | None:
    """The alert's earliest policy run not yet recorded (None: no policy, or every run has happened)."""
    done = {tuple(r) for r in session.execute(select(EscalationStep.step_index, EscalationStep.round)
                                              .where(EscalationStep.alert_id == alert.id))}
    return next((run for run in sorted(_runs(session, alert), key=lambda r: (r.after_s, r.step_index, r.round))
                 if (run.step_index, run.round) not in done), None)


def run_next_now(sessions: sessionmaker[Session], enqueuer: dispatch.Enqueuer, alert_id: int, *, actor: str,
                 batch_size: int, public_url: str, publish: Publish | None = None) -> tuple[Run, StepResult]:
    """An operator's "escalate now": do the alert's next run at once instead of at its due time.

    The run is claimed like any other (its row in escalation_steps), so when its scheduled job comes
    due it finds the run done and sends nothing; later runs keep their times. If the scheduled job
    wins the race, the run after it is done instead."""
    for _ in range(MAX_NOW_ATTEMPTS):
        with sessions.begin() as session:
            alert = alerts.get_alert(session, alert_id)
            if alert.status not in OPEN_ALERT_STATUSES:
                raise Conflict(f"alert {alert.id} is {alert.status}; it escalates no further")
            if alert.policy is None:
                raise Conflict(f"alert {alert.id} follows no escalation policy; send an update instead")
            run = next_run(session, alert)
            if run is None:
                raise Conflict(f"every escalation step of alert {alert.id} has already run")
        result = run_step(sessions, enqueuer, alert_id, run.step_index, run.round, batch_size=batch_size,
                          public_url=public_url, publish=publish)
        if result.ran:
            with sessions.begin() as session:
                audit.record(session, actor, "alert.escalate_now", "alert", alert_id, step=run.step_index,
                             round=run.round, people=result.people)
            return run, result
    raise Conflict(f"alert {alert_id}: escalation is running right now; try again in a moment")


#: Runs "escalate now" tries to claim before giving up (each lost only to a run happening meanwhile).
MAX_NOW_ATTEMPTS = 3
