"""Numbers the geometry code relies on, each with the reason for its value."""
from __future__ import annotations

# Mean Earth radius (IUGG R1), the sphere on which circles are measured. Against the WGS 84
# ellipsoid this errs by at most about 0.5 % of a distance: ~25 m on a 5 km radius.
EARTH_RADIUS_M = 6_371_008.8

# Smallest circle and smallest polygon area we accept: below a metre nobody can be located, and
# such shapes are almost always slips (a radius of 0.001 km typed as 0.001 m).
MIN_RADIUS_M = 1.0
MIN_AREA_M2 = 1.0

# Largest circle we accept: a regional alert; bigger areas should be drawn as polygons or zones.
MAX_RADIUS_M = 2_000_000.0

# Total vertices in one parsed input: bounds parsing time and memory for a request body.
MAX_VERTICES = 100_000

# GeometryCollections and FeatureCollections nested deeper than this are refused (RFC 7946 §3.1.8
# advises against nesting at all); guards the recursive parser against hostile input.
MAX_NESTING = 4

# Points this close to a polygon's edge (in degrees, about 0.1 mm) count as on it, hence inside:
# a point computed "on" a slanted edge is rarely exactly on it in floating point.
EDGE_TOLERANCE_DEG = 1e-9

# Extra margin around the boxes from `Geofence.boxes()` and the internal prefilter, in degrees
# (about 1 cm), so that rounding in a database or in our own box arithmetic never drops an edge point.
BOX_MARGIN_DEG = 1e-7

# Vertices of the polygon that stands in for a circle in `Geofence.to_geojson()` (display only).
CIRCLE_DISPLAY_SEGMENTS = 64

# `warn_if_suspicious` thresholds.
LARGE_AREA_KM2 = 1_000_000.0      # larger than Egypt: more likely a drawing mistake than a target
SMALL_AREA_M2 = 1_000.0            # a few houses at most: perhaps kilometres were read as metres
ANTARCTIC_LAT = -60.0              # wholly south of this, swapped lat/lon is likelier than a real target
