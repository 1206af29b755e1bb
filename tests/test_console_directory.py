"""The directory's console pages: people (search, person page, CSV import), groups and zones."""
from __future__ import annotations

import io
import json
import re

import aiohttp
import pytest
from sqlalchemy import func, select

from alerting.models import AuditEntry, Recipient, Zone
from tests.conftest import System
from tests.console_support import console_user, csrf_of, post_form

PEOPLE = [
    {"external_id": "S-100", "name": "Ana Chen", "phone": "+12025550100", "email": "ana.chen@campus.example.edu",
     "groups": ["Students"], "locations": [{"label": "home", "lat": 38.9081, "lon": -77.0720}]},
    {"external_id": "S-101", "name": "Ben Okafor", "phone": "+12025550101", "email": "ben@campus.example.edu",
     "groups": ["Students"], "locations": [{"label": "home", "lat": 38.9000, "lon": -77.0500}]},
    {"external_id": "F-200", "name": "Chloé Diaz", "phone": "+12025550199", "email": "cdiaz@faculty.example.edu",
     "locale": "es", "groups": ["Faculty"]},
]
#: A square around Ana's home (and no one else's).
SQUARE = {"type": "Polygon", "coordinates": [[[-77.075, 38.906], [-77.069, 38.906], [-77.069, 38.910],
                                              [-77.075, 38.910], [-77.075, 38.906]]]}


async def _directory(system: System) -> None:
    for name in ("Students", "Faculty"):
        await system.call("POST", "/api/v1/groups", json={"name": name}, expect=201)
    await system.call("POST", "/api/v1/recipients", json=PEOPLE, expect=201)


