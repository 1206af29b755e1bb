"""Geofence targeting through the API: membership checked against points placed by construction."""
from __future__ import annotations

import io
import json
import math

from tests.conftest import System
from tests.helpers import phone

EARTH_RADIUS_M = 6_371_008.8
# A 0.1° square near Washington with a 0.04° square hole in the middle (GeoJSON: [lon, lat]).
SQUARE = [[-77.10, 38.80], [-77.00, 38.80], [-77.00, 38.90], [-77.10, 38.90], [-77.10, 38.80]]
HOLE = [[-77.07, 38.83], [-77.03, 38.83], [-77.03, 38.87], [-77.07, 38.87], [-77.07, 38.83]]
POLYGON = {"type": "Polygon", "coordinates": [SQUARE, HOLE]}

PEOPLE = {
    # name: [(label, lat, lon), ...]
    "inside": [("home", 38.81, -77.09)],
    "inside-2": [("home", 38.89, -77.01)],
    "in-hole": [("home", 38.85, -77.05)],
    "outside": [("home", 38.95, -77.05)],
    "on-edge": [("home", 38.80, -77.05)],            # on the square's southern edge
    "on-hole-edge": [("home", 38.83, -77.05)],       # on the hole's southern edge: counts as inside
    "twice-inside": [("home", 38.81, -77.08), ("work", 38.88, -77.02)],
    "works-inside": [("home", 40.0, -75.0), ("work", 38.82, -77.09)],
}


def _offset_north(lat: float, lon: float, metres: float) -> tuple[float, float]:
    """A point `metres` due north on the sphere: an independent computation (no library)."""
    return lat + math.degrees(metres / EARTH_RADIUS_M), lon


async def _people(system: System) -> None:
    await system.call("POST", "/api/v1/groups", json={"name": "Staff"}, expect=201)
    body = [{"external_id": name, "name": name, "phone": phone(i), "groups": ["Staff"] if i % 2 else [],
             "locations": [{"label": label, "lat": lat, "lon": lon} for label, lat, lon in places]}
            for i, (name, places) in enumerate(PEOPLE.items())]
    result = await system.call("POST", "/api/v1/recipients", json=body, expect=201)
    assert result["rejected"] == 0, result


async def _reach(system: System, target: dict, expect: int = 200) -> dict:
    return await system.call("POST", "/api/v1/targets/preview?list=external_id", json=target, expect=expect)


async def test_polygon_with_a_hole(system: System) -> None:
    await _people(system)
    result = await _reach(system, {"geometry": POLYGON})
    assert result["external_ids"] == sorted(["inside", "inside-2", "on-edge", "on-hole-edge", "twice-inside",
                                             "works-inside"])
    assert result["people"] == 6 and result["contacts"]["sms"] == 6 and result["contacts"]["email"] == 0
    only_homes = await _reach(system, {"geometry": POLYGON, "location_labels": ["home"]})
    assert "works-inside" not in only_homes["external_ids"] and "twice-inside" in only_homes["external_ids"]


async def test_feature_collection_multipolygon_and_cap_polygon_agree(system: System) -> None:
    await _people(system)
    feature = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, "geometry": POLYGON}]}
    multi = {"type": "MultiPolygon", "coordinates": [[SQUARE, HOLE]]}
    cap = " ".join(f"{lat},{lon}" for lon, lat in SQUARE)  # CAP: lat,lon and no hole
    a, b, c = (await _reach(system, {"geometry": feature}), await _reach(system, {"geometry": multi}),
               await _reach(system, {"cap_polygon": cap}))
    assert a["external_ids"] == b["external_ids"]
    assert c["external_ids"] == sorted(a["external_ids"] + ["in-hole"])


