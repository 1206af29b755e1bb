"""Polygon membership against answers worked out by hand or by an independent point-in-polygon
test (pure Python, exact on integer coordinates), including holes, edges and the antimeridian."""
from __future__ import annotations

import math

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from geo import GeofenceError, from_geojson

SQUARE_WITH_HOLE = {
    "type": "Polygon",
    "coordinates": [
        [[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]],
        [[4, 4], [6, 4], [6, 6], [4, 6], [4, 4]],
    ],
}


def inside(geojson: dict, points: list[tuple[float, float]]) -> list[bool]:
    """Membership of (lon, lat) points, as plain booleans."""
    lon, lat = np.array(points, dtype=float).T
    return from_geojson(geojson).contains(lat, lon).tolist()


def on_segment(p: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> bool:
    cross = (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])
    return cross == 0 and min(a[0], b[0]) <= p[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= p[1] <= max(a[1], b[1])


def reference_inside(ring: list[tuple[float, float]], p: tuple[float, float]) -> bool:
    """Even-odd ray casting, with points on an edge counted as inside."""
    edges = list(zip(ring, ring[1:] + ring[:1]))
    if any(on_segment(p, a, b) for a, b in edges):
        return True
    crossings = 0
    for (ax, ay), (bx, by) in edges:
        if (ay > p[1]) != (by > p[1]) and p[0] < ax + (p[1] - ay) * (bx - ax) / (by - ay):
            crossings += 1
    return crossings % 2 == 1


def test_square_with_hole() -> None:
    cases = {
        (1, 1): True,       # strictly inside
        (5, 5): False,      # in the hole
        (4.5, 5.5): False,  # in the hole
        (5, 4): True,       # on the hole's edge
        (4, 4): True,       # on the hole's corner
        (6, 5.25): True,    # on the hole's edge
        (0, 5): True,       # on the outer edge
        (10, 10): True,     # on the outer corner
        (3.999, 5): True,   # just outside the hole
        (11, 5): False,     # outside
        (-0.001, 5): False,  # just outside
        (5, 10.000001): False,
    }
    assert inside(SQUARE_WITH_HOLE, list(cases)) == list(cases.values())


def test_multipolygon_and_the_gap_between_its_parts() -> None:
    two = {
        "type": "MultiPolygon",
        "coordinates": [
            [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]],
            [[[2, 0], [3, 0], [3, 1], [2, 1], [2, 0]], [[2.25, 0.25], [2.75, 0.25], [2.75, 0.75], [2.25, 0.75], [2.25, 0.25]]],
        ],
    }
    points = [(0.5, 0.5), (1.5, 0.5), (2.1, 0.5), (2.5, 0.5), (2.25, 0.5), (1, 1), (3, 0)]
    assert inside(two, points) == [True, False, True, False, True, True, True]


def test_points_on_a_slanted_edge_count_as_inside() -> None:
    triangle = {"type": "Polygon", "coordinates": [[[0, 0], [3, 0], [0, 7], [0, 0]]]}
    on_edge = [(3 * (1 - t), 7 * t) for t in (0.1, 0.3, 0.5, 0.7, 0.9)]  # rounded a little in floats
    beyond = [(x + 1e-6, y + 1e-6) for x, y in on_edge]
    assert inside(triangle, on_edge + beyond) == [True] * 5 + [False] * 5


def test_overlapping_parts_are_merged() -> None:
    overlapping = {
        "type": "MultiPolygon",
        "coordinates": [[[[0, 0], [2, 0], [2, 2], [0, 2], [0, 0]]], [[[1, 1], [3, 1], [3, 3], [1, 3], [1, 1]]]],
    }
    geofence = from_geojson(overlapping)
    assert len(geofence.area.geoms) == 1
    assert inside(overlapping, [(1.5, 1.5), (2.5, 2.5), (2.5, 0.5)]) == [True, True, False]


def test_a_10000_vertex_polygon() -> None:
    angles = np.linspace(0, 2 * math.pi, 10_000, endpoint=False)
    ring = [[10 + math.cos(a), 45 + math.sin(a)] for a in angles]
    polygon = {"type": "Polygon", "coordinates": [ring + [ring[0]]]}
    geofence = from_geojson(polygon)
    assert geofence.warnings == ()
    rng = np.random.default_rng(9)
    theta = rng.uniform(0, 2 * math.pi, 10_000)
    lon = np.concatenate([10 + 0.999 * np.cos(theta), 10 + 1.001 * np.cos(theta)])
    lat = np.concatenate([45 + 0.999 * np.sin(theta), 45 + 1.001 * np.sin(theta)])
    result = geofence.contains(lat, lon)
    assert result[:10_000].all() and not result[10_000:].any()