async def _page(client: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with client.get(url) as response:
        return response.status, await response.text()


def post_forms(page: str) -> list[str]:
    """Where the page's POST forms go (a viewer's pages have only the sign-out form)."""
    return [re.search(r'action="([^"]*)"', tag).group(1) for tag in re.findall(r"<form[^>]*>", page) if 'method="post"' in tag]


def _names(page: str) -> set[str]:
    return set(re.findall(r'<a href="/recipients/[^"]+">([^<]+)</a>', page))


async def test_search_finds_people_by_name_id_phone_and_email(system: System) -> None:
    await _directory(system)
    async with await console_user(system.runtime, system.base_url, "viewer") as client:
        for query, expected in [("ana", {"Ana Chen"}), ("okafor ben", {"Ben Okafor"}), ("S-10", {"Ana Chen", "Ben Okafor"}),
                                ("(202) 555-0199", {"Chloé Diaz"}), ("5550101", {"Ben Okafor"}),
                                ("cdiaz@faculty", {"Chloé Diaz"}), ("CAMPUS.example", {"Ana Chen", "Ben Okafor"}),
                                ("nobody", set())]:
            status, page = await _page(client, f"{system.base_url}/recipients?q={query}")
            assert status == 200 and _names(page) == expected, (query, _names(page))
        status, page = await _page(client, f"{system.base_url}/recipients")
        assert _names(page) == {"Ana Chen", "Ben Okafor", "Chloé Diaz"} and "3 people" in page
        groups = await system.call("GET", "/api/v1/groups")
        faculty = next(g["id"] for g in groups if g["name"] == "Faculty")
        status, page = await _page(client, f"{system.base_url}/recipients?group={faculty}")
        assert _names(page) == {"Chloé Diaz"}
        status, page = await _page(client, f"{system.base_url}/recipients?q=%25")  # a LIKE wildcard is just text
        assert _names(page) == set()


async def test_search_pages_through_many_people(system: System) -> None:
    rows = [{"external_id": f"P{n:04d}", "name": f"Person {n:04d}"} for n in range(120)]
    await system.call("POST", "/api/v1/recipients", json=rows, expect=201)
    async with await console_user(system.runtime, system.base_url, "viewer") as client:
        _, first = await _page(client, f"{system.base_url}/recipients?q=person")
        _, third = await _page(client, f"{system.base_url}/recipients?q=person&page=3")
    assert len(_names(first)) == 50 and "Page 1 of 3" in first and "page=2" in first
    assert _names(third) == {f"Person {n:04d}" for n in range(100, 120)}


async def test_the_person_page_shows_contacts_groups_and_locations(system: System) -> None:
    await _directory(system)
    async with await console_user(system.runtime, system.base_url, "viewer") as client:
        status, page = await _page(client, f"{system.base_url}/recipients/S-100")
        assert status == 200
        for text in ("Ana Chen", "+12025550100", "ana.chen@campus.example.edu", "Students", "home: 38.90810",
                     "0 browsers subscribed", "No alert has reached this person yet"):
            assert text in page, text
        status, page = await _page(client, f"{system.base_url}/recipients/NOPE")
        assert status == 404 and "NOPE" in page and "Traceback" not in page


async def test_the_person_page_lists_recent_alerts_and_responses(system: System) -> None:
    await _directory(system)
    from alerting.models import Alert, AlertRecipient, Incident, PushSubscription, Response
    with system.runtime.sessions.begin() as session:
        ana = session.scalar(select(Recipient.id).where(Recipient.external_id == "S-100"))
        incident = Incident(name="Gas leak")
        session.add(incident)
        session.flush()
        for title, drill in (("Gas leak in Chemistry", False), ("Fire drill", True)):
            alert = Alert(incident_id=incident.id, title=title, message="m", drill=drill, status="sent")
            session.add(alert)
            session.flush()
            session.add(AlertRecipient(alert_id=alert.id, recipient_id=ana, response="safe" if drill else None))
        session.add(Response(alert_id=alert.id, recipient_id=ana, kind="safe", channel="sms", raw_text="1"))
        session.add(PushSubscription(recipient_id=ana, endpoint="https://push.example/1", p256dh="k", auth="a"))
    async with await console_user(system.runtime, system.base_url, "viewer") as client:
        status, page = await _page(client, f"{system.base_url}/recipients/S-100")
    alerts = page.split('id="alerts-h"', 1)[1].split("</table>", 1)[0]
    assert alerts.index("Fire drill") < alerts.index("Gas leak in Chemistry")  # newest first
    assert "DRILL" in alerts and "LIVE" in alerts and '<span class="count safe">safe</span>' in alerts
    responses = page.split('id="responses-h"', 1)[1].split("</table>", 1)[0]
    assert "<td>safe</td>" in responses and "<td>SMS</td>" in responses
    assert "1 browser subscribed" in page


CSV = (b"external_id,name,phone,email,groups,department\n"
       b"C-1,Dana Ito,+12025550301,dana@campus.example.edu,Students,Chemistry\n"
       b"C-2,Eli Usman,not a phone,eli@campus.example.edu,Students,Library\n"
       b"C-3,Fay Rossi,+12025550303,fay@campus.example.edu,Nonexistent,Library\n"
       b"C-4,Gus Patel,(202) 555-0304,,Students,Admin\n")


async def _import(client: aiohttp.ClientSession, base: str, body: bytes, **extra: str) -> tuple[int, str]:
    async with client.get(f"{base}/recipients/import") as response:
        token = csrf_of(await response.text())
    form = aiohttp.FormData()
    form.add_field("csrf_token", token)
    for key, value in extra.items():
        form.add_field(key, value)
    form.add_field("file", io.BytesIO(body), filename="people.csv", content_type="text/csv")
    async with client.post(f"{base}/recipients/import", data=form) as response:
        return response.status, await response.text()


async def _imported(system: System, client: aiohttp.ClientSession, body: bytes, **extra: str) -> tuple[int, str]:
    """Upload, land on the import's status page, let the workers import it, read the page again."""
    status, page = await _import(client, system.base_url, body, **extra)
    assert status == 200 and 'id="import-progress"' in page and "Waiting for a worker" in page, page
    assert 'id="import-result"' not in page
    url = re.search(r'data-progress-url="(/recipients/imports/\d+)/progress"', page).group(1)
    await system.drain()
    return await _page(client, system.base_url + url)


def _error_rows(page: str) -> list[list[str]]:
    table = page.split('id="row-errors"', 1)[1].split("</table>", 1)[0]
    return [re.findall(r"<td>([^<]*)</td>", row) for row in table.split("<tr>")[2:]]


async def test_csv_import_reports_each_bad_row_by_line_and_field_and_keeps_the_good_ones(system: System) -> None:
    await _directory(system)
    async with await console_user(system.runtime, system.base_url, "operator") as client:
        status, page = await _imported(system, client, CSV)
    assert status == 200 and "Finished" in page and "100%" in page
    assert "2 created" in page and "0 updated" in page and "2 rejected" in page
    rows = _error_rows(page)
    assert rows[0][:3] == ["3", "C-2", "phone"] and rows[1][:3] == ["4", "C-3", "groups"]
    assert "Nonexistent" in rows[1][3]
    with system.runtime.sessions.begin() as session:
        stored = dict(session.execute(select(Recipient.external_id, Recipient.phone)
                                      .where(Recipient.external_id.like("C-%"))).all())
        assert stored == {"C-1": "+12025550301", "C-4": "+12025550304"}
        assert session.scalar(select(AuditEntry.details).where(AuditEntry.action == "recipients.upsert")
                              .order_by(AuditEntry.id.desc())) == {"created": 2, "updated": 0, "rejected": 2}


async def test_csv_import_can_create_groups_and_updates_on_a_second_run(system: System) -> None:
    await _directory(system)
    async with await console_user(system.runtime, system.base_url, "operator") as client:
        await _imported(system, client, CSV, create_groups="1")
        status, page = await _imported(system, client, CSV.replace(b"not a phone", b"+12025550302"))
    assert status == 200 and "1 created" in page and "3 updated" in page and "0 rejected" in page
    assert "Every row was imported" in page


async def test_csv_import_refuses_a_file_that_cannot_be_read(system: System) -> None:
    async with await console_user(system.runtime, system.base_url, "operator") as client:
        status, page = await _import(client, system.base_url, b"name,phone\nAna,+12025550100\n")
        assert status == 422 and "Line 1: the header has no external_id column" in page and 'id="file-error"' in page
        status, page = await _import(client, system.base_url, b"external_id\n" + b"x" * (10 * 1024 * 1024))
        assert status == 413 and "larger than 10 MB" in page and "Traceback" not in page
        status, page = await _import(client, system.base_url, b"\xff\xfeexternal_id")
        assert status == 422 and "not UTF-8" in page
    with system.runtime.sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(Recipient)) == 0


