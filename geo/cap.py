"""CAP 1.2 `<polygon>` and `<circle>` strings (OASIS CAP 1.2, §3.2.4): latitude first, "lat,lon".

- polygon: whitespace-separated "lat,lon" pairs; at least 4, the first and last the same. Both rules
  are enforced here (an unclosed CAP polygon is an error, unlike GeoJSON where we close it).
- circle: "lat,lon radius" with the radius in KILOMETRES; 0 (a point) is refused.
Spaces around the comma of a pair are tolerated. Errors name the pair by its 1-based number.
"""
from __future__ import annotations

import re
from typing import Any

import numpy as np

from geo.circles import circle
from geo.coords import cap_number, cap_pair
from geo.errors import InvalidCoordinates, InvalidShape, TooComplex, UnsupportedGeometry
from geo.limits import MAX_VERTICES
from geo.polygons import build_area
from geo.shapes import Geofence

_COMMA = re.compile(r"\s*,\s*")


def from_cap_polygon(text: Any, *, field: str = "cap_polygon") -> Geofence:
    """A geofence from a CAP polygon string such as "38.47,-120.14 38.34,-119.95 ... 38.47,-120.14"."""
    pairs = _tokens(text, field, "a CAP polygon")
    if len(pairs) > MAX_VERTICES:
        raise TooComplex(field, f"more than {MAX_VERTICES:,} points")
    if len(pairs) < 4:
        raise InvalidShape(field, f"a CAP polygon needs at least 4 lat,lon pairs (the first repeated last), got {len(pairs)}")
    points = np.empty((len(pairs), 2), dtype=np.float64)
    for i, pair in enumerate(pairs):
        lat, lon = cap_pair(pair, field, f"pair {i + 1}")
        points[i] = lon, lat
    area, notes = build_area([("", [("", points)])], field=field, strict=True)
    return Geofence(area=area, warnings=tuple(notes), validate=False)


def from_cap_circle(text: Any, *, field: str = "cap_circle") -> Geofence:
    """A geofence from a CAP circle string "lat,lon radius_km", e.g. "32.9525,-115.5527 2.5"."""
    tokens = _tokens(text, field, "a CAP circle")
    if len(tokens) != 2:
        raise InvalidCoordinates(field, f"expected 'lat,lon radius_km' (e.g. '32.9525,-115.5527 2.5'), got {text[:60]!r}")
    lat, lon = cap_pair(tokens[0], field, "centre")
    radius_km = cap_number(tokens[1], field, "radius", "the radius (km)")
    return Geofence(circles=(circle(lat, lon, radius_km * 1000.0, field, "km", "radius"),))


def _tokens(text: Any, field: str, what: str) -> list[str]:
    if not isinstance(text, str):
        raise UnsupportedGeometry(field, f"{what} must be a string, got {type(text).__name__}")
    tokens = _COMMA.sub(",", text.strip()).split()
    if not tokens:
        raise InvalidShape(field, f"{what} is empty")
    return tokens
