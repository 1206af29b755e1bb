"""`from_circle`: a circle target from an object ``{"lat": .., "lon": .., "radius_m": ..}``."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from geo.coords import lat_lon, number
from geo.errors import InvalidCoordinates, InvalidShape, UnsupportedGeometry
from geo.limits import MAX_RADIUS_M, MIN_RADIUS_M
from geo.shapes import Geofence
from geo.sphere import Circle

_KEYS = ("lat", "lon", "radius_m")


def from_circle(obj: Any, *, field: str = "circle") -> Geofence:
    """A geodesic circle; errors name the member, e.g. ``"circle.radius_m"``. Unknown keys are refused."""
    if not isinstance(obj, Mapping):
        raise UnsupportedGeometry(field, f"expected an object with {', '.join(_KEYS)}, got {type(obj).__name__}")
    unknown = sorted(str(k) for k in obj if k not in _KEYS)
    if unknown:
        raise UnsupportedGeometry(field, f"unexpected keys {unknown}; a circle has {', '.join(_KEYS)} (radius in metres)")
    for key in _KEYS:
        if key not in obj:
            raise InvalidCoordinates(f"{field}.{key}", "is required")
    lat = number(obj["lat"], f"{field}.lat", "", "lat")
    lon = number(obj["lon"], f"{field}.lon", "", "lon")
    lat_lon(lat, 0.0, f"{field}.lat", "")
    lat_lon(0.0, lon, f"{field}.lon", "")
    radius = number(obj["radius_m"], f"{field}.radius_m", "", "radius_m")
    return Geofence(circles=(circle(lat, lon, radius, f"{field}.radius_m", "m"),))


def circle(lat: float, lon: float, radius_m: float, field: str, unit: str, path: str = "") -> Circle:
    """A `Circle` after checking the radius (already in metres); errors speak in `unit` ("m" or "km")."""
    scale = 1000.0 if unit == "km" else 1.0
    if radius_m <= 0.0:
        raise InvalidShape(
            field, f"the radius must be greater than 0 {unit}, got {radius_m / scale:g}: a circle of radius 0 "
            "is a single point and contains no one", path=path,
        )
    if radius_m < MIN_RADIUS_M:
        raise InvalidShape(
            field, f"the radius must be at least {MIN_RADIUS_M / scale:g} {unit}, got {radius_m / scale:g}: "
            "check the unit", path=path,
        )
    if radius_m > MAX_RADIUS_M:
        raise InvalidShape(
            field, f"the radius must be at most {MAX_RADIUS_M / scale:,.0f} {unit}, got {radius_m / scale:,.6g}; "
            "draw a polygon or choose a zone for a larger area", path=path,
        )
    return Circle(lat, lon, radius_m)
