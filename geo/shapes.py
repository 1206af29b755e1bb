"""`Geofence`: a validated target area and fast membership tests for many points.

Membership policy: a point on an edge (of a polygon, of a hole, of a circle) is inside; so is a
point within `EDGE_TOLERANCE_DEG` (about 0.1 mm) of a polygon's edge. Longitudes outside
[-180, 180] are wrapped; -180 and 180 are the same meridian. Points with a NaN or infinite
coordinate, or a latitude beyond ±90, are outside.
"""
from __future__ import annotations

from dataclasses import InitVar, dataclass, field
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from geo.antimeridian import as_multipolygon, close_around_pole, polygonal_parts, split_at_antimeridian, unwrap
from geo.errors import InvalidShape
from geo.limits import BOX_MARGIN_DEG, EDGE_TOLERANCE_DEG
from geo.sphere import Box, Circle
from geo.tiles import TiledArea

# Up to this many polygon parts get a prefilter box each; beyond it, one box per hemisphere.
_MAX_PART_BOXES = 16
# Areas with more vertices than this, asked about at least `_TILE_MIN_POINTS` points at once, are
# answered through a `TiledArea` (built on first use); smaller ones go to GEOS directly.
_TILE_MIN_VERTICES = 256
_TILE_MIN_POINTS = 5_000
# Coordinates in `to_geojson` are rounded to this many decimals (about 1 cm): display only.
_GEOJSON_DECIMALS = 7


