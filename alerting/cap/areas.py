"""The `cap_areas` target part: CAP `<area>` blocks kept as they came, polygons and circles united.

    {"cap_areas": [{"areaDesc": "...", "polygon": ["lat,lon ..."], "circle": ["lat,lon km"],
                    "geocode": [["UGC", "AKZ185"]]}, ...]}

An area described only by geocodes (UGC, SAME, FIPS codes) is kept, for export and for the
operator, but places no one: Tocsin has no geocode boundaries. A target whose areas are all of that
kind reaches no one, and sending it is refused until the operator picks people (dispatch).
"""
from __future__ import annotations

from typing import Any

import geo
from alerting.errors import ValidationError

MAX_AREAS = 100
_KEYS = {"areaDesc", "polygon", "circle", "geocode", "altitude", "ceiling"}


def check(value: Any, field: str) -> list[dict[str, Any]]:
    """The part in canonical form; raises ValidationError naming the bad area."""
    if not isinstance(value, list) or not value or len(value) > MAX_AREAS:
        raise ValidationError(f"{field} must be a list of 1 to {MAX_AREAS} CAP areas", field=field)
    result = []
    for i, area in enumerate(value):
        path = f"{field}[{i}]"
        if not isinstance(area, dict) or set(area) - _KEYS:
            raise ValidationError(f"{path} must be an object with {', '.join(sorted(_KEYS))}", field=path)
        clean: dict[str, Any] = {"areaDesc": str(area.get("areaDesc") or "")}
        for key in ("polygon", "circle"):
            items = area.get(key) or []
            if not isinstance(items, list) or not all(isinstance(x, str) for x in items):
                raise ValidationError(f"{path}.{key} must be a list of CAP strings", field=f"{path}.{key}")
            clean[key] = items
        geocode = area.get("geocode") or []
        if not isinstance(geocode, list) or not all(
                isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in geocode):
            raise ValidationError(f"{path}.geocode must be a list of [name, value] pairs", field=f"{path}.geocode")
        clean["geocode"] = geocode
        for key in ("altitude", "ceiling"):
            if area.get(key) is not None:
                clean[key] = str(area[key])
        result.append(clean)
    geofence(result, field)  # every polygon and circle must parse
    return result


def geofence(areas: list[dict[str, Any]], field: str = "cap_areas") -> geo.Geofence | None:
    """The union of every polygon and circle, or None when the areas have only geocodes."""
    fences = []
    for i, area in enumerate(areas):
        for key, parser in (("polygon", geo.from_cap_polygon), ("circle", geo.from_cap_circle)):
            for j, value in enumerate(area.get(key) or []):
                path = f"{field}[{i}].{key}[{j}]"
                try:
                    fences.append(parser(value, field=path))
                except geo.GeofenceError as exc:
                    raise ValidationError(str(exc), field=path) from None
    return geo.union(*fences) if fences else None