async def test_groups_list_create_and_members(system: System) -> None:
    await _directory(system)
    async with await console_user(system.runtime, system.base_url, "operator") as client:
        status, page = await _page(client, f"{system.base_url}/groups")
        assert status == 200 and re.search(r"Students</a></td><td>2</td>", page)
        status, path, page = await post_form(client, f"{system.base_url}/groups", f"{system.base_url}/groups",
                                             {"name": "Wardens", "description": "Building wardens"})
        assert status == 200 and path.startswith("/groups/") and "The group was created" in page and "0 members" in page
        status, _, page = await post_form(client, f"{system.base_url}/groups", f"{system.base_url}/groups",
                                          {"name": "Wardens"})
        assert status == 409 and 'id="name-error"' in page and "already exists" in page
        status, _, page = await post_form(client, f"{system.base_url}/groups", f"{system.base_url}/groups",
                                          {"name": "  "})
        assert status == 422 and "name is required" in page
        students = next(g["id"] for g in await system.call("GET", "/api/v1/groups") if g["name"] == "Students")
        status, page = await _page(client, f"{system.base_url}/groups/{students}")
        assert status == 200 and _names(page) == {"Ana Chen", "Ben Okafor"} and "2 members" in page


async def test_a_zone_is_drawn_counted_and_deleted(system: System) -> None:
    await _directory(system)
    async with await console_user(system.runtime, system.base_url, "operator") as client:
        status, path, page = await post_form(client, f"{system.base_url}/zones", f"{system.base_url}/zones", {
            "name": "Hall A", "description": "north hall", "geometry": json.dumps(SQUARE)})
        assert status == 200 and path == "/zones"
        assert "Zone <strong>Hall A</strong> saved: 1 person is inside." in page
        zone_id = re.search(r'<a href="/zones/(\d+)">Hall A</a></td><td class="people-count">1</td>', page).group(1)
        status, path, page = await post_form(client, f"{system.base_url}/zones", f"{system.base_url}/zones", {
            "name": "Circle", "circle_lat": "38.9000", "circle_lon": "-77.0500", "circle_radius_m": "300"})
        assert "Zone <strong>Circle</strong> saved: 1 person is inside." in page
        status, page = await _page(client, f"{system.base_url}/zones/{zone_id}")
        assert status == 200 and "1 person inside" in page and '"display"' in page and "/static/zones.js" in page
        status, page = await _page(client, f"{system.base_url}/zones/{zone_id}/delete")
        assert status == 200 and "Delete the zone Hall A?" in page
        status, path, page = await post_form(client, f"{system.base_url}/zones/{zone_id}/delete",
                                             f"{system.base_url}/zones/{zone_id}/delete", {})
        assert status == 200 and path == "/zones" and "The zone was deleted" in page and "Hall A" not in page
    with system.runtime.sessions.begin() as session:
        assert list(session.scalars(select(Zone.name))) == ["Circle"]
        assert session.scalar(select(AuditEntry.actor).where(AuditEntry.action == "zone.delete")) == \
            "user:operator@test.example.org"


