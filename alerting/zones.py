"""Named zones: reusable areas (Building 12, the river district) that targets refer to by name."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerting import audit, targeting
from alerting.errors import Conflict, NotFound, ValidationError
from alerting.models import Zone
from alerting.timefmt import iso

MAX_NAME = 200


def create_zone(session: Session, data: Any, *, actor: str, warnings: list[str] | None = None) -> Zone:
    """`{"name", "description"?, and exactly one of "geometry" | "circle" | "cap_polygon" | "cap_circle"}`."""
    if not isinstance(data, dict):
        raise ValidationError("the zone must be a JSON object")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        raise ValidationError(f"name is required (at most {MAX_NAME} characters)", field="name")
    name = name.strip()
    areas = [key for key in targeting.AREA_PARTS if data.get(key) is not None]
    if len(areas) != 1:
        raise ValidationError(f"give exactly one of {', '.join(targeting.AREA_PARTS)}",
                              field=areas[1] if len(areas) > 1 else "geometry")
    key = areas[0]
    fence = targeting.parse_area(key, data[key], "zone")
    if warnings is not None:
        warnings.extend(fence.warnings)
    if session.scalar(select(Zone.id).where(Zone.name == name)) is not None:
        raise Conflict(f"a zone named {name!r} already exists")
    zone = Zone(name=name, description=str(data.get("description") or ""), area={key: data[key]})
    session.add(zone)
    session.flush()
    audit.record(session, actor, "zone.create", "zone", zone.id, name=name, kind=key)
    return zone


def get_zone(session: Session, name: str) -> Zone:
    zone = session.scalar(select(Zone).where(Zone.name == name))
    if zone is None:
        raise NotFound(f"no zone named {name!r}")
    return zone


def get_zone_by_id(session: Session, zone_id: int) -> Zone:
    zone = session.get(Zone, zone_id)
    if zone is None:
        raise NotFound(f"no zone with id {zone_id}")
    return zone


def zone_as_dict(session: Session, zone: Zone) -> dict[str, Any]:
    (key, value), = zone.area.items()
    fence = targeting.parse_area(key, value, "zone")
    return {"id": zone.id, "name": zone.name, "description": zone.description, **zone.area,
            "display": fence.to_geojson(), "created_at": iso(zone.created_at)}


def list_zones(session: Session) -> list[dict[str, Any]]:
    return [{"id": z.id, "name": z.name, "description": z.description, "kind": next(iter(z.area))}
            for z in session.scalars(select(Zone).order_by(Zone.name))]


def delete_zone(session: Session, name: str, *, actor: str) -> None:
    zone = get_zone(session, name)
    session.delete(zone)
    audit.record(session, actor, "zone.delete", "zone", zone.id, name=name)


def people_inside(session: Session, name: str) -> int:
    """How many people have a location inside the named zone (what a target naming it reaches)."""
    return targeting.count(session, {"zones": [name]})
