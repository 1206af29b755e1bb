"""Bad input to the parsers: each case raises a `GeofenceError` naming the field and the position,
and random junk raises nothing else (property tests)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo import Geofence, GeofenceError, from_cap_circle, from_cap_polygon, from_circle, from_geojson
from geo.errors import InvalidCoordinates, InvalidShape, TooComplex, UnsupportedGeometry

SQUARE = [[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]


def polygon(*rings: list) -> dict:
    return {"type": "Polygon", "coordinates": list(rings)}


@pytest.mark.parametrize(
    ("obj", "kind", "path", "words"),
    [
        (polygon([[0, 0], [1, 0], [0, 0]]), InvalidShape, "coordinates[0]", "at least 4 positions"),
        (polygon([[0, 0], [1, 1]]), InvalidShape, "coordinates[0]", "got 2"),
        (polygon([]), InvalidShape, "coordinates[0]", "got 0"),
        (polygon(), InvalidShape, "coordinates", "empty"),
        ({"type": "MultiPolygon", "coordinates": []}, InvalidShape, "coordinates", "no polygons"),
        (polygon([[0, 0], [1, 0], [1, 95], [0, 0]]), InvalidCoordinates, "coordinates[0][2]",
         "latitude 95.0 is outside [-90, 90] (GeoJSON positions are [lon, lat])"),
        (polygon([[0, 0], [1, 0], [181, 1], [0, 0]]), InvalidCoordinates, "coordinates[0][2]", "longitude 181.0 is outside"),
        (polygon(SQUARE, [[0.2, 0.2], [-180.5, 0.2], [0.5, 0.5], [0.2, 0.2]]), InvalidCoordinates,
         "coordinates[1][1]", "longitude -180.5"),
        (polygon([[0, 0], [1, 0], [math.nan, 1], [0, 0]]), InvalidCoordinates, "coordinates[0][2]", "finite"),
        (polygon([[0, 0], [1, math.inf], [1, 1], [0, 0]]), InvalidCoordinates, "coordinates[0][1]", "finite"),
        (polygon([[0, 0], [1, "0"], [1, 1], [0, 0]]), InvalidCoordinates, "coordinates[0][1]", "latitude must be a number"),
        (polygon([[0, 0], [True, 0], [1, 1], [0, 0]]), InvalidCoordinates, "coordinates[0][1]", "longitude must be a number"),
        (polygon([[0, 0], [1, 0], [1, 1], [10**400, 0], [0, 0]]), InvalidCoordinates, "coordinates[0][3]", "not a usable number"),
        (polygon([[0, 0], [1], [1, 1], [0, 0]]), InvalidCoordinates, "coordinates[0][1]", "[lon, lat]"),
        (polygon([[0, 0, 0, 0], [1, 0], [1, 1], [0, 0]]), InvalidCoordinates, "coordinates[0][0]", "[lon, lat]"),
        (polygon([[0, 0, "high"], [1, 0], [1, 1], [0, 0]]), InvalidCoordinates, "coordinates[0][0]", "altitude"),
        ({"type": "Polygon", "coordinates": "0,0 1,0 1,1"}, InvalidCoordinates, "coordinates", "must be an array"),
        (polygon("0,0 1,0 1,1 0,0"), InvalidCoordinates, "coordinates[0]", "a ring must be an array"),
        (polygon([[0, 0], [1, 1], [2, 2], [0, 0]]), InvalidShape, "coordinates", "encloses no area"),
        ({"type": "Polygon"}, InvalidCoordinates, "coordinates", "got null"),
        ({"type": "Point", "coordinates": [1, 2]}, UnsupportedGeometry, "", "a Point has no area"),
        ({"type": "LineString", "coordinates": [[1, 2], [3, 4]]}, UnsupportedGeometry, "", "a LineString has no area"),
        ({"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 2]}}, UnsupportedGeometry, "geometry",
         "use a circle target"),
        ({"type": "Feature", "geometry": None, "properties": {}}, UnsupportedGeometry, "", "no geometry"),
        ({"type": "polygon", "coordinates": [SQUARE]}, UnsupportedGeometry, "", "unknown GeoJSON type 'polygon'"),
        ({"coordinates": [SQUARE]}, UnsupportedGeometry, "", "no 'type'"),
        ({"type": "FeatureCollection", "features": []}, InvalidShape, "features", "empty"),
        ({"type": "FeatureCollection", "features": [polygon(SQUARE)]}, UnsupportedGeometry, "features[0]", "only hold Features"),
        ({"type": "GeometryCollection", "geometries": [{"type": "Point", "coordinates": [0, 0]}]}, InvalidShape, "",
         "holds no polygon"),
        ("{\"type\": \"Polygon\"}", UnsupportedGeometry, "", "expected a GeoJSON object, got the string"),
        (None, UnsupportedGeometry, "", "got null"),
        ([SQUARE], UnsupportedGeometry, "", "got an array"),
    ],
)
def test_bad_geojson(obj: object, kind: type, path: str, words: str) -> None:
    with pytest.raises(kind) as caught:
        from_geojson(obj, field="target.geometry")
    assert caught.value.field == "target.geometry"
    assert caught.value.path == path
    assert words in caught.value.message, caught.value.message
    assert isinstance(caught.value, ValueError)


def test_out_of_range_error_names_the_position_in_its_text() -> None:
    bad = {"type": "MultiPolygon", "coordinates": [[SQUARE], [[[0, 0], [1, 0], [1, -91], [0, 0]]]]}
    with pytest.raises(GeofenceError, match=r"^geometry: coordinates\[1\]\[0\]\[2\]: latitude -91.0 is outside"):
        from_geojson(bad)


def test_huge_vertex_count_is_refused_before_any_work() -> None:
    ring = [[0.0, 0.0]] * 100_001
    with pytest.raises(TooComplex, match="more than 100,000 positions"):
        from_geojson(polygon(ring))
    many = {"type": "MultiPolygon", "coordinates": [[SQUARE * 2]] * 10_001}  # 10 positions each
    with pytest.raises(TooComplex):
        from_geojson(many)


def test_deeply_nested_collections_are_refused() -> None:
    obj: dict = polygon(SQUARE)
    for _ in range(6):
        obj = {"type": "GeometryCollection", "geometries": [obj]}
    with pytest.raises(TooComplex, match="nested"):
        from_geojson(obj)


def test_features_inside_geometries_are_refused_however_deep() -> None:
    obj: dict = {"type": "Feature", "geometry": polygon(SQUARE)}
    for _ in range(2_000):
        obj = {"type": "Feature", "geometry": obj}
    with pytest.raises(UnsupportedGeometry, match="expected a geometry here, got a Feature"):
        from_geojson(obj)
    in_collection = {"type": "GeometryCollection", "geometries": [{"type": "Feature", "geometry": polygon(SQUARE)}]}
    with pytest.raises(UnsupportedGeometry, match="got a Feature"):
        from_geojson(in_collection)


def test_hole_outside_its_shell_removes_nothing_and_adds_nothing() -> None:
    geofence = from_geojson(polygon(SQUARE, [[5, 5], [6, 5], [6, 6], [5, 5]]))
    assert any("repaired" in w and "Hole lies outside shell" in w for w in geofence.warnings)
    assert geofence.contains([0.5, 5.2], [0.5, 5.8]).tolist() == [True, False]


def test_hole_crossing_its_shell_removes_only_what_it_overlaps() -> None:
    big = [[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]]
    geofence = from_geojson(polygon(big, [[5, 4], [15, 4], [15, 6], [5, 6], [5, 4]]))
    assert any("repaired" in w for w in geofence.warnings)
    lat, lon = [5, 5, 5, 5, 2, 4], [7, 12, 4, 5, 7, 7]
    assert geofence.contains(lat, lon).tolist() == [False, False, True, True, True, True]


def test_hole_covering_the_whole_shell_leaves_nothing() -> None:
    with pytest.raises(InvalidShape, match="no area"):
        from_geojson(polygon(SQUARE, SQUARE))


@pytest.mark.parametrize(
    ("text", "path", "words"),
    [
        ("38.47,-120.14 38.34,-119.95 38.52,-119.74 38.62,-119.89", "", "not closed"),
        ("38.47,-120.14 38.34,-119.95 38.47,-120.14", "", "at least 4"),
        ("38.47,-120.14 38.34,-119.95 95,-119.74 38.47,-120.14", "pair 3", "latitude 95.0 is outside [-90, 90] (CAP pairs are lat,lon)"),
        ("38.47,-120.14 38.34 -119.95 38.52,-119.74 38.47,-120.14", "pair 2", "expected 'lat,lon'"),
        ("38.47,-120.14 38.34,-119.95 38.52,nan 38.47,-120.14", "pair 3", "decimal number"),
        ("38.47,-120.14 38.34,-119.95 38.52,1_0 38.47,-120.14", "pair 3", "decimal number"),
        ("38.47,-120.14 38.34,-120.14 38.20,-120.14 38.47,-120.14", "", "encloses no area"),
        ("   ", "", "empty"),
    ],
)
def test_bad_cap_polygons(text: str, path: str, words: str) -> None:
    with pytest.raises(GeofenceError) as caught:
        from_cap_polygon(text, field="info.area.polygon")
    assert (caught.value.field, caught.value.path) == ("info.area.polygon", path)
    assert words in caught.value.message, caught.value.message


def test_cap_polygon_must_be_a_string() -> None:
    with pytest.raises(UnsupportedGeometry, match="must be a string, got list"):
        from_cap_polygon([[38.47, -120.14]])


# ---- property tests: junk in, GeofenceError out, never anything else -------------------------

numbers = st.one_of(
    st.floats(),  # includes NaN and infinities
    st.floats(-200, 200),
    st.integers(-200, 200),
    st.integers(),
    st.sampled_from([0, 1, -180, 180, 90, -90, 180.0000001, True, None, "1"]),
)
positions = st.one_of(st.lists(numbers, max_size=4), numbers, st.text(max_size=3))
rings = st.one_of(st.lists(positions, max_size=8), st.lists(st.lists(numbers, min_size=2, max_size=2), min_size=3, max_size=9))
polygon_coordinates = st.lists(rings, max_size=3)
json_junk = st.recursive(
    st.none() | st.booleans() | numbers | st.text(max_size=6),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
geometry_types = st.sampled_from(
    ["Polygon", "MultiPolygon", "Point", "LineString", "MultiPoint", "GeometryCollection", "Feature", "Nope", ""]
)
geometries = st.recursive(
    st.one_of(
        st.fixed_dictionaries({"type": st.just("Polygon"), "coordinates": polygon_coordinates}),
        st.fixed_dictionaries({"type": st.just("MultiPolygon"), "coordinates": st.lists(polygon_coordinates, max_size=3)}),
        st.fixed_dictionaries({"type": geometry_types, "coordinates": st.one_of(polygon_coordinates, json_junk)}),
    ),
    lambda children: st.one_of(
        st.fixed_dictionaries({"type": st.just("Feature"), "geometry": children | st.none(), "properties": json_junk}),
        st.fixed_dictionaries({"type": st.just("FeatureCollection"), "features": st.lists(children, max_size=3)}),
        st.fixed_dictionaries({"type": st.just("GeometryCollection"), "geometries": st.lists(children, max_size=3)}),
    ),
    max_leaves=5,
)


def check_result_is_usable(geofence: Geofence) -> None:
    rng = np.random.default_rng(0)
    lat, lon = rng.uniform(-90, 90, 200), rng.uniform(-180, 180, 200)
    assert geofence.contains(lat, lon).dtype == bool
    assert geofence.boxes()
    for min_lat, min_lon, max_lat, max_lon in geofence.boxes():
        assert -90 <= min_lat <= max_lat <= 90 and -180 <= min_lon <= max_lon <= 180
    geofence.to_geojson()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(obj=st.one_of(geometries, json_junk))
def test_from_geojson_on_junk_raises_only_geofence_errors(obj: object) -> None:
    try:
        geofence = from_geojson(obj)
    except GeofenceError:
        return
    check_result_is_usable(geofence)


valid_positions = st.lists(
    st.tuples(st.floats(-180, 180, allow_subnormal=False), st.floats(-90, 90, allow_subnormal=False)).map(list),
    min_size=3, max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(ring=valid_positions, close=st.booleans())
def test_random_valid_coordinates_give_a_usable_area_or_a_geofence_error(ring: list, close: bool) -> None:
    try:
        geofence = from_geojson(polygon(ring + ring[:1] if close else ring))
    except GeofenceError as error:
        assert isinstance(error, InvalidShape)  # coordinates are fine; only the shape can be wrong
        return
    check_result_is_usable(geofence)


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(st.text(max_size=60), st.lists(st.tuples(numbers, numbers), max_size=6).map(
    lambda pairs: " ".join(f"{a},{b}" for a, b in pairs + pairs[:1]))), radius=st.one_of(numbers, st.text(max_size=4)))
def test_cap_parsers_on_junk_raise_only_geofence_errors(text: str, radius: object) -> None:
    for parse, argument in ((from_cap_polygon, text), (from_cap_circle, f"{text.split(' ')[0]} {radius}")):
        try:
            check_result_is_usable(parse(argument))
        except GeofenceError:
            pass


@settings(max_examples=200, deadline=None)
@given(obj=st.one_of(json_junk, st.fixed_dictionaries({"lat": numbers, "lon": numbers, "radius_m": numbers})))
def test_from_circle_on_junk_raises_only_geofence_errors(obj: object) -> None:
    try:
        check_result_is_usable(from_circle(obj))
    except GeofenceError:
        pass
