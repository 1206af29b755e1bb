"""Big polygons, answered through the tiled lookup (`geo.tiles`), against an independent even-odd
rule in numpy, at random points, at every vertex, at edge midpoints and on the tiles' own edges."""
from __future__ import annotations

import math

import numpy as np
import shapely

from geo import from_geojson


def reference_inside_many(rings: list[np.ndarray], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Vectorised even-odd rule over all rings (holes included), edges counted inside; exact when all
    coordinates are multiples of 1/256 below 128 in size (every product below is then exact)."""
    odd = np.zeros(x.shape, dtype=bool)
    on_edge = np.zeros(x.shape, dtype=bool)
    for ring in rings:
        for (ax, ay), (bx, by) in zip(ring[:-1], ring[1:]):
            cross = (bx - ax) * (y - ay) - (by - ay) * (x - ax)
            on_edge |= (cross == 0) & (np.minimum(ax, bx) <= x) & (x <= np.maximum(ax, bx)) \
                & (np.minimum(ay, by) <= y) & (y <= np.maximum(ay, by))
            if ay != by:
                straddles = (ay > y) != (by > y)
                # x < ax + (y - ay) (bx - ax) / (by - ay), without dividing:
                left = (x - ax) * (by - ay) < (y - ay) * (bx - ax)
                odd ^= straddles & (left if by > ay else ~left)
    return odd | on_edge


def jagged_ring(vertices: int, centre: tuple[float, float], radius: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    angles = np.linspace(0, 2 * math.pi, vertices, endpoint=False)
    radii = radius * rng.uniform(0.5, 1.0, vertices)
    ring = np.column_stack([centre[0] + radii * np.cos(angles), centre[1] + radii * np.sin(angles)])
    ring = np.round(ring * 128) / 128  # exact binary fractions
    ring = ring[np.any(np.diff(ring, axis=0, prepend=ring[-1:]) != 0, axis=1)]
    return np.vstack([ring, ring[:1]])


def test_large_jagged_polygons_with_holes_match_the_reference_at_every_kind_of_point() -> None:
    """The tiled lookup used for big polygons and many points against an independent even-odd rule."""
    for seed in range(20):
        shell = jagged_ring(1_500, (20.0, 40.0), 8.0, seed)
        holes = [jagged_ring(300, (20.0, 40.0), 2.0, seed + 100), np.array([[22.5, 40], [23, 40], [23, 40.5], [22.5, 40.5], [22.5, 40]])]
        second = jagged_ring(500, (40.0, 40.0), 4.0, seed + 200)
        geojson = {"type": "MultiPolygon", "coordinates": [[shell.tolist(), *(h.tolist() for h in holes)], [second.tolist()]]}
        geofence = from_geojson(geojson)
        if geofence.warnings == ():
            break
    else:
        raise AssertionError("no valid jagged polygon drawn")
    rng = np.random.default_rng(5)
    x = rng.integers(11 * 256, 45 * 256, 20_000) / 256
    y = rng.integers(31 * 256, 49 * 256, 20_000) / 256
    rings = [shell, *holes, second]
    vertices = np.vstack(rings)
    midpoints = np.vstack([(r[:-1] + r[1:]) / 2 for r in rings])
    x = np.concatenate([x, vertices[:, 0], midpoints[:, 0]])
    y = np.concatenate([y, vertices[:, 1], midpoints[:, 1]])
    expected = reference_inside_many(rings, x, y)
    got = geofence.contains(y, x)  # many points: the tiled path
    assert geofence._tiles is not None
    np.testing.assert_array_equal(got, expected)
    assert 0.2 < expected.mean() < 0.8
    few = np.arange(0, x.size, 40)  # few points: straight to GEOS
    np.testing.assert_array_equal(geofence.contains(y[few], x[few]), expected[few])


def test_points_on_tile_edges_get_the_same_answer_as_the_untiled_area() -> None:
    shell = jagged_ring(2_000, (-60.0, -10.0), 5.0, 3)
    geofence = from_geojson({"type": "Polygon", "coordinates": [shell.tolist()]})
    rng = np.random.default_rng(8)
    geofence.contains(rng.uniform(-15, -5, 10_000), rng.uniform(-65, -55, 10_000))  # builds the tiles
    (tiles,) = geofence._tiles
    assert tiles.side > 1
    k = np.arange(tiles.side + 1)
    edge_x = np.repeat(tiles.x0 + k * tiles.dx, 200)
    edge_y = np.repeat(tiles.y0 + k * tiles.dy, 200)
    x = np.concatenate([edge_x, rng.uniform(tiles.x0, tiles.x1, edge_y.size), np.nextafter(edge_x, -np.inf)])
    y = np.concatenate([rng.uniform(tiles.y0, tiles.y1, edge_x.size), edge_y, rng.uniform(tiles.y0, tiles.y1, edge_x.size)])
    direct = shapely.intersects_xy(geofence._hit, x, y)
    np.testing.assert_array_equal(tiles.contains(x, y), direct)
    np.testing.assert_array_equal(geofence.contains(y, x), direct)
