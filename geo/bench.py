"""Geometry benchmarks: membership of 1,000,000 points, for `make bench` (prints figures).

Points are drawn in each shape's bounding box (the worst case for the prefilter: every point
reaches the exact test), and again over a whole country-sized region (the usual case).
"""
from __future__ import annotations

import math
import time
from typing import Any, Callable

import numpy as np

from geo.circles import from_circle
from geo.geojson import from_geojson


POINTS = 1_000_000


def run_geo_benchmarks(points: int = POINTS, repeat: int = 3) -> dict[str, Any]:
    """Time parsing and membership; returns the figures (seconds, best of `repeat`) and prints them."""
    rng = np.random.default_rng(2024)
    results: dict[str, Any] = {"points": points}

    ring = _star_ring(1_000, centre=(-9.14, 38.7), radius_deg=0.5, rng=rng)
    polygon_json = {"type": "Polygon", "coordinates": [ring]}
    results["polygon_1000_parse_s"], polygon = _best(lambda: from_geojson(polygon_json), repeat)
    circle_json = {"lat": 38.7, "lon": -9.14, "radius_m": 5_000}
    results["circle_5km_parse_s"], circle = _best(lambda: from_circle(circle_json), repeat)
    big_ring = _star_ring(99_999, centre=(-9.14, 38.7), radius_deg=0.5, rng=rng)
    results["polygon_100000_parse_s"], _ = _best(lambda: from_geojson({"type": "Polygon", "coordinates": [big_ring]}), 1)

    for name, fence in (("polygon_1000", polygon), ("circle_5km", circle)):
        min_lat, min_lon, max_lat, max_lon = fence.bounds()
        lat, lon = rng.uniform(min_lat, max_lat, points), rng.uniform(min_lon, max_lon, points)
        results[f"{name}_bbox_points_s"], inside = _best(lambda: fence.contains(lat, lon), repeat)
        results[f"{name}_bbox_points_inside"] = int(inside.sum())
        lat, lon = rng.uniform(36.9, 42.2, points), rng.uniform(-9.6, -6.2, points)  # roughly Portugal
        results[f"{name}_region_points_s"], inside = _best(lambda: fence.contains(lat, lon), repeat)
        results[f"{name}_region_points_inside"] = int(inside.sum())

    for key, value in results.items():
        shown = f"{value * 1000:9.1f} ms" if key.endswith("_s") else f"{value:>12,}"
        print(f"geo  {key:<36} {shown}")
    return results


def _best(run: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, result = math.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def _star_ring(vertices: int, centre: tuple[float, float], radius_deg: float, rng: np.random.Generator) -> list[list[float]]:
    """A closed, simple, jagged ring (a star-shaped polygon) of `vertices` corners."""
    angles = np.linspace(0.0, 2.0 * math.pi, vertices, endpoint=False)
    radii = radius_deg * rng.uniform(0.6, 1.0, vertices)
    ring = np.column_stack([centre[0] + radii * np.cos(angles), centre[1] + radii * np.sin(angles)]).tolist()
    return ring + ring[:1]
