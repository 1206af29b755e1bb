"""Circles: membership against distances computed independently of `geo.sphere` (a vector
formula on the same sphere, and Vincenty's inverse on the WGS 84 ellipsoid), across the
antimeridian and over the poles."""
from __future__ import annotations

import math

import numpy as np
import pytest

from geo import Circle, GeofenceError, from_cap_circle, from_circle, union

R = 6_371_008.8


def sphere_distance(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance from unit vectors: atan2(|a x b|, a . b) (no haversine)."""
    def unit(lat: float, lon: float) -> tuple[float, float, float]:
        p, l = math.radians(lat), math.radians(lon)
        return math.cos(p) * math.cos(l), math.cos(p) * math.sin(l), math.sin(p)

    ax, ay, az = unit(lat1, lon1)
    bx, by, bz = unit(lat2, lon2)
    cx, cy, cz = ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx
    return R * math.atan2(math.sqrt(cx * cx + cy * cy + cz * cz), ax * bx + ay * by + az * bz)


def vincenty_distance(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Geodesic distance on the WGS 84 ellipsoid (Vincenty 1975, inverse problem)."""
    a, f = 6_378_137.0, 1 / 298.257223563
    b = a * (1 - f)
    u1, u2 = math.atan((1 - f) * math.tan(math.radians(lat1))), math.atan((1 - f) * math.tan(math.radians(lat2)))
    big_l = math.radians(lon2 - lon1)
    lam = big_l
    for _ in range(200):
        sin_lam, cos_lam = math.sin(lam), math.cos(lam)
        sin_sigma = math.hypot(math.cos(u2) * sin_lam, math.cos(u1) * math.sin(u2) - math.sin(u1) * math.cos(u2) * cos_lam)
        if sin_sigma == 0:
            return 0.0
        cos_sigma = math.sin(u1) * math.sin(u2) + math.cos(u1) * math.cos(u2) * cos_lam
        sigma = math.atan2(sin_sigma, cos_sigma)
        sin_alpha = math.cos(u1) * math.cos(u2) * sin_lam / sin_sigma
        cos2_alpha = 1 - sin_alpha**2
        cos_2sm = cos_sigma - 2 * math.sin(u1) * math.sin(u2) / cos2_alpha if cos2_alpha else 0.0
        c = f / 16 * cos2_alpha * (4 + f * (4 - 3 * cos2_alpha))
        previous = lam
        lam = big_l + (1 - c) * f * sin_alpha * (sigma + c * sin_sigma * (cos_2sm + c * cos_sigma * (-1 + 2 * cos_2sm**2)))
        if abs(lam - previous) < 1e-12:
            break
    u_sq = cos2_alpha * (a * a - b * b) / (b * b)
    big_a = 1 + u_sq / 16384 * (4096 + u_sq * (-768 + u_sq * (320 - 175 * u_sq)))
    big_b = u_sq / 1024 * (256 + u_sq * (-128 + u_sq * (74 - 47 * u_sq)))
    delta = big_b * sin_sigma * (cos_2sm + big_b / 4 * (cos_sigma * (-1 + 2 * cos_2sm**2)
                                 - big_b / 6 * cos_2sm * (-3 + 4 * sin_sigma**2) * (-3 + 4 * cos_2sm**2)))
    return b * big_a * (sigma - delta)


def random_points(seed: int, lat_range: tuple[float, float], lon_range: tuple[float, float], n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(*lat_range, n), rng.uniform(*lon_range, n)


def assert_matches_sphere(circle: dict, lat: np.ndarray, lon: np.ndarray, min_inside: int = 100) -> None:
    """Every point clearly inside or outside (by > 1 mm) gets the independent answer."""
    got = from_circle(circle).contains(lat, lon)
    dist = np.array([sphere_distance(circle["lat"], circle["lon"], a, o) for a, o in zip(lat, lon)])
    clear = np.abs(dist - circle["radius_m"]) > 1e-3
    np.testing.assert_array_equal(got[clear], dist[clear] <= circle["radius_m"])
    assert got.sum() >= min_inside and (~got).sum() >= min_inside  # the sample straddles the edge


def test_5km_circle_at_38_7_north_agrees_with_independent_spherical_distances() -> None:
    lat, lon = random_points(1, (38.62, 38.78), (-9.24, -9.04), 20_000)
    assert_matches_sphere({"lat": 38.7, "lon": -9.14, "radius_m": 5_000}, lat, lon)


def test_5km_circle_agrees_with_ellipsoidal_geodesic_outside_the_sphere_error_band() -> None:
    circle = {"lat": 38.7, "lon": -9.14, "radius_m": 5_000}
    lat, lon = random_points(2, (38.62, 38.78), (-9.24, -9.04), 5_000)
    got = from_circle(circle).contains(lat, lon)
    dist = np.array([vincenty_distance(38.7, -9.14, a, o) for a, o in zip(lat, lon)])
    clear = np.abs(dist - 5_000) > 0.005 * 5_000  # the sphere errs by < 0.5 % of a distance
    np.testing.assert_array_equal(got[clear], dist[clear] <= 5_000)
    assert (~clear).sum() < 0.05 * len(lat)  # only a thin ring near the edge is left undecided
    # And not a degree buffer: ~pi * 5 km^2 of the ~17.8 x 17.4 km box is inside (about 25 %).
    assert 0.22 < got.mean() < 0.29


def test_points_exactly_on_the_circle_count_as_inside() -> None:
    centre = from_circle({"lat": 0.0, "lon": 0.0, "radius_m": 1000 * R * math.radians(1.0) / 1000})
    assert centre.contains([1.0, -1.0, 0.0, 0.0, 1.000001], [0.0, 0.0, 1.0, -1.0, 0.0]).tolist() == [True] * 4 + [False]


def test_circle_across_the_antimeridian() -> None:
    circle = {"lat": -17.7, "lon": 179.99, "radius_m": 20_000}
    geofence = from_circle(circle)
    assert geofence.contains([-17.7, -17.7, -17.7, -17.7], [-179.95, 180.0, -180.0, 179.7]).tolist() == [True, True, True, False]
    lat, lon = random_points(3, (-18.0, -17.4), (179.6, 180.4), 20_000)
    lon = np.where(lon > 180.0, lon - 360.0, lon)  # points on both sides of the antimeridian
    assert_matches_sphere(circle, lat, lon)
    # Two boxes, one each side of the antimeridian; 20 km is ~0.1888 degrees of longitude at 17.7 S.
    (west_part, east_part) = sorted(geofence.boxes(), key=lambda b: b[1])
    assert west_part[1] == -180.0 and west_part[3] == pytest.approx(179.99 + 0.1888 - 360, abs=0.001)
    assert east_part[3] == 180.0 and east_part[1] == pytest.approx(179.99 - 0.1888, abs=0.001)


def test_circle_around_the_north_pole() -> None:
    circle = {"lat": 89.9, "lon": 0.0, "radius_m": 50_000}
    geofence = from_circle(circle)
    # 0.3 degrees of arc (~33 km) over the pole on the far side: inside; 0.6 degrees (~67 km): outside.
    assert geofence.contains([89.8, 89.5, 90.0, 89.6], [180.0, 180.0, 123.0, 0.0]).tolist() == [True, False, True, True]
    lat, lon = random_points(4, (89.0, 90.0), (-180.0, 180.0), 20_000)
    assert_matches_sphere(circle, lat, lon)
    assert geofence.bounds() == (pytest.approx(89.9 - 0.4497, abs=1e-3), -180.0, 90.0, 180.0)


def test_circle_around_the_south_pole() -> None:
    circle = {"lat": -89.95, "lon": 100.0, "radius_m": 30_000}
    lat, lon = random_points(5, (-90.0, -89.4), (-180.0, 180.0), 20_000)
    assert_matches_sphere(circle, lat, lon)


def test_large_circle_far_north_uses_a_correct_longitude_prefilter() -> None:
    circle = {"lat": 70.0, "lon": 25.0, "radius_m": 1_500_000}
    lat, lon = random_points(6, (55.0, 85.0), (-40.0, 90.0), 20_000)
    assert_matches_sphere(circle, lat, lon)


def test_boxes_cover_the_circle() -> None:
    for circle in ({"lat": 38.7, "lon": -9.14, "radius_m": 5_000}, {"lat": -17.7, "lon": 179.99, "radius_m": 200_000},
                   {"lat": 80.0, "lon": -179.0, "radius_m": 1_000_000}):
        geofence = from_circle(circle)
        ring = np.array(Circle(**circle).ring(segments=720))
        lon, lat = ring[:, 0], ring[:, 1]
        covered = np.zeros(len(lat), dtype=bool)
        for min_lat, min_lon, max_lat, max_lon in geofence.boxes():
            covered |= (lat >= min_lat) & (lat <= max_lat) & (lon >= min_lon) & (lon <= max_lon)
        assert covered.all(), circle


def test_cap_circle_is_in_kilometres_and_lat_first() -> None:
    cap = from_cap_circle("38.7,-9.14 5")
    plain = from_circle({"lat": 38.7, "lon": -9.14, "radius_m": 5_000})
    lat, lon = random_points(7, (38.62, 38.78), (-9.24, -9.04), 5_000)
    np.testing.assert_array_equal(cap.contains(lat, lon), plain.contains(lat, lon))
    assert from_cap_circle(" 38.7 , -9.14   5.0 ").circles == plain.circles


@pytest.mark.parametrize(
    ("obj", "field", "words"),
    [
        ({"lat": 38.7, "lon": -9.14, "radius_m": 0}, "circle.radius_m", "greater than 0"),
        ({"lat": 38.7, "lon": -9.14, "radius_m": -5}, "circle.radius_m", "greater than 0"),
        ({"lat": 38.7, "lon": -9.14, "radius_m": 0.5}, "circle.radius_m", "at least 1 m,"),
        ({"lat": 38.7, "lon": -9.14, "radius_m": 2_000_001}, "circle.radius_m", "at most 2,000,000"),
        ({"lat": 38.7, "lon": -9.14, "radius_m": float("nan")}, "circle.radius_m", "finite"),
        ({"lat": 38.7, "lon": -9.14, "radius_m": "5000"}, "circle.radius_m", "must be a number"),
        ({"lat": 38.7, "lon": -9.14, "radius_m": True}, "circle.radius_m", "must be a number"),
        ({"lat": 91, "lon": -9.14, "radius_m": 10}, "circle.lat", "outside [-90, 90]"),
        ({"lat": 38.7, "lon": -180.5, "radius_m": 10}, "circle.lon", "outside [-180, 180]"),
        ({"lat": 38.7, "lon": float("inf"), "radius_m": 10}, "circle.lon", "finite"),
        ({"lat": 38.7, "lon": -9.14}, "circle.radius_m", "required"),
        ({"lat": 38.7, "lon": -9.14, "radius": 10}, "circle", "unexpected keys ['radius']"),
        ("38.7,-9.14 5", "circle", "expected an object"),
    ],
)
def test_bad_circles_name_the_field(obj: object, field: str, words: str) -> None:
    with pytest.raises(GeofenceError) as caught:
        from_circle(obj)
    assert caught.value.field == field
    assert words in caught.value.message


def test_field_prefix_is_the_callers() -> None:
    with pytest.raises(GeofenceError) as caught:
        from_circle({"lat": 1, "lon": 1, "radius_m": 0}, field="target.circle")
    assert caught.value.field == "target.circle.radius_m"
    assert str(caught.value).startswith("target.circle.radius_m: ")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("32.9525,-115.5527 0", "radius 0 is a single point"),
        ("32.9525,-115.5527 2001", "at most 2,000 km,"),
        ("32.9525,-115.5527 0.0005", "at least 0.001 km,"),
        ("32.9525,-115.5527", "expected 'lat,lon radius_km'"),
        ("32.9525 -115.5527 1", "expected 'lat,lon radius_km'"),
        ("32.9525;-115.5527 1", "expected 'lat,lon'"),
        ("-115.5527,32.9525 1", "latitude -115.5527 is outside [-90, 90] (CAP pairs are lat,lon)"),
        ("32.9525,-115.5527 nan", "decimal number"),
        ("32.9525,-115.5527 1e999", "too large"),
        ("", "empty"),
    ],
)
def test_bad_cap_circles(text: str, words: str) -> None:
    with pytest.raises(GeofenceError) as caught:
        from_cap_circle(text, field="area.circle")
    assert caught.value.field == "area.circle"
    assert words in caught.value.message


def test_union_of_circles_is_either() -> None:
    a = from_circle({"lat": 0.0, "lon": 0.0, "radius_m": 10_000})
    b = from_circle({"lat": 0.0, "lon": 1.0, "radius_m": 10_000})
    both = union(a, b, a)
    assert len(both.circles) == 2
    lat, lon = random_points(8, (-0.2, 0.2), (-0.2, 1.2), 10_000)
    np.testing.assert_array_equal(both.contains(lat, lon), a.contains(lat, lon) | b.contains(lat, lon))


def test_contains_handles_shapes_and_unusable_points() -> None:
    geofence = from_circle({"lat": 10.0, "lon": 10.0, "radius_m": 10_000})
    grid = geofence.contains(np.array([[10.0], [10.05], [50.0]]), np.array([10.0, 10.05, 370.0]))
    assert grid.shape == (3, 3) and grid.dtype == bool
    assert grid.tolist() == [[True, True, True], [True, True, True], [False, False, False]]
    assert geofence.contains([np.nan, 10.0, 10.0, 95.0], [10.0, np.inf, 10.0, 10.0]).tolist() == [False, False, True, False]
    assert geofence.contains(10.0, 10.0).shape == ()
