"""`from_geojson`: a GeoJSON object (RFC 7946, already decoded from JSON) into a `Geofence`.

Accepted: Polygon (with holes), MultiPolygon, a Feature of either, a FeatureCollection or a
GeometryCollection (the union of their polygonal members). Positions are [lon, lat] or
[lon, lat, altitude] (altitude ignored). Members of a collection that have no area (a Point, a
LineString, a feature without geometry) are skipped with a warning, since collections often carry
labels and markers; the same types at the top level, or in a lone Feature, are an error. See
`geo.polygons` for how rings are closed, repaired and split at the antimeridian.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from geo.coords import lat_lon, number
from geo.errors import InvalidCoordinates, InvalidShape, TooComplex, UnsupportedGeometry
from geo.limits import MAX_NESTING, MAX_VERTICES
from geo.polygons import RawPolygon, build_area
from geo.shapes import Geofence

_NO_AREA = frozenset({"Point", "MultiPoint", "LineString", "MultiLineString"})
_AXIS_HINT = " (GeoJSON positions are [lon, lat])"
_COLLECTIONS = {"FeatureCollection": "features", "GeometryCollection": "geometries"}


def from_geojson(obj: Any, *, field: str = "geometry") -> Geofence:
    """A geofence from a decoded GeoJSON object; `GeofenceError` naming `field` if unusable."""
    parser = _Parser(field)
    parser.collect(obj, "", 0, in_collection=False)
    if not parser.polygons:
        raise InvalidShape(field, "the collection holds no polygon, so it covers no area")
    area, notes = build_area(parser.polygons, field=field, strict=False)
    return Geofence(area=area, warnings=tuple(parser.warnings + notes), validate=False)


class _Parser:
    def __init__(self, field: str) -> None:
        self.field = field
        self.polygons: list[RawPolygon] = []
        self.warnings: list[str] = []
        self.vertices = 0

    def collect(self, obj: Any, path: str, depth: int, *, in_collection: bool, geometry_only: bool = False) -> None:
        kind = self._type(obj, path)
        if geometry_only and kind in ("Feature", "FeatureCollection"):
            raise UnsupportedGeometry(self.field, f"expected a geometry here, got a {kind}", path=path)
        if kind == "Feature":
            geometry = obj.get("geometry")
            if geometry is None:
                self._no_area(path, "the feature has no geometry", in_collection)
            else:
                self.collect(geometry, _key(path, "geometry"), depth, in_collection=in_collection, geometry_only=True)
        elif kind in _COLLECTIONS:
            self._collection(obj, kind, path, depth)
        elif kind == "Polygon":
            self.polygons.append(self._polygon(obj.get("coordinates"), _key(path, "coordinates")))
        elif kind == "MultiPolygon":
            coords_path = _key(path, "coordinates")
            coords = self._array(obj.get("coordinates"), coords_path, "a MultiPolygon's coordinates")
            if not coords:
                raise InvalidShape(self.field, "the MultiPolygon has no polygons", path=coords_path)
            for i, polygon in enumerate(coords):
                self.polygons.append(self._polygon(polygon, f"{coords_path}[{i}]"))
        elif kind in _NO_AREA:
            reason = f"a {kind} has no area: draw a polygon, or use a circle target (centre and radius)"
            self._no_area(path, reason, in_collection)
        else:
            raise UnsupportedGeometry(self.field, f"unknown GeoJSON type {kind[:40]!r}", path=path)

    def _collection(self, obj: Mapping[str, Any], kind: str, path: str, depth: int) -> None:
        if depth >= MAX_NESTING:
            raise TooComplex(self.field, f"collections are nested more than {MAX_NESTING} deep", path=path)
        key = _COLLECTIONS[kind]
        members = self._array(obj.get(key), _key(path, key), f"a {kind}'s {key!r}")
        if not members:
            raise InvalidShape(self.field, f"the {kind} is empty", path=_key(path, key))
        for i, member in enumerate(members):
            member_path = f"{_key(path, key)}[{i}]"
            if kind == "FeatureCollection" and self._type(member, member_path) != "Feature":
                raise UnsupportedGeometry(self.field, "a FeatureCollection may only hold Features", path=member_path)
            self.collect(member, member_path, depth + 1, in_collection=True, geometry_only=kind == "GeometryCollection")

    def _type(self, obj: Any, path: str) -> str:
        if not isinstance(obj, Mapping):
            raise UnsupportedGeometry(self.field, f"expected a GeoJSON object, got {_kind_of(obj)}", path=path)
        kind = obj.get("type")
        if not isinstance(kind, str):
            raise UnsupportedGeometry(self.field, "the GeoJSON object has no 'type' string", path=path)
        return kind

    def _no_area(self, path: str, reason: str, in_collection: bool) -> None:
        if not in_collection:
            raise UnsupportedGeometry(self.field, reason, path=path)
        self.warnings.append(f"{_key(self.field, path)}: skipped, {reason}")

    def _polygon(self, coords: Any, path: str) -> RawPolygon:
        rings = self._array(coords, path, "a Polygon's coordinates")
        return path, [(f"{path}[{i}]", self._ring(ring, f"{path}[{i}]")) for i, ring in enumerate(rings)]

    def _ring(self, ring: Any, path: str) -> np.ndarray:
        positions = self._array(ring, path, "a ring")
        self.vertices += len(positions)
        if self.vertices > MAX_VERTICES:
            raise TooComplex(self.field, f"more than {MAX_VERTICES:,} positions in total", path=path)
        out = np.empty((len(positions), 2), dtype=np.float64)
        for i, position in enumerate(positions):
            if not isinstance(position, (list, tuple)) or not 2 <= len(position) <= 3:
                raise InvalidCoordinates(
                    self.field, f"a position must be [lon, lat] or [lon, lat, altitude], got {_kind_of(position)}",
                    path=f"{path}[{i}]",
                )
            if len(position) == 3:
                number(position[2], self.field, f"{path}[{i}]", "altitude")
            lat, lon = lat_lon(position[1], position[0], self.field, f"{path}[{i}]", hint=_AXIS_HINT)
            out[i] = lon, lat
        return out

    def _array(self, value: Any, path: str, what: str) -> list[Any] | tuple[Any, ...]:
        if not isinstance(value, (list, tuple)):
            raise InvalidCoordinates(self.field, f"{what} must be an array, got {_kind_of(value)}", path=path)
        return value


def _key(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, (list, tuple)):
        return f"an array of {len(value)}"
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    return type(value).__name__
