"""Who an alert reaches: checking a target and resolving it to a sorted set of recipient ids.

A target unites its parts, then removes `exclude` (itself a target):

    {"groups": [names], "recipients": [external ids], "zones": [zone names],
     "geometry": <GeoJSON>, "circle": {"lat", "lon", "radius_m"}, "cap_polygon": "lat,lon ...",
     "cap_circle": "lat,lon radius_km", "location_labels": [labels], "alerts": [alert ids],
     "cap_areas": [CAP <area> objects], "exclude": <target>}

`alerts` names alerts already sent and means the people they reached (their `alert_recipients`, as
written when they went out, not their target read again): a correction or false alarm reaches
exactly the people of the alert it follows, not those added to its groups since.

Geographic parts select people with a location inside the area (only locations with one of
`location_labels`, when given); a person with several locations inside counts once. Resolution
gives a sorted numpy array of ids, so unions and exclusions are set operations on integers and the
dispatcher can walk the array in chunks, fetching the rows of each chunk as it goes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import Session

import geo
from alerting.cap import areas as cap_areas
from alerting.directory import group_ids_by_name
from alerting.errors import ValidationError
from alerting.models import (Alert, AlertRecipient, OptOut, PushSubscription, Recipient, RecipientGroup,
                             RecipientLocation, Zone)
from alerting.sql import id_in
from alerting.statuses import Channel

NAME_PARTS = ("groups", "recipients", "zones", "location_labels")
AREA_PARTS = ("geometry", "circle", "cap_polygon", "cap_circle")
ALERTS_PART = "alerts"
TARGET_KEYS = (*NAME_PARTS, *AREA_PARTS, ALERTS_PART, "exclude")
#: CAP <area> blocks as imported (polygons, circles, geocodes): alerting/cap/areas.py.
CAP_AREAS_PART = "cap_areas"
TARGET_KEYS = (*TARGET_KEYS, CAP_AREAS_PART)
EMPTY = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True, slots=True)
class TargetRow:
    id: int
    phone: str | None
    email: str | None


def parse_area(part: str, value: Any, path: str) -> geo.Geofence:
    """One geographic target part as a Geofence; a bad one raises ValidationError naming it."""
    parser = {"geometry": geo.from_geojson, "circle": geo.from_circle,
              "cap_polygon": geo.from_cap_polygon, "cap_circle": geo.from_cap_circle}[part]
    try:
        return parser(value, field=f"{path}.{part}")
    except geo.GeofenceError as exc:
        raise ValidationError(str(exc), field=getattr(exc, "field", f"{path}.{part}")) from None


def normalize_target(session: Session, target: Any, *, path: str = "target",
                     warnings: list[str] | None = None) -> dict[str, Any]:
    """Check a target and return it in canonical form; raise ValidationError naming the bad part.

    Leniencies (a ring closed for you, a self-intersecting polygon repaired) are appended to
    `warnings`, so the operator sees them before sending.
    """
    warnings = warnings if warnings is not None else []
    if not isinstance(target, dict):
        raise ValidationError(f"{path} must be an object such as {{\"groups\": [\"Staff\"]}}", field=path)
    unknown_keys = sorted(set(target) - set(TARGET_KEYS))
    if unknown_keys:
        raise ValidationError(f"{path} has unknown part(s) {', '.join(unknown_keys)}; "
                              f"known parts are {', '.join(TARGET_KEYS)}", field=f"{path}.{unknown_keys[0]}")
    result: dict[str, Any] = {}
    for key in NAME_PARTS:
        names = target.get(key, [])
        if not isinstance(names, list) or not all(isinstance(n, str) and n.strip() for n in names):
            raise ValidationError(f"{path}.{key} must be a list of names", field=f"{path}.{key}")
        if names:
            result[key] = sorted({n.strip().lower() if key == "location_labels" else n.strip() for n in names})
    _check_names_exist(session, result, path)
    for key in AREA_PARTS:
        if target.get(key) is not None:
            fence = parse_area(key, target[key], path)
            warnings.extend(fence.warnings)
            warnings.extend(geo.warn_if_suspicious(fence))
            result[key] = target[key]
    if target.get(ALERTS_PART):
        result[ALERTS_PART] = _sent_alert_ids(session, target[ALERTS_PART], f"{path}.{ALERTS_PART}")
    if target.get(CAP_AREAS_PART) is not None:
        result[CAP_AREAS_PART] = cap_areas.check(target[CAP_AREAS_PART], f"{path}.{CAP_AREAS_PART}")
        fence = cap_areas.geofence(result[CAP_AREAS_PART], f"{path}.{CAP_AREAS_PART}")
        if fence is not None:
            warnings.extend(fence.warnings)
            warnings.extend(geo.warn_if_suspicious(fence))
    if target.get("exclude"):
        result["exclude"] = normalize_target(session, target["exclude"], path=f"{path}.exclude", warnings=warnings)
    if not any(result.get(k) for k in ("groups", "recipients", "zones", *AREA_PARTS, ALERTS_PART, CAP_AREAS_PART)):
        raise ValidationError(f"{path} names no one: give groups, recipients, zones, an area or sent alerts",
                              field=path)
    return result


def _sent_alert_ids(session: Session, value: Any, field: str) -> list[int]:
    """The `alerts` part: ids of alerts whose send has started (only those have recipients)."""
    if not isinstance(value, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in value):
        raise ValidationError(f"{field} must be a list of alert ids", field=field)
    ids = sorted(set(value))
    sent = set(session.scalars(select(Alert.id).where(Alert.id.in_(ids), Alert.send_requested_at.is_not(None))))
    for alert_id in ids:
        if alert_id not in sent:
            exists = session.get(Alert, alert_id) is not None
            raise ValidationError(f"alert {alert_id} was never sent, so it reached no one" if exists
                                  else f"no alert with id {alert_id}", field=field)
    return ids


def _check_names_exist(session: Session, result: dict[str, Any], path: str) -> None:
    lookups = {"groups": lambda names: group_ids_by_name(session, names).keys(),
               "recipients": lambda names: set(session.scalars(select(Recipient.external_id)
                                                               .where(Recipient.external_id.in_(names)))),
               "zones": lambda names: set(session.scalars(select(Zone.name).where(Zone.name.in_(names))))}
    for key, found in lookups.items():
        if key in result:
            missing = sorted(set(result[key]) - set(found(result[key])))
            if missing:
                raise ValidationError(f"unknown {key[:-1]} {missing[0]!r}", field=f"{path}.{key}")


def geofence_of(session: Session, target: dict[str, Any]) -> geo.Geofence | None:
    """The union of a target's zones and drawn areas (not of its exclude), or None if it has none."""
    fences = [parse_area(key, target[key], "target") for key in AREA_PARTS if target.get(key) is not None]
    if target.get(CAP_AREAS_PART) and (cap_fence := cap_areas.geofence(target[CAP_AREAS_PART])) is not None:
        fences.append(cap_fence)
    if target.get("zones"):
        for zone in session.scalars(select(Zone).where(Zone.name.in_(target["zones"]))):
            (key, value), = zone.area.items()
            fences.append(parse_area(key, value, f"zones.{zone.name}"))
    return geo.union(*fences) if fences else None


