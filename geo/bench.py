"""Geometry benchmarks for `make bench`: parse times and membership of 1,000,000 points.

Points are drawn in each shape's bounding box, the worst case for the prefilter (every point
reaches the exact test), and over a whole country-sized region, the usual case. Polygons are a
coastline-like outline (a closed random walk of the radius: self-similar like real shorelines)
and, as a worst case, a star whose every vertex jumps randomly in radius: GEOS's cost grows with
the edges a horizontal line crosses, which this shape maximises.
"""
from __future__ import annotations

import math
import time
from typing import Any, Callable

import numpy as np

from geo.circles import from_circle
from geo.geojson import from_geojson

POINTS = 1_000_000
CENTRE = (-9.14, 38.7)  # lon, lat: Lisbon
REGION = ((36.9, 42.2), (-9.6, -6.2))  # lat and lon ranges: roughly mainland Portugal


def run_geo_benchmarks(points: int = POINTS, repeat: int = 3) -> dict[str, Any]:
    """Time parsing and membership (best of `repeat`, in seconds); prints and returns the figures."""
    rng = np.random.default_rng(2024)
    results: dict[str, Any] = {"points": points}
    fences = {}
    for name, vertices, jagged in (("coast_1000", 1_000, False), ("jagged_1000", 1_000, True),
                                   ("coast_100000", 99_999, False)):
        ring = outline(vertices, CENTRE, 0.5, rng, jagged=jagged)
        polygon = {"type": "Polygon", "coordinates": [ring]}
        results[f"{name}_parse_s"], fences[name] = _best(lambda: from_geojson(polygon), repeat)
    circle = {"lat": CENTRE[1], "lon": CENTRE[0], "radius_m": 5_000}
    results["circle_5km_parse_s"], fences["circle_5km"] = _best(lambda: from_circle(circle), repeat)

    for name, fence in fences.items():
        min_lat, min_lon, max_lat, max_lon = fence.bounds()
        lat, lon = rng.uniform(min_lat, max_lat, points), rng.uniform(min_lon, max_lon, points)
        # The first call also builds the lookup structures; it is timed on its own.
        results[f"{name}_first_call_bbox_s"], _ = _best(lambda: fence.contains(lat, lon), 1)
        results[f"{name}_bbox_s"], inside = _best(lambda: fence.contains(lat, lon), repeat)
        results[f"{name}_bbox_inside"] = int(inside.sum())
        lat, lon = rng.uniform(*REGION[0], points), rng.uniform(*REGION[1], points)
        results[f"{name}_region_s"], inside = _best(lambda: fence.contains(lat, lon), repeat)
        results[f"{name}_region_inside"] = int(inside.sum())

    for key, value in results.items():
        shown = f"{value * 1000:10.1f} ms" if key.endswith("_s") else f"{value:>13,}"
        print(f"geo  {key:<36} {shown}")
    return results


def outline(vertices: int, centre: tuple[float, float], radius_deg: float, rng: np.random.Generator,
            *, jagged: bool) -> list[list[float]]:
    """A closed, simple ring of `vertices` corners around `centre`, as GeoJSON [lon, lat] pairs."""
    angles = np.linspace(0.0, 2.0 * math.pi, vertices, endpoint=False)
    if jagged:
        radii = radius_deg * rng.uniform(0.6, 1.0, vertices)
    else:
        walk = np.cumsum(rng.normal(0.0, 1.0, vertices))
        walk -= np.linspace(0.0, walk[-1], vertices)  # returns to its start: a closed outline
        radii = radius_deg * (1.0 + 0.3 * walk / np.abs(walk).max())
    ring = np.column_stack([centre[0] + radii * np.cos(angles), centre[1] + radii * np.sin(angles)]).tolist()
    return ring + ring[:1]


def _best(run: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, result = math.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result
