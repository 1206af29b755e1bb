"""Every Tocsin alert as a CAP 1.2 document, valid against the OASIS schema.

- identifier `tocsin-<org>-<alert id>` (stable), sender from the public URL's host (else the org),
  sent = when the send was requested (a draft: when it was created), in UTC;
- status: a drill is `Exercise`, an unsent draft `Draft`, anything else `Actual`;
- msgType: a follow-up is `Update` (a cancellation or false alarm: `Cancel`) with `<references>` to
  the alert it follows; otherwise `Alert`;
- one `<info>` for the alert's language and one per translation;
- the target's areas as `<area>`: imported CAP areas as they came, CAP strings verbatim, GeoJSON
  polygons and circles converted to CAP's "lat,lon" order and kilometres, zones by name. Holes in a
  polygon cannot be said in CAP and are left out; groups and people are named only by group, in
  `areaDesc`, and an `exclude` is not expressed.
What an imported alert carried (category, event, urgency, certainty, times, parameters, geocodes,
resources, web, contact) is written back, so export -> import keeps it.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

import geo
from alerting.cap.document import NS_12, CapArea, CapInfo, CapMessage
from alerting.cap.imports import info_message, primary_info
from alerting.models import Alert, Zone
from alerting.statuses import AlertStatus
from alerting.timefmt import as_utc

CONTENT_TYPE = "application/cap+xml"
#: follow_kind -> msgType (console follow-ups: correction, false alarm, update, all clear).
FOLLOW_MSG_TYPES = {"cancel": "Cancel", "false_alarm": "Cancel"}


@dataclass(frozen=True)
class Origin:
    """Who we are in CAP: built once from settings by the caller."""
    org_name: str
    public_url: str = ""
    contact: str | None = None

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.org_name.lower()).strip("-") or "org"

    @property
    def sender(self) -> str:
        host = urlsplit(self.public_url).hostname if self.public_url else None
        return f"tocsin@{host}" if host else f"tocsin@{self.slug}"

    def identifier(self, alert_id: int) -> str:
        return f"tocsin-{self.slug}-{alert_id}"


def cap_time(moment: datetime) -> str:
    """CAP's dateTime: seconds, an explicit offset (the schema refuses "Z")."""
    return as_utc(moment).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def sent_of(alert: Alert) -> str:
    return cap_time(alert.send_requested_at or alert.created_at)


def to_message(session: Session, alert: Alert, origin: Origin) -> CapMessage:
    """The alert as a `CapMessage` (see the module docstring for each choice)."""
    base = CapMessage.from_json(alert.cap) if alert.cap else None
    base_primary = primary_info(base) if base else None
    status = "Exercise" if alert.drill else ("Draft" if alert.status == AlertStatus.DRAFT else "Actual")
    msg_type, references = "Alert", None
    if alert.follows_alert_id is not None:
        followed = session.get(Alert, alert.follows_alert_id)
        if followed is not None:
            msg_type = FOLLOW_MSG_TYPES.get(alert.follow_kind or "", "Update")
            references = f"{origin.sender},{origin.identifier(followed.id)},{sent_of(followed)}"
    areas = target_areas(session, alert.target or {}, origin)
    infos = [_info(base_primary, base_primary.language if base_primary else "en-US", alert.title, alert.message,
                   alert, areas, origin)]
    for lang, translation in sorted((alert.translations or {}).items()):
        base_info = next((i for i in (base.info if base else []) if i.lang == lang), None)
        infos.append(_info(base_info, base_info.language if base_info else lang,
                           translation.get("title") or alert.title, translation["message"], alert, areas, origin))
    scope = base.scope if base else "Public"
    return CapMessage(
        identifier=origin.identifier(alert.id), sender=origin.sender, sent=sent_of(alert), status=status,
        msgType=msg_type, scope=scope, source=base.source if base else None,
        restriction=(base.restriction or "restricted") if scope == "Restricted" and base else None,
        addresses=(base.addresses or "") if scope == "Private" and base else None,
        code=list(base.code) if base else [],
        note=base.note if base and base.note else ("Exercise: a drill, not a real emergency" if alert.drill else None),
        references=references, incidents=f"tocsin-{origin.slug}-incident-{alert.incident_id}", info=infos)


def _info(base: CapInfo | None, language: str, title: str, message: str, alert: Alert, areas: list[CapArea],
          origin: Origin) -> CapInfo:
    if base is not None and info_message(base).strip() == message.strip():
        description, instruction = base.description, base.instruction
    else:
        description, instruction = message, None
    return CapInfo(
        language=language, category=list(base.category) if base else ["Safety"],
        event=base.event if base else alert.incident.name or title,
        responseType=list(base.responseType) if base else [],
        urgency=base.urgency if base else "Immediate", severity=alert.severity.capitalize(),
        certainty=base.certainty if base else "Likely", audience=base.audience if base else None,
        eventCode=[list(p) for p in base.eventCode] if base else [],
        effective=base.effective if base else None, onset=base.onset if base else None,
        expires=base.expires if base else None, senderName=base.senderName if base else origin.org_name,
        headline=title, description=description, instruction=instruction, web=base.web if base else None,
        contact=base.contact if base else origin.contact,
        parameter=[list(p) for p in base.parameter] if base else [], resource=list(base.resource) if base else [],
        area=areas)


