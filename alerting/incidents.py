"""Accountability belongs to the incident: a person's answer to one alert stands for the next.

When an update or an all-clear goes out in the same incident, everyone it reaches starts with the
strongest answer they gave to the incident's earlier alerts: someone who said SAFE to the first
warning is not counted silent again (and escalation does not chase them), unless they answer again
(a later HELP always surfaces). The incident board rolls its alerts up per person.
"""
from __future__ import annotations

from typing import Any, Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerting.errors import NotFound
from alerting.models import Alert, AlertRecipient, Incident
from alerting.sql import id_in
from alerting.statuses import NO_RESPONSE, RESPONSE_RANK, ResponseKind
from alerting.timefmt import iso

KIND_BY_RANK = {rank: kind for kind, rank in RESPONSE_RANK.items()}


def earlier_answers(session: Session, alert_id: int, recipient_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Per person, the strongest answer to the incident's other alerts, as alert_recipients values."""
    incident_id = session.scalar(select(Alert.incident_id).where(Alert.id == alert_id))
    earlier = select(Alert.id).where(Alert.incident_id == incident_id, Alert.id != alert_id)
    rows = session.execute(
        select(AlertRecipient.recipient_id, func.max(AlertRecipient.response_rank),
               func.min(AlertRecipient.first_response_at), func.max(AlertRecipient.last_response_at))
        .where(AlertRecipient.alert_id.in_(earlier), AlertRecipient.response_rank > 0,
               id_in(session, AlertRecipient.recipient_id, recipient_ids))
        .group_by(AlertRecipient.recipient_id))
    return {rid: {"response": KIND_BY_RANK[rank], "response_rank": rank, "first_response_at": first,
                  "last_response_at": last} for rid, rank, first, last in rows}


def board(session: Session, incident_id: int) -> dict[str, Any]:
    """The incident with its alerts and, per person, their standing in its latest alert that reached them."""
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise NotFound(f"no incident with id {incident_id}")
    alerts = session.scalars(select(Alert).where(Alert.incident_id == incident_id).order_by(Alert.id)).all()
    standing: dict[int, str | None] = {}
    for recipient_id, response in session.execute(
            select(AlertRecipient.recipient_id, AlertRecipient.response)
            .where(AlertRecipient.alert_id.in_([a.id for a in alerts])).order_by(AlertRecipient.alert_id)):
        standing[recipient_id] = response  # the latest alert wins: it already carries earlier answers
    counts = {k: 0 for k in (*ResponseKind, NO_RESPONSE)}
    for response in standing.values():
        counts[response or NO_RESPONSE] += 1
    return {"id": incident.id, "name": incident.name, "status": incident.status,
            "created_at": iso(incident.created_at), "people": len(standing), "responses": counts,
            "alerts": [{"id": a.id, "title": a.title, "status": a.status, "drill": a.drill,
                        "send_requested_at": iso(a.send_requested_at)} for a in alerts]}