FIJI_JUMPING = {
    "type": "Polygon",
    "coordinates": [
        [[177, -16], [-178, -16], [-178, -19], [177, -19], [177, -16]],
        [[179.5, -17], [-179.5, -17], [-179.5, -18], [179.5, -18], [179.5, -17]],  # a hole across 180 too
    ],
}
FIJI_SPLIT = {
    "type": "MultiPolygon",
    "coordinates": [
        [[[177, -16], [180, -16], [180, -19], [177, -19], [177, -16]],
         ]
        ,
        [[[-180, -16], [-178, -16], [-178, -19], [-180, -19], [-180, -16]]],
    ],
}
FIJI_SPLIT_WITH_HOLE = {
    "type": "MultiPolygon",
    "coordinates": [
        [[[177, -16], [180, -16], [180, -19], [177, -19], [177, -16]],
         [[179.5, -17], [180, -17], [180, -18], [179.5, -18], [179.5, -17]]],
        [[[-180, -16], [-178, -16], [-178, -19], [-180, -19], [-180, -16]],
         [[-180, -17], [-179.5, -17], [-179.5, -18], [-180, -18], [-180, -17]]],
    ],
}


def test_antimeridian_polygon_by_hand() -> None:
    points = [(179, -16.5), (-179, -16.5), (0, -17), (180, -16.5), (-180, -16.5), (176.9, -17), (-177.9, -17),
              (179.9, -17.5), (-179.9, -17.5), (-179.5, -17.5), (180, -17.5), (-180, -17.5)]
    expected = [True, True, False, True, True, False, False, False, False, True, False, False]
    assert inside(FIJI_JUMPING, points) == expected
    assert inside(FIJI_SPLIT_WITH_HOLE, points) == expected
    geofence = from_geojson(FIJI_JUMPING)
    assert any("antimeridian" in w for w in geofence.warnings)
    assert sorted((round(b[1], 3), round(b[3], 3)) for b in geofence.boxes()) == [(-180.0, -178.0), (177.0, 180.0)]


def test_jumping_and_presplit_polygons_agree_on_a_grid() -> None:
    rng = np.random.default_rng(11)
    lat = rng.uniform(-20, -15, 50_000)
    lon = rng.uniform(175, 185, 50_000)
    lon = np.where(lon > 180, lon - 360, lon)
    hole_free = {"type": "Polygon", "coordinates": FIJI_JUMPING["coordinates"][:1]}
    np.testing.assert_array_equal(from_geojson(hole_free).contains(lat, lon), from_geojson(FIJI_SPLIT).contains(lat, lon))
    np.testing.assert_array_equal(
        from_geojson(FIJI_JUMPING).contains(lat, lon), from_geojson(FIJI_SPLIT_WITH_HOLE).contains(lat, lon)
    )
    # And against the hand-written truth: a box from 177 E to 178 W, minus 179.5 E..179.5 W.
    east = np.where(lon < 0, lon + 360, lon)
    truth = (lat >= -19) & (lat <= -16) & (east >= 177) & (east <= 182)
    hole = (lat > -18) & (lat < -17) & (east > 179.5) & (east < 180.5)
    np.testing.assert_array_equal(from_geojson(FIJI_JUMPING).contains(lat, lon), truth & ~hole)


def test_longitudes_outside_the_range_are_wrapped_when_testing() -> None:
    geofence = from_geojson(FIJI_SPLIT)
    assert geofence.contains([-17, -17, -17], [181, -181, 539]).tolist() == [True, True, True]


def test_ring_around_the_north_pole_encloses_the_pole() -> None:
    ring = [[0, 80], [90, 80], [180, 80], [-90, 80], [0, 80]]
    geofence = from_geojson({"type": "Polygon", "coordinates": [ring]})
    assert any("north pole" in w for w in geofence.warnings)
    lat = [85, 90, 80, 79.9, 89.99, -85]
    lon = [45, 0, -135, 45, -170, 45]
    assert geofence.contains(lat, lon).tolist() == [True, True, True, False, True, False]


def test_feature_collections_union_their_polygons_and_skip_markers() -> None:
    square = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}
    far = {"type": "Polygon", "coordinates": [[[5, 5], [6, 5], [6, 6], [5, 6], [5, 5]]]}
    collection = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"name": "a"}, "geometry": square},
            {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [3, 3]}},
            {"type": "Feature", "properties": {}, "geometry": None},
            {"type": "Feature", "properties": {}, "geometry": {"type": "GeometryCollection", "geometries": [far]}},
        ],
    }
    geofence = from_geojson(collection, field="target.geometry")
    assert geofence.contains([0.5, 5.5, 3, 3.1], [0.5, 5.5, 3, 3.1]).tolist() == [True, True, False, False]
    assert [w.split(":")[0] for w in geofence.warnings] == [
        "target.geometry.features[1].geometry", "target.geometry.features[2]",
    ]
    assert "Point has no area" in geofence.warnings[0]
    feature = from_geojson({"type": "Feature", "geometry": SQUARE_WITH_HOLE, "properties": None})
    assert feature.contains([5, 1], [5, 1]).tolist() == [False, True]