def _ids(session: Session, query: Select[Any]) -> np.ndarray:
    """The ids a one-column query returns, as a sorted unique array. Core execution and `scalars`:
    reading 100,000 ids through the ORM's Row objects took a third more (part of the time to the
    first message of a large alert)."""
    return np.unique(np.fromiter(session.connection().execute(query).scalars(), dtype=np.int64))


def _inside(session: Session, fence: geo.Geofence, labels: list[str] | None) -> np.ndarray:
    """Ids of people with a (suitably labelled) location inside the fence, via a bounding-box prefilter."""
    found = [EMPTY]
    for min_lat, min_lon, max_lat, max_lon in fence.boxes():
        query = select(RecipientLocation.recipient_id, RecipientLocation.lat, RecipientLocation.lon).where(
            RecipientLocation.lat.between(min_lat, max_lat), RecipientLocation.lon.between(min_lon, max_lon))
        if labels:
            query = query.where(RecipientLocation.label.in_(labels))
        rows = [tuple(r) for r in session.execute(query)]  # numpy reads plain tuples far faster than Rows
        if rows:
            data = np.array(rows, dtype=np.float64)
            found.append(data[fence.contains(data[:, 1], data[:, 2]), 0].astype(np.int64))
    return np.unique(np.concatenate(found))


def resolve(session: Session, target: dict[str, Any]) -> np.ndarray:
    """Every recipient id the (normalized) target reaches: sorted, unique."""
    parts = [EMPTY]
    if target.get("groups"):
        ids = list(group_ids_by_name(session, target["groups"]).values())
        parts.append(_ids(session, select(RecipientGroup.recipient_id).where(RecipientGroup.group_id.in_(ids))))
    if target.get("recipients"):
        parts.append(_ids(session, select(Recipient.id).where(Recipient.external_id.in_(target["recipients"]))))
    if target.get(ALERTS_PART):
        parts.append(_ids(session, select(AlertRecipient.recipient_id)
                                .where(AlertRecipient.alert_id.in_(target[ALERTS_PART]))))
    fence = geofence_of(session, target)
    if fence is not None:
        parts.append(_inside(session, fence, target.get("location_labels")))
    result = np.unique(np.concatenate(parts))
    if target.get("exclude"):
        result = np.setdiff1d(result, resolve(session, target["exclude"]), assume_unique=True)
    return result