async def test_circle_radius_is_geodesic(system: System) -> None:
    await system.call("POST", "/api/v1/recipients", expect=201, json=[
        {"external_id": f"d{metres}", "locations": [dict(zip(("lat", "lon"), _offset_north(60.0, 10.0, metres)))]}
        for metres in (0, 4_900, 4_990, 5_010, 5_200)] + [
        # Due east at 60°N a degree of longitude is about half as long: 5 km is ~0.0899° of longitude.
        {"external_id": "east-4.9km", "locations": [{"lat": 60.0, "lon": 10.0 + math.degrees(4_900 / (EARTH_RADIUS_M * math.cos(math.radians(60))))}]},
        {"external_id": "east-5.1km", "locations": [{"lat": 60.0, "lon": 10.0 + math.degrees(5_100 / (EARTH_RADIUS_M * math.cos(math.radians(60))))}]},
    ])
    inside = ["d0", "d4900", "d4990", "east-4.9km"]
    result = await _reach(system, {"circle": {"lat": 60.0, "lon": 10.0, "radius_m": 5_000}})
    assert result["external_ids"] == sorted(inside)
    cap = await _reach(system, {"cap_circle": "60.0,10.0 5"})
    assert cap["external_ids"] == sorted(inside)


async def test_zones_unions_exclusions_and_people_counted_once(system: System) -> None:
    await _people(system)
    zone = await system.call("POST", "/api/v1/zones", json={"name": "River district", "geometry": POLYGON}, expect=201)
    assert zone["display"]["type"] in ("Polygon", "MultiPolygon")
    await system.call("POST", "/api/v1/zones", json={"name": "River district", "geometry": POLYGON}, expect=409)
    by_zone = await _reach(system, {"zones": ["River district"]})
    assert by_zone["people"] == 6
    union = await _reach(system, {"zones": ["River district"], "groups": ["Staff"], "recipients": ["outside"]})
    staff = [name for i, name in enumerate(PEOPLE) if i % 2]
    assert union["external_ids"] == sorted(set(by_zone["external_ids"]) | set(staff) | {"outside"})
    excluded = await _reach(system, {"zones": ["River district"], "exclude": {"groups": ["Staff"]}})
    assert excluded["external_ids"] == sorted(set(by_zone["external_ids"]) - set(staff))
    assert (await system.call("GET", "/api/v1/zones"))[0]["name"] == "River district"
    await _reach(system, {"zones": ["Atlantis"]}, expect=422)


async def test_an_alert_to_a_drawn_area_reaches_exactly_the_people_inside(system: System) -> None:
    await _people(system)
    alert = await system.call("POST", "/api/v1/alerts", expect=201, json={
        "title": "Flash flood", "message": "Move to higher ground.", "channels": ["sms"], "target": {"geometry": POLYGON}})
    assert alert["recipients"] == 6
    await system.call("POST", f"/api/v1/alerts/{alert['id']}/send", expect=202)
    await system.drain()
    reached = {name for i, name in enumerate(PEOPLE)
               if await system.call("GET", "/sandbox/messages", params={"to": phone(i)})}
    assert reached == {"inside", "inside-2", "on-edge", "on-hole-edge", "twice-inside", "works-inside"}


async def test_csv_import_takes_one_location_per_row(system: System) -> None:
    csv = (b"external_id,name,lat,lon,location_label\n"
           b"c1,A,38.81,-77.09,Work\nc2,B,91,-77,\nc3,C,38.95,-77.05,\nc1,A,38.81,-77.09,home\n")
    result = await system.call("POST", "/api/v1/recipients/import", data=csv, expect=200)
    assert [(e["line"], e["field"]) for e in result["errors"]] == [(3, "lat"), (5, "external_id")]
    person = await system.call("GET", "/api/v1/recipients/c1")
    assert [(loc["label"], loc["lat"]) for loc in person["locations"]] == [("work", 38.81)]
    # A later import of the same person with another label adds that location and keeps "work".
    await system.call("POST", "/api/v1/recipients/import", data=b"external_id,lat,lon,location_label\nc1,38.5,-77.5,home\n",
                      expect=200)
    person = await system.call("GET", "/api/v1/recipients/c1")
    assert sorted(loc["label"] for loc in person["locations"]) == ["home", "work"]


