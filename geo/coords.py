"""Checks for single coordinate values, shared by the GeoJSON, circle and CAP parsers."""
from __future__ import annotations

import math
import re
from typing import Any

from geo.errors import InvalidCoordinates

# A plain decimal number as CAP writes it: no NaN, no infinity, no underscores, no hex.
_CAP_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def number(value: Any, field: str, path: str, what: str) -> float:
    """`value` as a finite float, or an `InvalidCoordinates` naming `what` it should have been."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidCoordinates(field, f"{what} must be a number, got {_describe(value)}", path=path)
    if isinstance(value, int):
        if abs(value) > 1e300:
            raise InvalidCoordinates(field, f"{what} is not a usable number (an integer of {value.bit_length()} bits)", path=path)
        return float(value)
    if not math.isfinite(value):
        raise InvalidCoordinates(field, f"{what} must be a finite number, got {value!r}", path=path)
    return value


def lat_lon(lat: Any, lon: Any, field: str, path: str, *, hint: str = "") -> tuple[float, float]:
    """A checked (lat, lon) pair in degrees; `hint` is appended to a range error."""
    lat_f = number(lat, field, path, "latitude")
    lon_f = number(lon, field, path, "longitude")
    if not -90.0 <= lat_f <= 90.0:
        raise InvalidCoordinates(field, f"latitude {lat_f!r} is outside [-90, 90]{hint}", path=path)
    if not -180.0 <= lon_f <= 180.0:
        raise InvalidCoordinates(field, f"longitude {lon_f!r} is outside [-180, 180]{hint}", path=path)
    return lat_f, lon_f


def cap_number(text: str, field: str, path: str, what: str) -> float:
    """A number written in a CAP string."""
    if not _CAP_NUMBER.fullmatch(text):
        raise InvalidCoordinates(field, f"{what} must be a decimal number, got {text[:40]!r}", path=path)
    value = float(text)
    if not math.isfinite(value):
        raise InvalidCoordinates(field, f"{what} is too large: {text[:40]!r}", path=path)
    return value


def cap_pair(text: str, field: str, path: str) -> tuple[float, float]:
    """A CAP "lat,lon" pair (latitude first, unlike GeoJSON) as a checked (lat, lon)."""
    pieces = text.split(",")
    if len(pieces) != 2:
        raise InvalidCoordinates(field, f"expected 'lat,lon', got {text[:40]!r}", path=path)
    lat = cap_number(pieces[0], field, path, "latitude")
    lon = cap_number(pieces[1], field, path, "longitude")
    return lat_lon(lat, lon, field, path, hint=" (CAP pairs are lat,lon)")


def _describe(value: Any) -> str:
    if isinstance(value, (str, bytes)):
        return f"{type(value).__name__} {value[:40]!r}"
    if value is None:
        return "null"
    return type(value).__name__
