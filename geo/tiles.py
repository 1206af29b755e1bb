"""Fast exact point-in-area tests for large or jagged polygons: the area cut into a grid of tiles.

GEOS answers a point-in-polygon query in time that grows with the number of edges a horizontal
line through the point crosses: fine for a smooth outline, ~30x slower for a jagged 10,000-vertex
coastline. So we cut the area into up to 64 x 64 tiles (by recursive quartering, so that each cut
works on a small piece: `TiledArea._fill`): a tile wholly inside answers True for all its points, a
tile wholly outside False, and the rest ask GEOS about their own small piece. Answers are identical to asking about
the whole area: each tile's piece is the area intersected with the tile grown by `_OVERLAP_DEG`,
more than any rounding in the tile a point is assigned to.
"""
from __future__ import annotations

import numpy as np
import shapely
import shapely.errors
from shapely.geometry.base import BaseGeometry

_VERTICES_PER_TILE = 8    # aim: few edges per piece, so each GEOS query is cheap (measured: 8-16 best)
_MAX_SIDE = 64            # at most 4,096 tiles: bounded build time and per-tile loop overhead
_OVERLAP_DEG = 1e-9       # tiles overlap by this much: a point near a tile edge is judged exactly

_OUTSIDE, _INSIDE, _PARTIAL = 0, 1, 2


class TiledArea:
    """`contains(lon, lat)` for one prepared geometry, answered tile by tile."""

    def __init__(self, geom: BaseGeometry) -> None:
        vertices = int(shapely.get_num_coordinates(geom))
        side = 1
        while side < _MAX_SIDE and side * side * _VERTICES_PER_TILE < vertices:
            side *= 2
        self.side = side
        self.x0, self.y0, x1, y1 = geom.bounds
        self.x1, self.y1 = x1, y1
        self.dx = (x1 - self.x0) / side
        self.dy = (y1 - self.y0) / side
        self.status = np.zeros((side, side), dtype=np.int8)
        self.pieces = np.empty((side, side), dtype=object)
        with np.errstate(all="ignore"):
            self._fill(geom, 0, 0, side)

    def _bounds(self, i: int, j: int, size: int) -> tuple[float, float, float, float]:
        return (
            self.x0 + i * self.dx - _OVERLAP_DEG, self.y0 + j * self.dy - _OVERLAP_DEG,
            self.x0 + (i + size) * self.dx + _OVERLAP_DEG, self.y0 + (j + size) * self.dy + _OVERLAP_DEG,
        )

    def _fill(self, geom: BaseGeometry, i: int, j: int, size: int) -> None:
        """Classify the `size` x `size` block at (i, j); `geom` is the area within its (grown) box."""
        if geom.is_empty:
            return
        if _is_box(geom, self._bounds(i, j, size)):
            self.status[i:i + size, j:j + size] = _INSIDE
            return
        if size == 1:
            shapely.prepare(geom)
            self.status[i, j] = _PARTIAL
            self.pieces[i, j] = geom
            return
        half = size // 2
        for di in (0, half):
            for dj in (0, half):
                # GEOS's rectangle clipping: linear time (an overlay is ~100x slower on jagged
                # outlines). Its output may touch itself along the rectangle, which does not
                # change the ray-crossing parity that point queries use.
                child = shapely.clip_by_rect(geom, *self._bounds(i + di, j + dj, half))
                self._fill(child, i + di, j + dj, half)

    def contains(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Exact membership (edges inside) of finite points, any number of them."""
        within = (lon >= self.x0) & (lon <= self.x1) & (lat >= self.y0) & (lat <= self.y1)
        ix = np.clip(((lon - self.x0) / self.dx).astype(np.int64), 0, self.side - 1)
        iy = np.clip(((lat - self.y0) / self.dy).astype(np.int64), 0, self.side - 1)
        status = np.where(within, self.status[ix, iy], _OUTSIDE)
        inside = status == _INSIDE
        partial = np.flatnonzero(status == _PARTIAL)
        if partial.size:
            tile = (ix[partial] * self.side + iy[partial]).astype(np.int16)  # < 4,096 tiles
            order = np.argsort(tile, kind="stable")  # a linear-time radix sort for int16
            partial, tile = partial[order], tile[order]
            starts = np.flatnonzero(np.diff(tile)) + 1
            pieces = self.pieces.ravel()
            for begin, end in zip([0, *starts.tolist()], [*starts.tolist(), partial.size]):
                idx = partial[begin:end]
                inside[idx] = shapely.intersects_xy(pieces[tile[begin]], lon[idx], lat[idx])
        return inside


def _is_box(geom: BaseGeometry, bounds: tuple[float, float, float, float]) -> bool:
    """Whether `geom` (clipped to `bounds`) is the whole rectangle; unsure means no (exact path)."""
    if shapely.get_num_coordinates(geom) > 16 or geom.geom_type != "Polygon":
        return False
    box = shapely.box(*bounds)
    if geom.area < box.area * (1.0 - 1e-9):
        return False
    try:
        return bool(shapely.equals(geom, box))
    except shapely.errors.GEOSException:
        return False
