"""Rings across the antimeridian and around a pole (RFC 7946 §3.1.9).

Policy: consecutive longitudes that differ by more than 180° are read as a crossing of the
antimeridian, the short way round, never as an edge spanning most of the globe (except along a
pole, see `unwrap`). We unwrap such a ring into one continuous strip of longitudes (e.g. 177 →
182), validate it there, and cut the result at ±180° into parts that lie within [-180, 180]. A
ring that winds once all the way around (its longitudes gain or lose 360°) encircles a pole; we
close it through the pole on the side of its mean latitude, with a warning.
"""
from __future__ import annotations

import math

import numpy as np
import shapely
from shapely.geometry import GeometryCollection, MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry


def unwrap(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, int]:
    """Longitudes made continuous, and the number of full turns (-1, 0, 1, ...) the ring makes.

    An edge along a pole (both ends at the same latitude ±90) is how a ring already split at ±180°
    closes over the pole, from 180 to -180 along the map's top or bottom edge: not a crossing.
    """
    step = np.diff(lon)
    along_pole = (np.abs(lat[:-1]) == 90.0) & (lat[:-1] == lat[1:])
    jump = np.where(step > 180.0, -360.0, np.where(step < -180.0, 360.0, 0.0))
    jump[along_pole] = 0.0
    unwrapped = lon + np.concatenate(([0.0], np.cumsum(jump)))
    turns = int(round((unwrapped[-1] - unwrapped[0]) / 360.0))
    return unwrapped, turns


def close_around_pole(lon: np.ndarray, lat: np.ndarray, pole: int) -> tuple[np.ndarray, np.ndarray]:
    """Close a ring that winds once around the globe through the north (+1) or south (-1) pole."""
    pole_lat = 90.0 * pole
    lon = np.concatenate((lon, [lon[-1], lon[0], lon[0]]))
    lat = np.concatenate((lat, [pole_lat, pole_lat, lat[0]]))
    return lon, lat


def shift_near(lon: np.ndarray, centre: float) -> np.ndarray:
    """`lon` moved by whole turns so that its middle lies within 180° of `centre` (for holes)."""
    middle = (float(lon.min()) + float(lon.max())) / 2.0
    return lon + 360.0 * round((centre - middle) / 360.0)


def polygonal_parts(geom: BaseGeometry) -> list[Polygon]:
    """The non-empty polygons inside any geometry (lines and points left by an operation dropped)."""
    if isinstance(geom, Polygon):
        return [] if geom.is_empty or geom.area <= 0.0 else [geom]
    if isinstance(geom, (MultiPolygon, GeometryCollection)):
        return [p for part in geom.geoms for p in polygonal_parts(part)]
    return []


def split_at_antimeridian(geom: BaseGeometry) -> list[Polygon]:
    """Polygons of an unwrapped geometry cut at ±180° and moved back into [-180, 180]."""
    if geom.is_empty:
        return []
    min_lon, _, max_lon, _ = geom.bounds
    if -180.0 <= min_lon and max_lon <= 180.0:
        return polygonal_parts(geom)
    parts: list[Polygon] = []
    first = math.floor((min_lon + 180.0) / 360.0)
    last = math.floor((max_lon + 180.0) / 360.0)
    for turn in range(first, last + 1):
        offset = 360.0 * turn
        window = shapely.box(-180.0 + offset, -90.0, 180.0 + offset, 90.0)
        piece = shapely.intersection(geom, window)
        if offset:
            piece = shapely.transform(piece, lambda xy, offset=offset: xy - np.array([offset, 0.0]))
        parts.extend(polygonal_parts(piece))
    return parts


def as_multipolygon(parts: list[Polygon]) -> MultiPolygon:
    """The union of `parts` (overlaps merged) as one MultiPolygon, possibly empty."""
    merged = shapely.union_all(parts) if parts else MultiPolygon()
    return MultiPolygon(polygonal_parts(merged))
