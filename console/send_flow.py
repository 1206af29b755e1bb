"""Pressing send, wherever it is pressed (console, API, quick launch): one path.

Each function asks the core (alerting/launching.py) for one transition in one transaction, then
does what the new state needs outside it: a send that started is dispatched and its escalation
scheduled; a scheduled alert gets its worker job. A second press (two operators at once, a double
click, a stale page) changes nothing and so enqueues nothing. Answers carry the alert's summary,
`state` ("sending", "scheduled", "awaiting_approval", or the status otherwise), `started` (this
call changed the alert) and `audience` (people the target reaches now).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from aiohttp import web
from sqlalchemy.orm import Session

from alerting import alerts, dispatch, launching, quick_launches, targeting
from alerting.statuses import AlertStatus
from console import api_escalation
from console.db import in_thread, in_transaction
from console.keys import RUNTIME
from ops.jobs import RQSendScheduler


async def _transition(request: web.Request, work: Callable[[Session], launching.Outcome]) -> dict[str, Any]:
    runtime = request.app[RUNTIME]
    outcome = await in_transaction(request, work)
    alert = outcome.alert
    if outcome.changed and alert.status == AlertStatus.SENDING:
        runtime.enqueuer.enqueue_dispatch(alert.id, urgent=dispatch.is_urgent(alert))
        await api_escalation.schedule_escalation(request, alert.id)
    elif outcome.changed and alert.status == AlertStatus.SCHEDULED:
        scheduler = RQSendScheduler(runtime.redis)
        await in_thread(request, lambda: scheduler.schedule_send(alert.id, alert.scheduled_for, urgent=not alert.drill))
    return await describe(request, alert.id, started=outcome.changed)


async def describe(request: web.Request, alert_id: int, *, started: bool = False) -> dict[str, Any]:
    """The alert's summary with `state`, `started` and `audience`."""
    def read(session: Session) -> dict[str, Any]:
        alert = alerts.get_alert(session, alert_id)
        body = alerts.summary(session, alert)
        # Until dispatch has written everyone, the target says how many it reaches.
        body.update(state=launching.state_of(alert), started=started,
                    audience=alert.recipient_count if alert.resolved_at is not None
                    else targeting.count(session, alert.target))
        return body
    return await in_transaction(request, read)


async def submit(request: web.Request, alert_id: int, *, actor: str,
                 scheduled_for: datetime | str | None = None, skip_approval: bool = False) -> dict[str, Any]:
    """Send alert `alert_id` now, or schedule it, or hold it for approval (two-person rule)."""
    severity = request.app[RUNTIME].settings.approval_severity
    return await _transition(request, lambda s: launching.submit(
        s, alert_id, actor=actor, scheduled_for=scheduled_for, approval_severity=severity,
        skip_approval=skip_approval))


async def approve(request: web.Request, alert_id: int, *, actor: str) -> dict[str, Any]:
    return await _transition(request, lambda s: launching.approve(s, alert_id, actor=actor))


async def reject(request: web.Request, alert_id: int, reason: Any, *, actor: str) -> dict[str, Any]:
    return await _transition(request, lambda s: launching.reject(s, alert_id, reason, actor=actor))


async def reschedule(request: web.Request, alert_id: int, scheduled_for: Any, *, actor: str,
                     naive_is_utc: bool = False) -> dict[str, Any]:
    def work(session: Session) -> launching.Outcome:
        at = launching.parse_time(scheduled_for, naive_is_utc=naive_is_utc)
        return launching.reschedule(session, alert_id, at, actor=actor)
    return await _transition(request, work)


async def unschedule(request: web.Request, alert_id: int, *, actor: str) -> dict[str, Any]:
    return await _transition(request, lambda s: launching.unschedule(s, alert_id, actor=actor))


async def cancel(request: web.Request, alert_id: int, *, actor: str) -> dict[str, Any]:
    return await _transition(request, lambda s: launching.cancel(s, alert_id, actor=actor))


async def quick_launch(request: web.Request, secret: str) -> dict[str, Any]:
    """Launch a quick launch by its secret: a new alert sent in one step (or the one launched within
    the last window, on a repeated press). Raises NotFound for an unknown or revoked secret."""
    runtime = request.app[RUNTIME]
    launched: dict[str, Any] = {}

    def work(session: Session) -> launching.Outcome:
        outcome, repeat = quick_launches.launch(session, secret, approval_severity=runtime.settings.approval_severity,
                                                available_channels=runtime.available_channels)
        launched["repeat"] = repeat
        return outcome
    body = await _transition(request, work)
    body["repeat"] = launched["repeat"]
    return body