@dataclass(frozen=True)
class Geofence:
    """A prepared target area: polygons in lon/lat (split at ±180°) and/or geodesic circles.

    Build one with the parsers (`from_geojson`, `from_circle`, `from_cap_polygon`,
    `from_cap_circle`) and combine them with `union`. `warnings` lists what the parsers repaired.
    Built directly, the area is checked to be valid unless `validate=False` (the parsers' output
    is valid already; a check costs a second on a 100,000-vertex jagged outline). The structures
    behind `contains` are built on its first call, so parsing alone stays cheap.
    """

    area: MultiPolygon | None = None
    circles: tuple[Circle, ...] = ()
    warnings: tuple[str, ...] = ()
    validate: InitVar[bool] = True
    _hit: BaseGeometry | None = field(default=None, init=False, repr=False, compare=False)
    _area_boxes: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)
    _circle_boxes: tuple[np.ndarray, ...] = field(default=(), init=False, repr=False, compare=False)
    _tiles: tuple[TiledArea, ...] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self, validate: bool) -> None:
        area = self.area
        if isinstance(area, Polygon):
            area = MultiPolygon([area])
        if area is not None:
            if not isinstance(area, MultiPolygon):
                raise InvalidShape("target", f"area must be a Polygon or MultiPolygon, got {area.geom_type}")
            if area.is_empty:
                area = None
        if area is not None:
            min_lon, min_lat, max_lon, max_lat = area.bounds
            if min_lon < -180.0 or max_lon > 180.0 or min_lat < -90.0 or max_lat > 90.0:
                raise InvalidShape("target", f"area must lie within lon [-180, 180], lat [-90, 90]; bounds {area.bounds}")
            if validate and not area.is_valid:
                raise InvalidShape("target", f"area is not a valid geometry: {shapely.is_valid_reason(area)}")
        if not all(isinstance(c, Circle) for c in self.circles):
            raise InvalidShape("target", "circles must be Circle values")
        if area is None and not self.circles:
            raise InvalidShape("target", "the target area is empty")
        object.__setattr__(self, "area", area)
        object.__setattr__(self, "circles", tuple(self.circles))
        object.__setattr__(self, "warnings", tuple(self.warnings))
        if area is not None:
            object.__setattr__(self, "_area_boxes", np.array(_part_boxes(area), dtype=np.float64))
        circle_boxes = tuple(np.array(c.boxes(), dtype=np.float64) for c in self.circles)
        object.__setattr__(self, "_circle_boxes", circle_boxes)

    def contains(self, lat: Any, lon: Any) -> np.ndarray:
        """Which of the points (arrays of degrees, broadcast together) are inside, as booleans."""
        lat, lon = np.broadcast_arrays(np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64))
        shape = lat.shape
        lat, lon = lat.ravel(), lon.ravel()
        inside = np.zeros(lat.size, dtype=bool)
        usable = np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90.0)
        wrap = usable & (np.abs(lon) > 180.0)
        if wrap.any():
            lon = lon.copy()
            lon[wrap] = (lon[wrap] + 180.0) % 360.0 - 180.0
        if self._area_boxes is not None:
            idx = np.flatnonzero(usable & _in_boxes(self._area_boxes, lat, lon))
            if idx.size:
                inside[idx] = self._area_contains(lon[idx], lat[idx])
            # -180 and 180 are one meridian: a part may touch it on either side.
            seam = np.flatnonzero(usable & (np.abs(lon) == 180.0) & ~inside)
            if seam.size:
                inside[seam] = self._area_contains(-lon[seam], lat[seam])
        for circle, boxes in zip(self.circles, self._circle_boxes):
            idx = np.flatnonzero(usable & ~inside & _in_boxes(boxes, lat, lon))
            if idx.size:
                inside[idx] = circle.contains(lat[idx], lon[idx])
        return inside.reshape(shape)

    def _area_contains(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        hit = self._hit
        if hit is None:
            assert self.area is not None
            # Grown by the edge tolerance once, so that one `intersects_xy` call decides everything.
            with np.errstate(all="ignore"):  # GEOS may raise FP flags on slivers; the result is fine
                hit = shapely.buffer(self.area, EDGE_TOLERANCE_DEG, join_style="mitre")
            shapely.prepare(hit)
            object.__setattr__(self, "_hit", hit)
        if lon.size < _TILE_MIN_POINTS or shapely.get_num_coordinates(hit) <= _TILE_MIN_VERTICES:
            return shapely.intersects_xy(hit, lon, lat)
        if self._tiles is None:
            object.__setattr__(self, "_tiles", _tile(hit))
        assert self._tiles is not None
        inside = self._tiles[0].contains(lon, lat)
        for tiles in self._tiles[1:]:
            inside |= tiles.contains(lon, lat)
        return inside

    def boxes(self) -> list[Box]:
        """(min_lat, min_lon, max_lat, max_lon) boxes, none crossing ±180°, that cover the area.

        A point (longitude within [-180, 180]) outside every box is outside the geofence; use them
        to prefilter in SQL. A box reaching ±180° comes with a thin twin on the other side (-180
        and 180 are one meridian, and `contains` treats them so).
        """
        rows: list[Box] = []
        for boxes in ([] if self._area_boxes is None else [self._area_boxes], self._circle_boxes):
            for array in boxes:
                rows.extend((float(a), float(b), float(c), float(d)) for a, b, c, d in array.tolist())
        def covered(lon: float, min_lat: float, max_lat: float) -> bool:
            return any(b[1] <= lon <= b[3] and b[0] <= min_lat and max_lat <= b[2] for b in rows)

        for min_lat, min_lon, max_lat, max_lon in list(rows):
            for edge, other in ((max_lon, -180.0), (min_lon, 180.0)):
                if abs(edge) >= 180.0 and not covered(other, min_lat, max_lat):
                    rows.append((min_lat, other, max_lat, other))
        return rows

    def bounds(self) -> Box:
        """One (min_lat, min_lon, max_lat, max_lon) box covering everything (all longitudes if split)."""
        boxes = np.array(self.boxes())
        return (float(boxes[:, 0].min()), float(boxes[:, 1].min()), float(boxes[:, 2].max()), float(boxes[:, 3].max()))

    def display_geometry(self) -> MultiPolygon:
        """Polygons and circles (as geodesic polygons) merged, in lon/lat within [-180, 180]."""
        parts: list[Polygon] = [] if self.area is None else list(self.area.geoms)
        for circle in self.circles:
            parts.extend(circle_polygons(circle))
        return as_multipolygon(parts)

    def to_geojson(self) -> dict[str, Any]:
        """A GeoJSON Polygon or MultiPolygon for a map (RFC 7946 winding; circles as 64-gons)."""
        geom = shapely.orient_polygons(self.display_geometry(), exterior_cw=False)
        polygons = [[_ring_coords(p.exterior)] + [_ring_coords(r) for r in p.interiors] for p in geom.geoms]
        if len(polygons) == 1:
            return {"type": "Polygon", "coordinates": polygons[0]}
        return {"type": "MultiPolygon", "coordinates": polygons}


def union(*geofences: Geofence) -> Geofence:
    """One geofence covering every given one (polygons merged, circles kept, warnings kept)."""
    if not geofences:
        raise InvalidShape("target", "no area was given")
    parts = [p for g in geofences if g.area is not None for p in g.area.geoms]
    circles = tuple(dict.fromkeys(c for g in geofences for c in g.circles))
    warnings = tuple(dict.fromkeys(w for g in geofences for w in g.warnings))
    area = as_multipolygon(parts) if parts else None
    return Geofence(area=area, circles=circles, warnings=warnings, validate=False)


def circle_polygons(circle: Circle) -> list[Polygon]:
    """A circle as a geodesic polygon (display only), cut at ±180° and closed over a pole."""
    ring = np.array(circle.ring(), dtype=np.float64)
    lon, turns = unwrap(ring[:, 0], ring[:, 1])
    lat = ring[:, 1]
    if turns:
        pole = circle.contains_pole() or (1 if circle.lat >= 0 else -1)
        lon, lat = close_around_pole(lon, lat, pole)
    with np.errstate(all="ignore"):
        polygon = Polygon(np.column_stack([lon, lat]))
        if not polygon.is_valid:
            polygon = shapely.make_valid(polygon, method="structure", keep_collapsed=False)
        return split_at_antimeridian(polygon)


def _tile(hit: BaseGeometry) -> tuple[TiledArea, ...]:
    """Tiled lookups for the area; parts east and west of 0° apart when it spans the antimeridian."""
    min_lon, _, max_lon, _ = hit.bounds
    parts = polygonal_parts(hit)
    if max_lon - min_lon <= 180.0 or len(parts) < 2:
        return (TiledArea(hit),)
    centres = shapely.bounds(np.array(parts, dtype=object))
    east = (centres[:, 0] + centres[:, 2]) >= 0.0
    groups = [MultiPolygon([p for p, e in zip(parts, east) if e == side]) for side in (True, False)]
    return tuple(TiledArea(g) for g in groups if not g.is_empty)


def _part_boxes(area: MultiPolygon) -> list[Box]:
    bounds = shapely.bounds(np.array(area.geoms))  # rows of (min_lon, min_lat, max_lon, max_lat)
    if len(bounds) > _MAX_PART_BOXES:
        east = (bounds[:, 0] + bounds[:, 2]) >= 0.0
        bounds = np.array([
            [g[:, 0].min(), g[:, 1].min(), g[:, 2].max(), g[:, 3].max()]
            for g in (bounds[east], bounds[~east]) if len(g)
        ])
    m = BOX_MARGIN_DEG
    return [
        (max(b[1] - m, -90.0), max(b[0] - m, -180.0), min(b[3] + m, 90.0), min(b[2] + m, 180.0))
        for b in bounds.tolist()
    ]


def _in_boxes(boxes: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    mask = np.zeros(lat.shape, dtype=bool)
    for min_lat, min_lon, max_lat, max_lon in boxes.tolist():
        mask |= (lat >= min_lat) & (lat <= max_lat) & (lon >= min_lon) & (lon <= max_lon)
    return mask


def _ring_coords(ring: Any) -> list[list[float]]:
    coords = np.round(shapely.get_coordinates(ring), _GEOJSON_DECIMALS)
    return coords.tolist()