def count(session: Session, target: dict[str, Any]) -> int:
    return int(resolve(session, target).size)


def first_ids(session: Session, target: dict[str, Any], limit: int) -> np.ndarray | None:
    """The `limit` lowest ids the target reaches, without resolving the rest: what lets a dispatch
    send its first batch before it has read a county's worth of ids. Only for targets made of
    groups, named people and earlier alerts (then the union's lowest ids are among each part's
    lowest); None for areas and exclusions, which only a full resolve can answer."""
    if target.get("exclude") or geofence_of(session, target) is not None:
        return None
    parts = [EMPTY]
    if target.get("groups"):
        ids = list(group_ids_by_name(session, target["groups"]).values())
        parts.append(_ids(session, select(RecipientGroup.recipient_id).where(RecipientGroup.group_id.in_(ids))
                          .order_by(RecipientGroup.recipient_id).limit(limit * max(len(ids), 1))))
    if target.get("recipients"):
        parts.append(_ids(session, select(Recipient.id).where(Recipient.external_id.in_(target["recipients"]))
                          .order_by(Recipient.id).limit(limit)))
    if target.get(ALERTS_PART):
        parts.append(_ids(session, select(AlertRecipient.recipient_id)
                          .where(AlertRecipient.alert_id.in_(target[ALERTS_PART]))
                          .order_by(AlertRecipient.recipient_id).limit(limit * len(target[ALERTS_PART]))))
    return np.unique(np.concatenate(parts))[:limit]


def reaches_anyone(session: Session, target: dict[str, Any]) -> bool:
    """Whether the (normalized) target reaches at least one person: what "send" must check before
    it starts. One `LIMIT 1` query per part instead of resolving a county's worth of ids in the
    send request, which delayed the first message of a 100,000-person alert by about half a second.
    A target with exclusions is resolved in full: only the difference can say."""
    if target.get("exclude"):
        return count(session, target) > 0
    exists: list[Select[Any]] = []
    if target.get("groups"):
        ids = list(group_ids_by_name(session, target["groups"]).values())
        exists.append(select(RecipientGroup.recipient_id).where(RecipientGroup.group_id.in_(ids)))
    if target.get("recipients"):
        exists.append(select(Recipient.id).where(Recipient.external_id.in_(target["recipients"])))
    if target.get(ALERTS_PART):
        exists.append(select(AlertRecipient.recipient_id).where(AlertRecipient.alert_id.in_(target[ALERTS_PART])))
    if any(session.scalar(query.limit(1)) is not None for query in exists):
        return True
    fence = geofence_of(session, target)
    return fence is not None and _inside(session, fence, target.get("location_labels")).size > 0


def rows_for(session: Session, ids: np.ndarray) -> list[TargetRow]:
    """Contact details of the given recipients, in id order."""
    if not len(ids):
        return []
    return [TargetRow(*r) for r in session.connection().execute(
        select(Recipient.id, Recipient.phone, Recipient.email).where(id_in(session, Recipient.id, ids))
        .order_by(Recipient.id))]


def contacts_per_channel(session: Session, ids: np.ndarray) -> dict[str, int]:
    """How many of these people can be reached on each channel (SMS excludes opted-out numbers)."""
    totals = {str(c): 0 for c in Channel}
    if not len(ids):
        return totals
    chosen = id_in(session, Recipient.id, ids)
    phones, emails = session.execute(select(func.count(Recipient.phone), func.count(Recipient.email)).where(chosen)).one()
    opted_out = session.scalar(select(func.count()).select_from(Recipient).join(
        OptOut, and_(OptOut.address == Recipient.phone, OptOut.channel == Channel.SMS)).where(chosen)) or 0
    totals[Channel.SMS] = phones - opted_out
    totals[Channel.VOICE] = phones
    totals[Channel.EMAIL] = emails
    totals[Channel.PUSH] = session.scalar(select(func.count(func.distinct(PushSubscription.recipient_id))).where(
        id_in(session, PushSubscription.recipient_id, ids), PushSubscription.gone_at.is_(None))) or 0
    return totals


def preview(session: Session, target: Any, *, list_external_ids: bool = False) -> dict[str, Any]:
    """What a target reaches before anything is sent: people and contacts per channel."""
    warnings: list[str] = []
    normalized = normalize_target(session, target, warnings=warnings)
    ids = resolve(session, normalized)
    result: dict[str, Any] = {"people": int(ids.size), "contacts": contacts_per_channel(session, ids)}
    if ids.size == 0:
        warnings.append("the target reaches no one: check the area is where you meant it "
                        "(GeoJSON is [longitude, latitude]; CAP is 'latitude,longitude')")
    if list_external_ids:
        result["external_ids"] = sorted(session.scalars(select(Recipient.external_id).where(
            id_in(session, Recipient.id, ids)))) if len(ids) else []
    result["warnings"] = warnings
    return result
