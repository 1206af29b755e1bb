"""Targeting benchmarks: geofence membership (geo/bench.py) and the reach preview over a database of
100,000 recipients, the call an operator's map makes while they drag a polygon."""
from __future__ import annotations

import random
import statistics
import time
from pathlib import Path
from typing import Any

from alerting import directory, targeting
from alerting.recipient_input import RecipientInput
from geo.bench import run_geo_benchmarks
from ops import database

#: A county-sized area (about 60 x 60 km) around which recipients live.
CENTRE = (38.90, -77.03)
SPREAD_DEG = 0.3


def _people(n: int, seed: int = 7) -> list[RecipientInput]:
    rng = random.Random(seed)
    return [RecipientInput(external_id=f"G{i:07d}", name=f"Person {i}", phone=f"+1202555{i % 10_000:04d}",
                           locations=[{"label": "home", "lat": CENTRE[0] + rng.uniform(-SPREAD_DEG, SPREAD_DEG),
                                       "lon": CENTRE[1] + rng.uniform(-SPREAD_DEG, SPREAD_DEG)}],
                           given={"name", "phone", "locations"})
            for i in range(n)]


def _polygon(vertices: int) -> dict[str, Any]:
    """A wobbly ring covering roughly the middle third of the area."""
    import math
    rng = random.Random(3)
    ring = []
    for k in range(vertices):
        angle = 2 * math.pi * k / vertices
        r = 0.12 * (1 + 0.2 * rng.random())
        ring.append([CENTRE[1] + r * math.cos(angle), CENTRE[0] + r * math.sin(angle)])
    ring.append(ring[0])
    return {"type": "Polygon", "coordinates": [ring]}


def preview_latency(n: int, root: Path, repeat: int = 7) -> dict[str, Any]:
    path = root / f"preview-{n}.db"
    path.unlink(missing_ok=True)
    url = f"sqlite:///{path.resolve()}"
    database.upgrade(url)
    sessions = database.make_sessions(database.make_engine(url))
    started = time.perf_counter()
    with sessions.begin() as session:
        directory.upsert_recipients(session, _people(n), actor="bench")
    load_s = time.perf_counter() - started
    results: dict[str, Any] = {"benchmark": "preview", "recipients": n, "load_s": round(load_s, 1)}
    for name, target in (("polygon_1000_vertices", {"geometry": _polygon(1000)}),
                         ("circle_5km", {"circle": {"lat": CENTRE[0], "lon": CENTRE[1], "radius_m": 5000}})):
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            with sessions() as session:
                answer = targeting.preview(session, target)
            times.append(time.perf_counter() - t)
        results[name] = {"people": answer["people"], "median_ms": round(statistics.median(times) * 1000, 1),
                         "max_ms": round(max(times) * 1000, 1)}
    return results


def run_targeting_benchmarks(root: Path, preview_n: int = 100_000) -> dict[str, Any]:
    return {"geo": run_geo_benchmarks(), "preview": preview_latency(preview_n, root)}
