"""What the console's first page shows: open incidents with their alerts and answers, what waits
(scheduled sends, approvals, drafts), and recent closed work. Live and drill counted apart."""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerting.models import Alert, AlertRecipient, Incident
from alerting.statuses import NO_RESPONSE, AlertStatus, ResponseKind


def _alert_row(alert: Alert, responses: dict[str, int]) -> dict[str, Any]:
    return {"id": alert.id, "title": alert.title, "status": alert.status, "drill": alert.drill,
            "severity": alert.severity, "channels": alert.channels, "recipients": alert.recipient_count,
            "send_requested_at": alert.send_requested_at, "scheduled_for": alert.scheduled_for,
            "created_at": alert.created_at, "created_by": alert.created_by, "submitted_by": alert.submitted_by,
            "follow_kind": alert.follow_kind, "responses": responses}


def _responses(session: Session, alert_ids: list[int]) -> dict[int, dict[str, int]]:
    counts: dict[int, dict[str, int]] = {a: {k: 0 for k in (*ResponseKind, NO_RESPONSE)} for a in alert_ids}
    if alert_ids:
        for alert_id, response, n in session.execute(
                select(AlertRecipient.alert_id, AlertRecipient.response, func.count())
                .where(AlertRecipient.alert_id.in_(alert_ids))
                .group_by(AlertRecipient.alert_id, AlertRecipient.response)):
            counts[alert_id][response or NO_RESPONSE] = n
    return counts


def dashboard(session: Session, *, closed_limit: int = 20) -> dict[str, Any]:
    open_incidents = session.scalars(select(Incident).where(Incident.status == "open")
                                     .order_by(Incident.id.desc()).limit(100)).all()
    alerts = session.scalars(select(Alert).where(Alert.incident_id.in_([i.id for i in open_incidents]))
                             .order_by(Alert.id)).all() if open_incidents else []
    responses = _responses(session, [a.id for a in alerts])
    by_incident: dict[int, list[dict[str, Any]]] = {}
    for alert in alerts:
        by_incident.setdefault(alert.incident_id, []).append(_alert_row(alert, responses[alert.id]))
    incidents = []
    for incident in open_incidents:
        rows = by_incident.get(incident.id, [])
        latest = rows[-1] if rows else None
        incidents.append({"id": incident.id, "name": incident.name, "created_at": incident.created_at,
                          "drill": bool(rows) and all(r["drill"] for r in rows), "alerts": rows, "latest": latest})
    waiting = session.scalars(select(Alert).where(Alert.status.in_(
        (AlertStatus.SCHEDULED, AlertStatus.AWAITING_APPROVAL))).order_by(Alert.scheduled_for, Alert.id)).all()
    closed = session.scalars(select(Incident).where(Incident.status != "open")
                             .order_by(Incident.id.desc()).limit(closed_limit)).all()
    return {"incidents": [i for i in incidents if i["alerts"]],
            "live": [i for i in incidents if i["alerts"] and not i["drill"]],
            "drills": [i for i in incidents if i["alerts"] and i["drill"]],
            "waiting": [_alert_row(a, {}) for a in waiting],
            "closed": [{"id": i.id, "name": i.name, "closed_at": i.closed_at} for i in closed]}
