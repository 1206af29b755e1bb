"""Rings of checked (lon, lat) positions into one valid area, shared by the GeoJSON and CAP parsers.

Policy, in order, for each polygon (first ring the shell, the rest holes):
- An unclosed ring is closed by repeating its first position, with a warning, unless `strict`
  (CAP requires closed rings, so there it is an error). A ring needs at least 4 positions once
  closed: 3 corners and the first repeated.
- Edges are straight lines in lon/lat (the GeoJSON reading). A jump of more than 180° in longitude
  crosses the antimeridian (see `geo.antimeridian`); the polygon is split at ±180°, with a warning.
- An invalid polygon (a self-intersecting ring, a hole crossing or outside its shell, ...) is
  repaired, with a warning, as "what the shell encloses, minus what the holes enclose": each ring
  is first made a valid area on its own with `shapely.make_valid(method="structure")`, which keeps
  everything a self-crossing ring encloses (erring towards including people, not leaving them out);
  the part of a hole outside its shell removes nothing.
- Nothing left, or less than `MIN_AREA_M2`: an error. Overlapping polygons are merged.
Degenerate input (slivers, near-coincident points) can raise floating-point flags inside GEOS; they
are silenced here on purpose, and the results are checked instead.
"""
from __future__ import annotations

import numpy as np
import shapely
from shapely.errors import GEOSException
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from geo.antimeridian import as_multipolygon, close_around_pole, polygonal_parts, shift_near, split_at_antimeridian, unwrap
from geo.errors import InvalidShape
from geo.limits import MIN_AREA_M2
from geo.sphere import equal_area_m2

RawPolygon = tuple[str, list[tuple[str, np.ndarray]]]
"""(path, [(ring path, array of (lon, lat) rows), ...]): shell first, then holes."""


def build_area(polygons: list[RawPolygon], *, field: str, strict: bool) -> tuple[MultiPolygon, list[str]]:
    """The union of the polygons, cut at ±180°, and the warnings about what was repaired."""
    warnings: list[str] = []
    parts: list[Polygon] = []
    with np.errstate(all="ignore"):
        for path, rings in polygons:
            if not rings:
                raise InvalidShape(field, "a polygon needs at least one ring; this one is empty", path=path)
            closed = [_closed(ring, ring_path, field, strict, warnings) for ring_path, ring in rings]
            try:
                parts.extend(_polygon_parts(path, closed, [p for p, _ in rings], field, warnings))
            except GEOSException as exc:
                raise InvalidShape(field, f"the polygon could not be interpreted: {exc}", path=path) from exc
        try:
            area = as_multipolygon(parts)
        except GEOSException as exc:
            raise InvalidShape(field, f"the polygons could not be merged: {exc}") from exc
        size = equal_area_m2(area)
    if area.is_empty or not size >= MIN_AREA_M2 or not np.isfinite(area.bounds).all():
        raise InvalidShape(field, f"the area encloses (almost) nothing: {size:.3g} m²")
    return area, warnings


def _closed(ring: np.ndarray, path: str, field: str, strict: bool, warnings: list[str]) -> np.ndarray:
    count = len(ring)
    if count and not np.array_equal(ring[0], ring[-1]):
        if strict:
            raise InvalidShape(field, "the polygon is not closed: its first and last points must be the same", path=path)
        ring = np.vstack([ring, ring[:1]])
        warnings.append(f"{_where(field, path)}: the ring was not closed; it was closed by repeating its first position")
    if len(ring) < 4:
        raise InvalidShape(
            field,
            f"a ring needs at least 4 positions (3 corners, then the first repeated), got {count}",
            path=path,
        )
    return ring


def _polygon_parts(path: str, rings: list[np.ndarray], ring_paths: list[str], field: str, warnings: list[str]) -> list[Polygon]:
    where = _where(field, path)
    shell_lon, turns = unwrap(rings[0][:, 0], rings[0][:, 1])
    shell_lat = rings[0][:, 1]
    crossed = not np.array_equal(shell_lon, rings[0][:, 0])
    if turns:
        mean_lat = float(shell_lat.mean())
        if abs(turns) > 1 or mean_lat == 0.0:
            raise InvalidShape(field, "the ring winds around the globe and encloses no definite area", path=ring_paths[0])
        pole = 1 if mean_lat > 0 else -1
        shell_lon, shell_lat = close_around_pole(shell_lon, shell_lat, pole)
        warnings.append(
            f"{where}: the ring goes all the way round the globe; it was taken to enclose the "
            f"{'north' if pole > 0 else 'south'} pole"
        )
    shell = np.column_stack([shell_lon, shell_lat])
    centre = (float(shell_lon.min()) + float(shell_lon.max())) / 2.0
    holes = []
    for ring, ring_path in zip(rings[1:], ring_paths[1:]):
        lon, hole_turns = unwrap(ring[:, 0], ring[:, 1])
        if hole_turns:
            raise InvalidShape(field, "a hole that goes all the way round the globe is not supported", path=ring_path)
        crossed = crossed or not np.array_equal(lon, ring[:, 0])
        holes.append(np.column_stack([shift_near(lon, centre), ring[:, 1]]))
    polygon: BaseGeometry = Polygon(shell, holes)
    if not polygon.is_valid:
        reason = shapely.is_valid_reason(polygon)
        polygon = _shell_minus_holes(shell, holes)
        if polygon.is_empty:
            raise InvalidShape(field, f"the polygon encloses no area ({reason})", path=path)
        warnings.append(f"{where}: the polygon was invalid ({reason}) and was repaired; check that the area is what was meant")
    if crossed:
        warnings.append(f"{where}: the polygon crosses the antimeridian (180°) and was split there")
    split = split_at_antimeridian(polygon)
    if not split:
        raise InvalidShape(field, "the polygon encloses no area", path=path)
    return split


def _shell_minus_holes(shell: np.ndarray, holes: list[np.ndarray]) -> BaseGeometry:
    def area(ring: np.ndarray) -> BaseGeometry:
        fixed = shapely.make_valid(Polygon(ring), method="structure", keep_collapsed=False)
        return MultiPolygon(polygonal_parts(fixed))

    outer = area(shell)
    if not holes or outer.is_empty:
        return outer
    return shapely.difference(outer, shapely.union_all([area(h) for h in holes]))


def _where(field: str, path: str) -> str:
    return f"{field}.{path}" if path else field
