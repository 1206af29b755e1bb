"""Combining geofences, boxes for SQL prefiltering, display GeoJSON and the suspicious-area hints."""
from __future__ import annotations

import math

import numpy as np
import pytest

from geo import Geofence, GeofenceError, from_cap_circle, from_circle, from_geojson, union, warn_if_suspicious
from geo.suspicious import area_on_sphere_m2

SQUARE = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}


def test_union_of_polygon_and_circle() -> None:
    square, circle = from_geojson(SQUARE), from_circle({"lat": 0.5, "lon": 3.0, "radius_m": 20_000})
    both = union(square, circle)
    assert both.contains([0.5, 0.5, 0.5], [0.5, 3.1, 2.0]).tolist() == [True, True, False]
    assert len(both.boxes()) == 2
    touching = from_geojson({"type": "Polygon", "coordinates": [[[170, 0], [180, 0], [180, 10], [170, 10], [170, 0]]]})
    assert touching.boxes()[1] == (-1e-7, -180.0, 10 + 1e-7, -180.0)  # the same meridian, written -180
    assert touching.contains([5, 5], [-180, 180]).tolist() == [True, True]
    east = 3.0 + 20_000 / (6_371_008.8 * math.radians(1)) / math.cos(math.radians(0.5))  # 20 km east
    assert both.bounds() == pytest.approx((-1e-7, -1e-7, 1 + 1e-7, east), abs=1e-4)


def test_union_keeps_warnings_once_and_refuses_nothing() -> None:
    unclosed = from_geojson({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]})
    assert union(unclosed, unclosed).warnings == unclosed.warnings
    with pytest.raises(GeofenceError):
        union()


def test_boxes_exclude_nothing_inside() -> None:
    fences = [
        from_geojson({"type": "Polygon", "coordinates": [[[177, -16], [-178, -16], [-178, -19], [177, -19], [177, -16]]]}),
        from_circle({"lat": 89.9, "lon": 0, "radius_m": 50_000}),
        from_circle({"lat": -17.7, "lon": 179.99, "radius_m": 20_000}),
        from_geojson({"type": "MultiPolygon", "coordinates": [
            [[[i, 0], [i + 0.5, 0], [i + 0.5, 0.5], [i, 0.5], [i, 0]]] for i in range(-170, 170, 10)]}),
    ]
    rng = np.random.default_rng(31)
    lat, lon = rng.uniform(-90, 90, 400_000), rng.uniform(-180, 180, 400_000)
    lon[::10] = np.where(lon[::10] > 0, 180.0, -180.0)  # many points on the antimeridian itself
    fences.append(from_geojson({"type": "Polygon", "coordinates": [[[170, 0], [180, 0], [180, 10], [170, 10], [170, 0]]]}))
    for fence in fences:
        boxed = np.zeros(lat.size, dtype=bool)
        for min_lat, min_lon, max_lat, max_lon in fence.boxes():
            assert min_lon <= max_lon
            boxed |= (lat >= min_lat) & (lat <= max_lat) & (lon >= min_lon) & (lon <= max_lon)
        inside = fence.contains(lat, lon)
        assert inside.any() or fence.circles
        assert not (inside & ~boxed).any()


def test_to_geojson_polygon_winding_and_circle_polygon() -> None:
    geometry = from_geojson({"type": "Polygon", "coordinates": [
        [[0, 0], [0, 10], [10, 10], [10, 0], [0, 0]], [[4, 4], [6, 4], [6, 6], [4, 6], [4, 4]]]}).to_geojson()
    assert geometry["type"] == "Polygon"
    exterior, hole = geometry["coordinates"]

    def signed_area(ring: list) -> float:
        return sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:]))

    assert signed_area(exterior) > 0 > signed_area(hole)  # RFC 7946: exterior counterclockwise
    circle = from_circle({"lat": 38.7, "lon": -9.14, "radius_m": 5_000}).to_geojson()
    ring = circle["coordinates"][0]
    assert circle["type"] == "Polygon" and len(ring) == 65
    # Each vertex is 5 km from the centre along the sphere (checked with the spherical law of cosines).
    for lon, lat in ring:
        p1, p2, dl = math.radians(38.7), math.radians(lat), math.radians(lon + 9.14)
        d = 6_371_008.8 * math.acos(math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(dl))
        assert d == pytest.approx(5_000, abs=0.5)


