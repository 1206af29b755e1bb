"""`warn_if_suspicious`: cheap heuristics about a parsed geofence, for the UI to show before sending.

Each rule is deliberately simple; none blocks an alert. Rules:
- area larger than `LARGE_AREA_KM2`: most likely a mis-drawn or mis-scaled shape;
- area smaller than `SMALL_AREA_M2`: perhaps metres were typed where kilometres were meant (CAP
  circles take kilometres, `from_circle` takes metres);
- everything south of `ANTARCTIC_LAT`: almost nobody lives there, while [lat, lon] written where
  GeoJSON expects [lon, lat] lands many places (all of the Americas' longitudes below -60) there.
Areas are computed on the sphere (`geo.sphere.equal_area_m2`; circles as their 64-gons), overlaps
counted once.
"""
from __future__ import annotations

from geo.limits import ANTARCTIC_LAT, LARGE_AREA_KM2, SMALL_AREA_M2
from geo.shapes import Geofence
from geo.sphere import equal_area_m2


def warn_if_suspicious(geofence: Geofence) -> list[str]:
    """Human-readable warnings (possibly none); the parsers' own repair notes are in `.warnings`."""
    warnings: list[str] = []
    area_m2 = area_on_sphere_m2(geofence)
    if area_m2 > LARGE_AREA_KM2 * 1e6:
        warnings.append(
            f"the area is very large ({area_m2 / 1e6:,.0f} km², more than {LARGE_AREA_KM2:,.0f} km²): "
            "check the shape and the units"
        )
    elif area_m2 < SMALL_AREA_M2:
        warnings.append(f"the area is very small ({area_m2:,.0f} m²): check the units (CAP circles use km)")
    max_lat = geofence.bounds()[2]
    if max_lat < ANTARCTIC_LAT:
        warnings.append(
            f"the whole area lies south of {-ANTARCTIC_LAT:g}°S (Antarctica): were latitude and longitude "
            "swapped? GeoJSON positions are [lon, lat]; CAP pairs are lat,lon"
        )
    return warnings


def area_on_sphere_m2(geofence: Geofence) -> float:
    """The area covered, in m² on the sphere (circles approximated by their display polygons)."""
    return equal_area_m2(geofence.display_geometry())