async def test_bad_geometry_gets_a_clear_4xx_never_a_500(system: System) -> None:
    await _people(system)
    unclosed = {"type": "Polygon", "coordinates": [SQUARE[:-1]]}
    result = await _reach(system, {"geometry": unclosed})
    assert result["people"] == 7 and any("clos" in w for w in result["warnings"])  # no hole: in-hole too
    bowtie = {"type": "Polygon", "coordinates": [[[-77.1, 38.8], [-77.0, 38.9], [-77.0, 38.8], [-77.1, 38.9], [-77.1, 38.8]]]}
    repaired = await _reach(system, {"geometry": bowtie})
    assert any("repair" in w for w in repaired["warnings"])
    swapped = {"type": "Polygon", "coordinates": [[[lat, lon] for lon, lat in SQUARE]]}  # [lat, lon]: lands elsewhere
    result = await _reach(system, {"geometry": swapped})
    assert result["people"] == 0 and any("reaches no one" in w for w in result["warnings"])
    for bad, field in [
        ({"geometry": {"type": "Polygon", "coordinates": [[[-77.1, 38.8], [-77.0, 95.0], [-77.0, 38.8], [-77.1, 38.8]]]}}, "target.geometry"),
        ({"geometry": {"type": "Point", "coordinates": [-77.0, 38.8]}}, "target.geometry"),
        ({"geometry": {"type": "Polygon", "coordinates": []}}, "target.geometry"),
        ({"geometry": "not geojson"}, "target.geometry"),
        ({"circle": {"lat": 38.8, "lon": -77.0, "radius_m": -5}}, "target.circle"),
        ({"cap_polygon": "38.8,-77.1 38.9,-77.0 38.8,-77.0"}, "target.cap_polygon"),
        ({"cap_circle": "38.8,-77.0"}, "target.cap_circle"),
    ]:
        body = await _reach(system, bad, expect=422)
        assert body["error"]["field"].startswith(field), (bad, body)
        assert body["error"]["message"]
    huge = json.dumps({"geometry": {"type": "Polygon", "coordinates": [[[0.0, 0.0]] * 3_000_000]}}).encode()
    async with system.api.post(f"{system.base_url}/api/v1/targets/preview", data=io.BytesIO(huge)) as response:
        assert response.status == 413


async def test_reaches_anyone_agrees_with_a_full_resolve(system: System) -> None:
    """`send` checks only that a target reaches someone (one LIMIT 1 query per part): it must say
    exactly what resolving the whole target says, for every kind of part and for exclusions."""
    from alerting import targeting
    await _people(system)
    await system.call("POST", "/api/v1/groups", json={"name": "Nobody"}, expect=201)
    far = {"type": "Polygon", "coordinates": [[[10, 10], [10.1, 10], [10.1, 10.1], [10, 10.1], [10, 10]]]}
    targets = [
        {"groups": ["Staff"]}, {"groups": ["Nobody"]}, {"recipients": ["outside"]}, {"recipients": ["nobody-by-that-id"]},
        {"geometry": POLYGON}, {"geometry": far}, {"geometry": POLYGON, "location_labels": ["gym"]},
        {"groups": ["Nobody"], "geometry": POLYGON},
        {"geometry": POLYGON, "exclude": {"geometry": POLYGON}},
        {"groups": ["Staff"], "exclude": {"recipients": ["inside"]}},
        {"groups": ["Staff", "Nobody"], "recipients": ["outside", "inside"]},
    ]
    with system.runtime.sessions() as session:
        for raw in targets:
            # A stored target may name someone deleted since: resolved as it is, not normalized again.
            target = raw if raw.get("recipients") == ["nobody-by-that-id"] else targeting.normalize_target(session, raw)
            assert targeting.reaches_anyone(session, target) is (targeting.count(session, target) > 0), raw
            # The dispatch's first batch: exactly the lowest ids of the full resolve, where it applies.
            first = targeting.first_ids(session, target, 2)
            if "exclude" in target or "geometry" in target:
                assert first is None, raw
            else:
                assert first is not None and list(first) == list(targeting.resolve(session, target)[:2]), raw