def test_to_geojson_splits_at_the_antimeridian() -> None:
    geometry = from_circle({"lat": -17.7, "lon": 179.99, "radius_m": 20_000}).to_geojson()
    assert geometry["type"] == "MultiPolygon" and len(geometry["coordinates"]) == 2
    for polygon in geometry["coordinates"]:
        assert all(-180 <= lon <= 180 for lon, _ in polygon[0])


def test_suspicious_large_small_and_antarctic() -> None:
    assert warn_if_suspicious(from_geojson(SQUARE)) == []
    assert "very large" in warn_if_suspicious(from_circle({"lat": 10, "lon": 10, "radius_m": 1_000_000}))[0]
    assert "very small" in warn_if_suspicious(from_circle({"lat": 10, "lon": 10, "radius_m": 10}))[0]
    assert "very small" in warn_if_suspicious(from_cap_circle("10,10 0.01"))[0]
    # New York written [lat, lon] in GeoJSON: it parses (both numbers are in range) but lands at 74 S.
    new_york_swapped = {"type": "Polygon", "coordinates": [[[40.6, -74.1], [40.9, -74.1], [40.9, -73.8], [40.6, -73.8], [40.6, -74.1]]]}
    (warning,) = warn_if_suspicious(from_geojson(new_york_swapped))
    assert "swapped" in warning


def test_area_on_the_sphere() -> None:
    # One degree square at the equator: R^2 * (1 deg in rad) * sin(1 deg) (exact for such a box).
    expected = 6_371_008.8**2 * math.radians(1) * math.sin(math.radians(1))
    assert area_on_sphere_m2(from_geojson(SQUARE)) == pytest.approx(expected, rel=1e-9)
    circle = from_circle({"lat": 45, "lon": 0, "radius_m": 10_000})
    cap = 2 * math.pi * 6_371_008.8**2 * (1 - math.cos(10_000 / 6_371_008.8))
    assert area_on_sphere_m2(circle) == pytest.approx(cap, rel=0.005)  # a 64-gon is 0.16 % smaller


def test_geofence_checks_what_it_is_given() -> None:
    with pytest.raises(GeofenceError, match="empty"):
        Geofence()
    with pytest.raises(GeofenceError, match="within lon"):
        from shapely import box
        Geofence(area=box(170, 0, 190, 1))


def test_display_polygons_of_circles_parse_back_to_nearly_the_same_area() -> None:
    """to_geojson output (split at ±180, closed over a pole) is valid input for from_geojson."""
    rng = np.random.default_rng(41)
    for circle, lat_range, lon_range in (
        ({"lat": 89.9, "lon": 0.0, "radius_m": 50_000}, (89.0, 90.0), (-180.0, 180.0)),
        ({"lat": -89.8, "lon": 45.0, "radius_m": 80_000}, (-90.0, -88.5), (-180.0, 180.0)),
        ({"lat": -17.7, "lon": 179.99, "radius_m": 20_000}, (-18.0, -17.4), (179.6, 180.4)),
    ):
        exact = from_circle(circle)
        drawn = from_geojson(exact.to_geojson())
        assert not any("repaired" in w for w in drawn.warnings), drawn.warnings
        lat, lon = rng.uniform(*lat_range, 100_000), rng.uniform(*lon_range, 100_000)
        lon = np.where(lon > 180, lon - 360, lon)
        a, b = exact.contains(lat, lon), drawn.contains(lat, lon)
        assert a.sum() > 100
        # Only slivers between the circle and its 64-gon (whose edges are straight in lon/lat) differ.
        assert (a != b).sum() <= 0.01 * a.sum(), ((a != b).sum(), a.sum())
