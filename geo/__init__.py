"""Geographic targeting: geofences and which points lie inside them (pure geometry, no I/O).

Parse a target with `from_geojson`, `from_circle`, `from_cap_polygon` or `from_cap_circle` (each
raises `GeofenceError` naming the field), combine with `union`, then ask `Geofence.contains(lat, lon)`
for arrays of recipient positions; `Geofence.boxes()` gives boxes for a database prefilter.
"""
from geo.cap import from_cap_circle, from_cap_polygon
from geo.circles import from_circle
from geo.errors import GeofenceError, InvalidCoordinates, InvalidShape, TooComplex, UnsupportedGeometry
from geo.geojson import from_geojson
from geo.shapes import Geofence, union
from geo.sphere import Circle
from geo.suspicious import warn_if_suspicious

__all__ = [
    "Circle",
    "Geofence",
    "GeofenceError",
    "InvalidCoordinates",
    "InvalidShape",
    "TooComplex",
    "UnsupportedGeometry",
    "from_cap_circle",
    "from_cap_polygon",
    "from_circle",
    "from_geojson",
    "union",
    "warn_if_suspicious",
]
