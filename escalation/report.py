"""The accountability report: who needs help, who has not answered, who is safe.

Groups come in that order (need_help, no_response, safe, acknowledged), each sorted by external id.
People who need help come with what a responder needs: their contact and last known locations.
Once an alert is closed its report is frozen: replies arriving later are kept (Response.counted is
False) but no longer change anyone's state.
"""
from __future__ import annotations

import csv
import io
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerting.models import Alert, AlertRecipient, Recipient, RecipientLocation
from alerting.statuses import NO_RESPONSE, AlertStatus, ResponseKind
from alerting.timefmt import iso

GROUPS = (ResponseKind.NEED_HELP.value, NO_RESPONSE, ResponseKind.SAFE.value, ResponseKind.ACKNOWLEDGED.value)
CSV_COLUMNS = ("status", "external_id", "name", "last_response_at", "phone", "email", "locations")


def build(session: Session, alert: Alert) -> dict[str, Any]:
    groups: dict[str, list[dict[str, Any]]] = {g: [] for g in GROUPS}
    need_help: list[int] = []
    for state, external_id, name, phone, email in session.execute(
            select(AlertRecipient, Recipient.external_id, Recipient.name, Recipient.phone, Recipient.email)
            .join(Recipient, Recipient.id == AlertRecipient.recipient_id)
            .where(AlertRecipient.alert_id == alert.id).order_by(Recipient.external_id)):
        status = state.response or NO_RESPONSE
        person: dict[str, Any] = {"external_id": external_id, "name": name,
                                  "last_response_at": iso(state.last_response_at)}
        if status == ResponseKind.NEED_HELP:
            person.update(phone=phone, email=email, locations=[], recipient_id=state.recipient_id)
            need_help.append(state.recipient_id)
        groups.setdefault(status, []).append(person)
    if need_help:
        places: dict[int, list[dict[str, Any]]] = {}
        for loc in session.scalars(select(RecipientLocation).where(RecipientLocation.recipient_id.in_(need_help))
                                   .order_by(RecipientLocation.recorded_at.desc(), RecipientLocation.id.desc())):
            places.setdefault(loc.recipient_id, []).append(
                {"label": loc.label, "lat": loc.lat, "lon": loc.lon, "recorded_at": iso(loc.recorded_at)})
        for person in groups[ResponseKind.NEED_HELP]:
            person["locations"] = places.get(person.pop("recipient_id"), [])
    return {"alert": {"id": alert.id, "title": alert.title, "status": alert.status, "drill": alert.drill,
                      "send_requested_at": iso(alert.send_requested_at), "closed_at": iso(alert.closed_at)},
            "frozen": alert.status == AlertStatus.CLOSED,
            "counts": {g: len(groups[g]) for g in GROUPS},
            **groups}


def to_csv(report: dict[str, Any]) -> str:
    """One row per person, in the report's order; locations as 'label lat,lon' joined by ' | ', newest first."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for group in GROUPS:
        for p in report[group]:
            locations = " | ".join(f"{loc['label']} {loc['lat']},{loc['lon']}" for loc in p.get("locations", []))
            writer.writerow([group, p["external_id"], p["name"], p["last_response_at"] or "",
                             p.get("phone") or "", p.get("email") or "", locations])
    return out.getvalue()