def test_unclosed_ring_is_closed_with_a_warning() -> None:
    open_ring = {"type": "Polygon", "coordinates": [[[0, 0], [10, 0], [10, 10], [0, 10]]]}
    geofence = from_geojson(open_ring)
    assert geofence.warnings == (
        "geometry.coordinates[0]: the ring was not closed; it was closed by repeating its first position",
    )
    assert inside(open_ring, [(5, 5), (0, 5), (11, 5)]) == [True, True, False]
    triangle = {"type": "Polygon", "coordinates": [[[0, 0], [10, 0], [0, 10]]]}
    assert inside(triangle, [(2, 2), (6, 6)]) == [True, False]


def test_self_intersecting_bow_tie_is_repaired_with_a_warning() -> None:
    bow_tie = {"type": "Polygon", "coordinates": [[[0, 0], [2, 2], [2, 0], [0, 2], [0, 0]]]}
    geofence = from_geojson(bow_tie)
    assert len(geofence.warnings) == 1 and "repaired" in geofence.warnings[0]
    assert "Self-intersection" in geofence.warnings[0]
    # Its two lobes (left and right triangles meeting at (1, 1)) are inside; the gaps are not.
    points = [(0.5, 1), (1.5, 1), (1, 1), (1, 0.5), (1, 1.5), (0, 1), (2, 1)]
    assert inside(bow_tie, points) == [True, True, True, False, False, True, True]


def test_a_ring_that_overlaps_itself_keeps_everything_it_encloses() -> None:
    # A spiral-like ring that crosses itself: the repaired area keeps the overlap (we over-include).
    looped = {"type": "Polygon", "coordinates": [[[0, 0], [4, 0], [4, 4], [1, 4], [1, 1], [3, 1], [3, 3], [0, 3], [0, 0]]]}
    assert inside(looped, [(2, 2), (0.5, 0.5), (3.5, 3.5), (0.5, 3.5)]) == [True, True, True, False]


def test_round_trip_through_to_geojson() -> None:
    for source in (SQUARE_WITH_HOLE, FIJI_JUMPING):
        geofence = from_geojson(source)
        again = from_geojson(geofence.to_geojson())
        assert again.warnings == ()
        rng = np.random.default_rng(12)
        lat = rng.uniform(-20, 11, 20_000)
        lon = rng.uniform(-180, 180, 20_000)
        np.testing.assert_array_equal(geofence.contains(lat, lon), again.contains(lat, lon))


@st.composite
def star_polygons(draw: st.DrawFn) -> list[tuple[int, int]]:
    """Simple polygons: integer vertices sorted by angle around an interior point."""
    points = draw(st.lists(st.tuples(st.integers(-20, 20), st.integers(-20, 20)), min_size=3, max_size=25, unique=True))
    points = [p for p in points if p != (0, 0)]
    by_angle = {}
    for x, y in points:
        by_angle.setdefault(round(math.atan2(y, x), 12), (x, y))
    ring = [by_angle[a] for a in sorted(by_angle)]
    twice_area = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1]))
    assume(len(ring) >= 3 and twice_area != 0)
    return ring


@settings(max_examples=150, deadline=None)
@given(ring=star_polygons(), seed=st.integers(0, 2**32 - 1))
def test_membership_matches_an_independent_point_in_polygon(ring: list[tuple[int, int]], seed: int) -> None:
    polygon = {"type": "Polygon", "coordinates": [[list(p) for p in ring + ring[:1]]]}
    geofence = from_geojson(polygon)
    assume(geofence.warnings == ())  # a degenerate star (collinear spokes) is repaired: not this test
    rng = np.random.default_rng(seed)
    # Points on the half-integer grid, including every vertex and many points on edges.
    xs = rng.integers(-42, 43, 400) / 2
    ys = rng.integers(-42, 43, 400) / 2
    points = list(zip(xs.tolist(), ys.tolist())) + [(float(x), float(y)) for x, y in ring]
    expected = [reference_inside(ring, p) for p in points]
    assert inside(polygon, points) == expected


@settings(max_examples=100, deadline=None)
@given(ring=star_polygons(), seed=st.integers(0, 2**32 - 1))
def test_a_polygon_moved_onto_the_antimeridian_keeps_its_membership(ring: list[tuple[int, int]], seed: int) -> None:
    """Shifting a shape by 180° of longitude (so that it straddles ±180) must not change who is in it."""
    def wrap(lon: np.ndarray) -> np.ndarray:
        return np.where(lon > 180, lon - 360, lon)

    original = {"type": "Polygon", "coordinates": [[list(p) for p in ring + ring[:1]]]}
    moved = {"type": "Polygon", "coordinates": [[[float(wrap(np.array(x + 180.0))), y] for x, y in ring + ring[:1]]]}
    try:
        before = from_geojson(original)
    except GeofenceError:
        assume(False)
    after = from_geojson(moved)
    rng = np.random.default_rng(seed)
    lon = rng.integers(-42, 43, 500) / 2
    lat = rng.integers(-42, 43, 500) / 2
    np.testing.assert_array_equal(before.contains(lat, lon), after.contains(lat, wrap(lon + 180.0)))

