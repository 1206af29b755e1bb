"""CAP polygons ("lat,lon" pairs, latitude first) against the equivalent GeoJSON ([lon, lat])."""
from __future__ import annotations

import numpy as np

from geo import from_cap_polygon, from_geojson, union

# The example polygon of the CAP 1.2 specification (§3.2.4.1 area, <polygon>).
CAP_EXAMPLE = "38.47,-120.14 38.34,-119.95 38.52,-119.74 38.62,-119.89 38.47,-120.14"


def swapped(cap: str) -> dict:
    ring = [[float(pair.split(",")[1]), float(pair.split(",")[0])] for pair in cap.split()]
    return {"type": "Polygon", "coordinates": [ring]}


def test_cap_polygon_and_equivalent_geojson_give_the_same_membership() -> None:
    cap, geojson = from_cap_polygon(CAP_EXAMPLE), from_geojson(swapped(CAP_EXAMPLE))
    assert cap.warnings == () and cap.area.equals(geojson.area)
    rng = np.random.default_rng(21)
    lat, lon = rng.uniform(38.3, 38.7, 50_000), rng.uniform(-120.2, -119.7, 50_000)
    inside = cap.contains(lat, lon)
    np.testing.assert_array_equal(inside, geojson.contains(lat, lon))
    assert 0.2 < inside.mean() < 0.8
    # The vertices themselves are on the boundary, hence inside; the same numbers read lon,lat are not.
    vertices = [tuple(map(float, p.split(","))) for p in CAP_EXAMPLE.split()]
    assert cap.contains([v[0] for v in vertices], [v[1] for v in vertices]).all()
    assert not cap.contains([v[1] for v in vertices], [v[0] for v in vertices]).any()


def test_cap_polygon_tolerates_spacing_and_newlines() -> None:
    messy = "  38.47, -120.14\n38.34,-119.95\t38.52 ,-119.74 38.62,-119.89   38.47,-120.14 "
    assert from_cap_polygon(messy).area.equals(from_cap_polygon(CAP_EXAMPLE).area)


def test_cap_polygon_across_the_antimeridian() -> None:
    fiji = "-16,177 -16,-178 -19,-178 -19,177 -16,177"
    geofence = from_cap_polygon(fiji)
    assert any("antimeridian" in w for w in geofence.warnings)
    assert geofence.contains([-17, -17, -17, -17], [179, -179, 0, 180]).tolist() == [True, True, False, True]


def test_several_cap_areas_combine_with_union() -> None:
    # A CAP <area> may hold several polygons; the alert targets any of them.
    a = from_cap_polygon("0,0 0,1 1,1 1,0 0,0")
    b = from_cap_polygon("0,5 0,6 1,6 1,5 0,5")
    both = union(a, b)
    assert both.contains([0.5, 0.5, 0.5], [0.5, 5.5, 3.0]).tolist() == [True, True, False]
