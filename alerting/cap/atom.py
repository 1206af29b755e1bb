"""The public Atom feed of current alerts, which other systems (CAP aggregators, sirens, signage)
follow. Public means: sending or sent, not a drill, not cancelled or closed. Each entry links to the
alert's public CAP document (/cap/alerts/{id}.cap), which answers only for such alerts."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerting.cap.export import CONTENT_TYPE, Origin, cap_time, sent_of
from alerting.models import Alert
from alerting.statuses import AlertStatus

ATOM = "http://www.w3.org/2005/Atom"
ATOM_CONTENT_TYPE = "application/atom+xml"
MAX_ENTRIES = 100


def public_alerts(session: Session, limit: int = MAX_ENTRIES) -> list[Alert]:
    return list(session.scalars(select(Alert).where(
        Alert.status.in_((AlertStatus.SENDING, AlertStatus.SENT)), Alert.drill.is_(False),
        Alert.cancelled_at.is_(None), Alert.closed_at.is_(None)).order_by(Alert.id.desc()).limit(limit)))


def is_public(alert: Alert) -> bool:
    return (alert.status in (AlertStatus.SENDING, AlertStatus.SENT) and not alert.drill
            and alert.cancelled_at is None and alert.closed_at is None)


def cap_url(origin: Origin, alert_id: int) -> str:
    return f"{origin.public_url}/cap/alerts/{alert_id}.cap"


def feed(session: Session, origin: Origin) -> bytes:
    alerts = public_alerts(session)
    root = ET.Element("feed", {"xmlns": ATOM})  # unqualified names: ElementTree's default namespace refuses attributes

    def add(parent: ET.Element, name: str, text: str | None = None, **attrs: str) -> ET.Element:
        element = ET.SubElement(parent, name, attrs)
        element.text = text
        return element

    add(root, "id", f"{origin.public_url}/cap/feed.atom")
    add(root, "title", f"{origin.org_name}: current alerts")
    add(root, "updated", max((sent_of(a) for a in alerts), default=cap_time(datetime.now(timezone.utc))))
    add(root, "link", rel="self", href=f"{origin.public_url}/cap/feed.atom", type=ATOM_CONTENT_TYPE)
    add(add(root, "author"), "name", origin.org_name)
    for alert in alerts:
        entry = add(root, "entry")
        add(entry, "id", f"urn:tocsin:{origin.identifier(alert.id)}")
        add(entry, "title", alert.title)
        add(entry, "updated", sent_of(alert))
        add(entry, "summary", alert.message)
        add(entry, "category", term=alert.severity.capitalize())
        add(entry, "link", rel="alternate", type=CONTENT_TYPE, href=cap_url(origin, alert.id))
    ET.indent(root)
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True)
