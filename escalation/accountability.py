"""Operators acting on an alert: cancelling it (with an all-clear), closing it, and vouching for people.

Cancel stops everything still to send (send jobs find the alert cancelled and mark their rows so) and
every further escalation run. Its optional message is a new alert in the same incident, to the same
target on the same channels (replies after it are counted against that new alert).

Close freezes the report. NOTE: alerting/replies.py and alerting/voice.py match replies only to OPEN
alerts (sending/sent), so an SMS or key press after close is answered but not stored against the
closed alert; only responses recorded here on someone's behalf are kept with counted=False.
"""
from __future__ import annotations

from typing import Any, Iterable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from alerting import alerts, audit, dispatch
from alerting.errors import Conflict, NotFound, ValidationError
from alerting.models import Alert, AlertRecipient, Recipient, Response, utcnow
from alerting.replies import record_response
from alerting.statuses import OPEN_ALERT_STATUSES, AlertStatus, ResponseKind

ON_BEHALF = "on_behalf"
MAX_NOTE = 1600


def cancel(session: Session, alert_id: int, data: Any, *, actor: str,
           available_channels: Iterable[str]) -> tuple[Alert, Alert | None]:
    """Cancel the alert; returns it and the all-clear alert to dispatch (if a message was given)."""
    alert = alerts.get_alert(session, alert_id)
    if data is not None and not isinstance(data, dict):
        raise ValidationError("the body must be a JSON object, e.g. {\"message\": \"All clear\"}")
    message = (data or {}).get("message")
    if message is not None and (not isinstance(message, str) or not message.strip()):
        raise ValidationError("message must be non-empty text", field="message")
    if alert.status == AlertStatus.CANCELLED:
        return alert, None
    if alert.status == AlertStatus.CLOSED:
        raise Conflict(f"alert {alert.id} is closed and cannot be cancelled")
    # A scheduled alert, or one waiting for a second operator, is stopped before it goes out.
    stoppable = [AlertStatus.DRAFT, AlertStatus.SCHEDULED, AlertStatus.AWAITING_APPROVAL, *OPEN_ALERT_STATUSES]
    session.execute(update(Alert).where(Alert.id == alert.id, Alert.status.in_(stoppable))
                    .values(status=AlertStatus.CANCELLED, cancelled_at=utcnow()))
    session.refresh(alert)
    audit.record(session, actor, "alert.cancel", "alert", alert.id, all_clear=message is not None)
    if message is None or alert.send_requested_at is None:
        return alert, None
    follow_up = alerts.create_alert(session, {
        "title": f"Cancelled: {alert.title}"[:alerts.MAX_TITLE], "message": message, "channels": alert.channels,
        "target": alert.target, "drill": alert.drill, "severity": alert.severity, "incident_id": alert.incident_id},
        actor=actor, available_channels=available_channels)
    dispatch.request_send(session, follow_up.id, actor=actor)
    return alert, follow_up


def close(session: Session, alert_id: int, *, actor: str) -> Alert:
    """Freeze the alert's report. Closing twice is harmless; a draft cannot be closed."""
    alert = alerts.get_alert(session, alert_id)
    if alert.status == AlertStatus.CLOSED:
        return alert
    if alert.status == AlertStatus.DRAFT:
        raise Conflict(f"alert {alert.id} was never sent; there is nothing to close")
    session.execute(update(Alert).where(Alert.id == alert.id, Alert.status != AlertStatus.CLOSED)
                    .values(status=AlertStatus.CLOSED, closed_at=utcnow()))
    session.refresh(alert)
    audit.record(session, actor, "alert.close", "alert", alert.id)
    return alert


def record_on_behalf(session: Session, alert_id: int, external_id: str, data: Any, *, actor: str) -> dict[str, Any]:
    """An operator's word for a person (seen at the assembly point): a Response on channel 'on_behalf'.
    On a closed alert it is kept but not counted (the report is frozen)."""
    if not isinstance(data, dict):
        raise ValidationError("the body must be a JSON object with status and note")
    status = data.get("status")
    if status not in (ResponseKind.SAFE, ResponseKind.NEED_HELP):
        raise ValidationError("status must be safe or need_help", field="status")
    note = data.get("note", "")
    if not isinstance(note, str) or len(note) > MAX_NOTE:
        raise ValidationError(f"note must be text of at most {MAX_NOTE} characters", field="note")
    alert = alerts.get_alert(session, alert_id)
    recipient_id = session.scalar(select(AlertRecipient.recipient_id).join(
        Recipient, Recipient.id == AlertRecipient.recipient_id).where(
        AlertRecipient.alert_id == alert.id, Recipient.external_id == external_id))
    if recipient_id is None:
        raise NotFound(f"{external_id!r} is not among alert {alert.id}'s recipients")
    counted = alert.status in OPEN_ALERT_STATUSES
    if counted:
        record_response(session, alert.id, recipient_id, ResponseKind(status), ON_BEHALF, note, None)
        session.flush()
        response = session.scalars(select(Response).where(
            Response.alert_id == alert.id, Response.recipient_id == recipient_id, Response.channel == ON_BEHALF)
            .order_by(Response.id.desc()).limit(1)).one()
        response.recorded_by = actor
    else:
        response = Response(alert_id=alert.id, recipient_id=recipient_id, kind=status, channel=ON_BEHALF,
                            raw_text=note, counted=False, recorded_by=actor)
        session.add(response)
    session.flush()
    audit.record(session, actor, "response.on_behalf", "alert", alert.id, response_id=response.id,
                 kind=status, counted=counted)
    return {"alert_id": alert.id, "external_id": external_id, "status": status, "counted": counted,
            "response_id": response.id}
