"""Errors raised by the geometry parsers.

Every parser raises a `GeofenceError` (a `ValueError`) that names the offending field, so the
console can point the user at it. The subclasses say what kind of problem it was::

    ValueError
    └── GeofenceError                 .field, .message, .path
        ├── UnsupportedGeometry       not an area: Point, LineString, an unknown type, a non-object
        ├── InvalidCoordinates        not a number, NaN/infinite, out of range, malformed pair
        ├── InvalidShape              too few positions, unclosed CAP ring, empty or zero area
        └── TooComplex                more vertices or nesting than we accept

`.field` is the caller's field name, extended for named members (``"target.circle.radius_m"``);
`.path` locates the problem inside a GeoJSON object (``"coordinates[0][5]"``) or a CAP string
(``"pair 3"``), or is ``""``. ``str(error)`` reads ``"<field>: <path>: <message>"``.
"""
from __future__ import annotations


class GeofenceError(ValueError):
    """A target area that cannot be used; `field` names the input that is wrong."""

    def __init__(self, field: str, message: str, *, path: str = "") -> None:
        self.field = field
        self.message = message
        self.path = path
        where = f"{field}: {path}" if path else field
        super().__init__(f"{where}: {message}")


class UnsupportedGeometry(GeofenceError):
    """The input is not something that describes an area."""


class InvalidCoordinates(GeofenceError):
    """A coordinate is not a finite number, is out of range, or is badly written."""


class InvalidShape(GeofenceError):
    """The coordinates are readable but do not make a usable area."""


class TooComplex(GeofenceError):
    """The input is larger or deeper than the limits in `geo.limits`."""
