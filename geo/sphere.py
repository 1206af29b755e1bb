"""Geodesic circles on a sphere: membership by haversine, covering boxes, display rings, areas.

Distances are great-circle distances on a sphere of radius `EARTH_RADIUS_M`. Longitude differences
enter the haversine only through sin², so a circle across the antimeridian or over a pole needs no
special case there; only the covering boxes (the prefilter) do.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from geo.errors import InvalidCoordinates, InvalidShape
from geo.limits import BOX_MARGIN_DEG, CIRCLE_DISPLAY_SEGMENTS, EARTH_RADIUS_M, MAX_RADIUS_M, MIN_RADIUS_M

Box = tuple[float, float, float, float]
"""(min_lat, min_lon, max_lat, max_lon) in degrees; never crosses the antimeridian."""


@dataclass(frozen=True)
class Circle:
    """All points within `radius_m` metres (great-circle distance) of a centre; the edge is inside."""

    lat: float
    lon: float
    radius_m: float

    def __post_init__(self) -> None:
        for name, value, limit in (("lat", self.lat, 90.0), ("lon", self.lon, 180.0)):
            if isinstance(value, bool) or not (isinstance(value, (int, float)) and -limit <= value <= limit):
                raise InvalidCoordinates("circle", f"{name} must be within [-{limit:g}, {limit:g}], got {value!r}")
        radius = self.radius_m
        if isinstance(radius, bool) or not (isinstance(radius, (int, float)) and MIN_RADIUS_M <= radius <= MAX_RADIUS_M):
            raise InvalidShape(
                "circle", f"radius_m must be within [{MIN_RADIUS_M:g}, {MAX_RADIUS_M:g}], got {self.radius_m!r}"
            )

    @property
    def angle(self) -> float:
        """The radius as an angle at the Earth's centre, in radians."""
        return self.radius_m / EARTH_RADIUS_M

    def contains(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Haversine test for arrays of finite degrees (no prefilter: see `boxes`)."""
        phi0 = math.radians(self.lat)
        phi = np.radians(lat)
        dlam = np.radians(lon - self.lon)
        a = np.sin((phi - phi0) * 0.5) ** 2 + math.cos(phi0) * np.cos(phi) * np.sin(dlam * 0.5) ** 2
        # hav(distance) is monotonic in distance on [0, pi]: compare it with hav(radius) directly.
        return a <= math.sin(self.angle * 0.5) ** 2

    def contains_pole(self) -> int:
        """+1 or -1 if the north or south pole is inside, else 0."""
        d = math.degrees(self.angle)
        if self.lat + d >= 90.0:
            return 1
        if self.lat - d <= -90.0:
            return -1
        return 0

    def boxes(self, margin: float = BOX_MARGIN_DEG) -> list[Box]:
        """Boxes that together cover the circle, split at the antimeridian, widened by `margin`."""
        d = math.degrees(self.angle) + margin
        lo_lat, hi_lat = max(self.lat - d, -90.0), min(self.lat + d, 90.0)
        if self.lat + d >= 90.0 or self.lat - d <= -90.0:
            return [(lo_lat, -180.0, hi_lat, 180.0)]  # a pole is (nearly) inside: every longitude
        # Widest longitude reached by a spherical cap: asin(sin d / cos lat).
        ratio = math.sin(self.angle) / math.cos(math.radians(self.lat))
        dlon = math.degrees(math.asin(min(ratio, 1.0))) + margin
        west, east = self.lon - dlon, self.lon + dlon
        if dlon >= 180.0:
            return [(lo_lat, -180.0, hi_lat, 180.0)]
        if west < -180.0:
            return [(lo_lat, west + 360.0, hi_lat, 180.0), (lo_lat, -180.0, hi_lat, east)]
        if east > 180.0:
            return [(lo_lat, west, hi_lat, 180.0), (lo_lat, -180.0, hi_lat, east - 360.0)]
        return [(lo_lat, west, hi_lat, east)]

    def ring(self, segments: int = CIRCLE_DISPLAY_SEGMENTS) -> list[tuple[float, float]]:
        """The closed ring of (lon, lat) points at the radius; it may jump across the antimeridian."""
        bearings = np.linspace(0.0, 2.0 * math.pi, segments, endpoint=False)
        lat, lon = destination(self.lat, self.lon, bearings, self.angle)
        points = list(zip(lon.tolist(), lat.tolist()))
        return points + [points[0]]

    def area_m2(self) -> float:
        """The exact area of the spherical cap."""
        return 2.0 * math.pi * EARTH_RADIUS_M**2 * (1.0 - math.cos(self.angle))


def destination(lat: float, lon: float, bearing: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """Points `angle` radians along great circles from (lat, lon) at `bearing` radians (from north)."""
    phi1, lam1 = math.radians(lat), math.radians(lon)
    sin_phi2 = math.sin(phi1) * math.cos(angle) + math.cos(phi1) * math.sin(angle) * np.cos(bearing)
    phi2 = np.arcsin(np.clip(sin_phi2, -1.0, 1.0))
    lam2 = lam1 + np.arctan2(
        np.sin(bearing) * math.sin(angle) * math.cos(phi1), math.cos(angle) - math.sin(phi1) * sin_phi2
    )
    lon2 = (np.degrees(lam2) + 180.0) % 360.0 - 180.0
    return np.degrees(phi2), lon2


def equal_area_m2(geom: BaseGeometry) -> float:
    """Area of lon/lat polygons on the sphere, in m².

    Computed in Lambert's cylindrical equal-area projection (x = lon, y = sin lat, in radians), where
    planar area times R² is area on the sphere: exact for edges along meridians and parallels, very
    close for other edges of a lon/lat polygon.
    """
    def project(xy: np.ndarray) -> np.ndarray:
        return np.column_stack([np.radians(xy[:, 0]), np.sin(np.radians(xy[:, 1]))])

    return float(shapely.transform(geom, project).area) * EARTH_RADIUS_M**2