async def test_a_malformed_zone_is_refused_with_the_reason_next_to_the_field(system: System) -> None:
    async with await console_user(system.runtime, system.base_url, "operator") as client:
        url = f"{system.base_url}/zones"
        cases = [
            ({"name": "Bad", "geometry": '{"type": "Polygon", "coordinates": [[[1, 2], [3, 4]'},
             "geometry", "not valid GeoJSON"),
            ({"name": "Bad", "geometry": '{"type": "Point", "coordinates": [-77.0, 38.9]}'}, "geometry", "has no area"),
            ({"name": "Bad", "geometry": json.dumps({"type": "Polygon", "coordinates": [[[38.9, -97.1], [38.9, -97.0],
                                                                                       [39.0, -97.0], [38.9, -97.1]]]})},
             "geometry", "[lon, lat]"),
            ({"name": "Bad", "circle_lat": "38.9", "circle_lon": "-77.0", "circle_radius_m": "far"},
             "circle_radius_m", "radius_m"),
            ({"name": "Bad"}, "geometry", "Draw an area on the map"),
            ({"name": "", "geometry": json.dumps(SQUARE)}, "name", "name is required"),
        ]
        for data, field, reason in cases:
            status, _, page = await post_form(client, url, url, data)
            error = re.search(rf'<p class="field-error" id="{field}-error">([^<]*)</p>', page)
            assert status == 422 and error and reason in error.group(1), (data, page[-3000:] if not error else error.group(1))
            assert "Traceback" not in page and 'aria-invalid="true"' in page
        assert 'name="geometry"' in page and json.dumps(SQUARE).replace('"', "&#34;") in page  # the form keeps what was typed
    with system.runtime.sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(Zone)) == 0


async def test_a_viewer_reads_every_page_but_changes_nothing(system: System) -> None:
    await _directory(system)
    with system.runtime.sessions.begin() as session:
        from alerting import zones
        zone_id = zones.create_zone(session, {"name": "Hall A", "geometry": SQUARE}, actor="test").id
    group_id = (await system.call("GET", "/api/v1/groups"))[0]["id"]
    base = system.base_url
    async with await console_user(system.runtime, base, "viewer") as client:
        for url in ("/recipients", "/recipients/S-100", "/groups", f"/groups/{group_id}", "/zones", f"/zones/{zone_id}"):
            status, page = await _page(client, base + url)
            assert status == 200, url
            assert post_forms(page) == ["/logout"], url
            assert "Import a CSV file" not in page and "Delete zone" not in page
        for url in ("/recipients/import", f"/zones/{zone_id}/delete"):
            status, page = await _page(client, base + url)
            assert status == 403 and "operator role" in page, url
        for url, data in (("/groups", {"name": "Mine"}), ("/zones", {"name": "Z", "geometry": json.dumps(SQUARE)}),
                          (f"/zones/{zone_id}/delete", {}), ("/recipients/import", {})):
            status, _, page = await post_form(client, base + url, base + "/recipients", data)
            assert status == 403 and "operator role" in page, url
    with system.runtime.sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(Zone)) == 1
        assert not session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.actor == "user:viewer@test.example.org", AuditEntry.action != "user.sign_in"))


@pytest.mark.settings(map_tile_url="https://tiles.campus.example/{{z}}/{{x}}/{{y}}.png")  # str.format-ed
async def test_the_map_uses_the_configured_tile_server(system: System) -> None:
    async with await console_user(system.runtime, system.base_url, "viewer") as client:
        status, page = await _page(client, f"{system.base_url}/zones")
    assert status == 200 and 'data-tiles="https://tiles.campus.example/{z}/{x}/{y}.png"' in page
    assert 'data-mode="view"' in page and "leaflet.draw.js" not in page and "No map tiles" not in page


async def test_an_import_page_answers_its_poll_and_only_to_operators(system: System) -> None:
    async with await console_user(system.runtime, system.base_url, "operator") as client:
        status, page = await _import(client, system.base_url, CSV, create_groups="1")
        url = system.base_url + re.search(r'data-progress-url="(/recipients/imports/\d+)/progress"', page).group(1)
        async with client.get(f"{url}/progress") as response:
            assert response.status == 200
            assert await response.json() == {"id": int(url.rsplit("/", 1)[1]), "status": "queued", "total": 0,
                                             "done": 0, "percent": 0, "created": 0, "updated": 0, "rejected": 0,
                                             "message": "", "ended": False}
        status, _, page = await post_form(client, f"{url}/resume", url, {})  # queued already: not twice
        assert status == 200 and "already queued or running" in page
        await system.drain()
        async with client.get(f"{url}/progress") as response:
            progress = await response.json()
        assert (progress["status"], progress["percent"], progress["created"], progress["rejected"]) == ("done", 100, 3, 1)
        status, page = await _page(client, url)
        assert 'id="resume-form"' not in page and "imports.js" not in page
        status, page = await _page(client, f"{system.base_url}/recipients/import")  # found again from the form
        assert f'<a href="{url.removeprefix(system.base_url)}">people.csv</a>' in page
    async with await console_user(system.runtime, system.base_url, "viewer") as client:
        for path in ("", "/progress"):
            status, page = await _page(client, url + path)
            assert status == 403, path
        status, _, page = await post_form(client, f"{url}/resume", system.base_url + "/recipients", {})
        assert status == 403