# --- areas -----------------------------------------------------------------------------------------

def _num(value: float) -> str:
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _polygons_of(fence: geo.Geofence) -> list[str]:
    """Each polygon's outer ring as a CAP polygon (lat,lon pairs, closed)."""
    if fence.area is None:
        return []
    return [" ".join(f"{_num(lat)},{_num(lon)}" for lon, lat in polygon.exterior.coords)
            for polygon in fence.area.geoms]


def _circles_of(fence: geo.Geofence) -> list[str]:
    return [f"{_num(c.lat)},{_num(c.lon)} {_num(c.radius_m / 1000.0)}" for c in fence.circles]


def _area_of(key: str, value: Any, desc: str) -> CapArea:
    if key == "cap_polygon":
        return CapArea(areaDesc=desc, polygon=[" ".join(value.split())])
    if key == "cap_circle":
        return CapArea(areaDesc=desc, circle=[" ".join(value.split())])
    fence = geo.from_geojson(value) if key == "geometry" else geo.from_circle(value)
    return CapArea(areaDesc=desc, polygon=_polygons_of(fence), circle=_circles_of(fence))


def target_areas(session: Session, target: dict[str, Any], origin: Origin) -> list[CapArea]:
    """The target's places as CAP areas (see the module docstring for what cannot be said)."""
    areas: list[CapArea] = []
    for entry in target.get("cap_areas") or []:
        if entry.get("polygon") or entry.get("circle") or entry.get("geocode") or entry.get("areaDesc"):
            areas.append(CapArea(areaDesc=entry.get("areaDesc") or "", polygon=list(entry.get("polygon") or []),
                                 circle=list(entry.get("circle") or []),
                                 geocode=[list(p) for p in entry.get("geocode") or []],
                                 altitude=entry.get("altitude"), ceiling=entry.get("ceiling")))
    for key in ("geometry", "circle", "cap_polygon", "cap_circle"):
        if target.get(key) is not None:
            areas.append(_area_of(key, target[key], "Area drawn for this alert"))
    if target.get("zones"):
        for zone in session.scalars(select(Zone).where(Zone.name.in_(target["zones"])).order_by(Zone.name)):
            (key, value), = zone.area.items()
            areas.append(_area_of(key, value, zone.name))
    if not areas and target.get("groups"):
        areas.append(CapArea(areaDesc=f"{origin.org_name}: {', '.join(target['groups'])}"))
    return areas


# --- XML -------------------------------------------------------------------------------------------

_ORDER = ("identifier", "sender", "sent", "status", "msgType", "source", "scope", "restriction", "addresses",
          "code", "note", "references", "incidents")
_INFO_ORDER = ("language", "category", "event", "responseType", "urgency", "severity", "certainty", "audience",
               "eventCode", "effective", "onset", "expires", "senderName", "headline", "description",
               "instruction", "web", "contact", "parameter")
_RESOURCE_ORDER = ("resourceDesc", "mimeType", "size", "uri", "derefUri", "digest")
_AREA_ORDER = ("areaDesc", "polygon", "circle", "geocode", "altitude", "ceiling")
_PAIRS = {"eventCode", "parameter", "geocode"}


def _q(name: str) -> str:
    return f"{{{NS_12}}}{name}"


def _add(parent: ET.Element, name: str, value: Any) -> None:
    if value is None:
        return
    for item in value if isinstance(value, list) else [value]:
        element = ET.SubElement(parent, _q(name))
        if name in _PAIRS:
            ET.SubElement(element, _q("valueName")).text = item[0]
            ET.SubElement(element, _q("value")).text = item[1]
        else:
            element.text = str(item)


def to_xml(message: CapMessage) -> bytes:
    """The message as a UTF-8 CAP 1.2 document."""
    root = ET.Element(_q("alert"))
    for name in _ORDER:
        _add(root, name, getattr(message, name))
    for info in message.info:
        element = ET.SubElement(root, _q("info"))
        for name in _INFO_ORDER:
            _add(element, name, getattr(info, name))
        for resource in info.resource:
            child = ET.SubElement(element, _q("resource"))
            for name in _RESOURCE_ORDER:
                _add(child, name, getattr(resource, name))
        for area in info.area:
            child = ET.SubElement(element, _q("area"))
            for name in _AREA_ORDER:
                _add(child, name, getattr(area, name))
    ET.indent(root)
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True, default_namespace=NS_12)


def export_alert(session: Session, alert: Alert, origin: Origin) -> bytes:
    return to_xml(to_message(session, alert, origin))
