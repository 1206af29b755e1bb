"""The JSON API's rules: authentication, roles, validation with the field at fault, idempotent imports."""
from __future__ import annotations

import hashlib

import aiohttp
from sqlalchemy import select

from alerting.models import ApiToken, AuditEntry
from tests.conftest import System, make_token
from tests.helpers import people_csv, phone


async def test_requests_without_a_valid_token_are_refused(system: System) -> None:
    async with aiohttp.ClientSession() as anonymous:
        for headers in ({}, {"Authorization": "Bearer tsn_wrong"}, {"Authorization": "Basic abc"}):
            async with anonymous.get(f"{system.base_url}/api/v1/groups", headers=headers) as response:
                assert response.status == 401
                assert "token" in (await response.json())["error"]["message"]


async def test_tokens_are_stored_only_as_digests(system: System) -> None:
    with system.runtime.sessions() as session:
        stored = session.scalars(select(ApiToken.token_hash)).all()
    assert system.token not in stored
    assert hashlib.sha256(system.token.encode()).hexdigest() in stored


async def test_a_viewer_can_read_but_not_create_or_send(system: System) -> None:
    await system.call("POST", "/api/v1/groups", json={"name": "Everyone"}, expect=201)
    await system.call("POST", "/api/v1/recipients", json={"external_id": "a", "phone": phone(1), "groups": ["Everyone"]},
                      expect=201)
    alert = await system.call("POST", "/api/v1/alerts", expect=201, json={
        "title": "T", "message": "M", "channels": ["sms"], "target": {"groups": ["Everyone"]}})
    viewer = make_token(system.runtime, "viewer")
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {viewer}"}) as session:
        async with session.get(f"{system.base_url}/api/v1/alerts/{alert['id']}") as response:
            assert response.status == 200
        for path, body in [(f"/api/v1/alerts/{alert['id']}/send", None), ("/api/v1/groups", {"name": "X"}),
                           ("/api/v1/alerts", {"title": "T"})]:
            async with session.post(f"{system.base_url}{path}", json=body) as response:
                assert response.status == 403, path
    assert (await system.call("GET", f"/api/v1/alerts/{alert['id']}"))["status"] == "draft"


async def test_alert_validation_names_the_field(system: System) -> None:
    await system.call("POST", "/api/v1/groups", json={"name": "Empty"}, expect=201)
    base = {"title": "Gas leak", "message": "Leave now", "channels": ["sms"], "target": {"groups": ["Empty"]}}
    cases = [
        ({"message": "   "}, "message"), ({"title": ""}, "title"), ({"channels": []}, "channels"),
        ({"channels": ["pigeon"]}, "channels"), ({"target": {"groups": ["Nobody"]}}, "target.groups"),
        ({"target": {}}, "target"), ({"target": {"planet": "Mars"}}, "target.planet"),
        ({"severity": "apocalyptic"}, "severity"), ({"drill": "yes"}, "drill"),
        ({"target": {"recipients": ["ghost"]}}, "target.recipients"),
    ]
    for change, field in cases:
        body = await system.call("POST", "/api/v1/alerts", json={**base, **change}, expect=422)
        assert body["error"]["field"] == field, (change, body)
    body = await system.call("POST", "/api/v1/alerts", data=b"{not json", expect=422)
    assert "not valid JSON" in body["error"]["message"]
    # An alert whose groups hold no one cannot be sent; it stays a draft.
    alert = await system.call("POST", "/api/v1/alerts", json=base, expect=201)
    body = await system.call("POST", f"/api/v1/alerts/{alert['id']}/send", expect=422)
    assert "reaches no one" in body["error"]["message"]
    await system.call("GET", "/api/v1/alerts/999", expect=404)
    await system.call("POST", "/api/v1/alerts/999/send", expect=404)
    await system.call("GET", "/api/v1/alerts/abc", expect=404)


async def test_recipients_json_create_update_and_reject(system: System) -> None:
    await system.call("POST", "/api/v1/groups", json={"name": "Staff"}, expect=201)
    await system.call("POST", "/api/v1/groups", json={"name": "Staff"}, expect=409)
    created = await system.call("POST", "/api/v1/recipients", expect=201, json=[
        {"external_id": "e1", "name": "Ann", "phone": "(202) 555-0101", "groups": ["Staff"]},
        {"external_id": "e2", "name": "Bob", "phone": "555", "groups": ["Staff"]},
        {"external_id": "e3", "name": "Cy", "groups": ["Nope"]},
        {"external_id": "e1", "name": "Ann again"},
    ])
    assert (created["created"], created["updated"], created["rejected"]) == (1, 0, 3)
    assert [(e.get("index"), e.get("field")) for e in created["errors"]] == [
        (1, "phone"), (2, "groups"), (3, "external_id")]
    assert "at index 0" in created["errors"][2]["message"]
    # Updating by external_id changes only the fields given.
    updated = await system.call("POST", "/api/v1/recipients", expect=200, json={"external_id": "e1", "email": "a@x.org"})
    assert (updated["created"], updated["updated"]) == (0, 1)
    person = await system.call("GET", "/api/v1/recipients/e1", expect=200)
    assert (person["name"], person["phone"], person["email"], person["groups"]) == ("Ann", "+12025550101", "a@x.org", ["Staff"])
    single_bad = await system.call("POST", "/api/v1/recipients", json={"external_id": "z", "email": "nope"}, expect=422)
    assert single_bad["error"]["field"] == "email"
    await system.call("GET", "/api/v1/recipients/nobody", expect=404)


async def test_csv_import_is_a_nightly_sync(system: System) -> None:
    await system.call("POST", "/api/v1/groups", json={"name": "Everyone"}, expect=201)
    first = await system.call("POST", "/api/v1/recipients/import", data=people_csv(100), expect=200)
    assert (first["created"], first["updated"], first["rejected"]) == (100, 0, 0)
    again = await system.call("POST", "/api/v1/recipients/import", data=people_csv(110), expect=200)
    assert (again["created"], again["updated"], again["rejected"]) == (10, 100, 0)
    broken = (b"external_id,name,phone,groups\nq1,Q,+12025559999,Everyone\nq2,R,bad,Everyone\n"
              b"q3,S,+12025559998,Unknown\nq1,T,+12025559997,Everyone\n")
    result = await system.call("POST", "/api/v1/recipients/import", data=broken, expect=200)
    assert (result["created"], result["rejected"]) == (1, 3)
    assert [(e["line"], e["field"]) for e in result["errors"]] == [(3, "phone"), (4, "groups"), (5, "external_id")]
    assert "Unknown" in result["errors"][1]["message"]
    auto = await system.call("POST", "/api/v1/recipients/import?create_groups=true", data=broken, expect=200)
    assert auto["created_groups"] == ["Unknown"] and auto["rejected"] == 2
    groups = {g["name"]: g["members"] for g in await system.call("GET", "/api/v1/groups")}
    assert groups == {"Everyone": 111, "Unknown": 1}
    empty = await system.call("POST", "/api/v1/recipients/import", data=b"", expect=422)
    assert "header" in empty["error"]["message"]


async def test_changes_are_audited_without_personal_data(system: System) -> None:
    await system.call("POST", "/api/v1/groups", json={"name": "Everyone"}, expect=201)
    await system.call("POST", "/api/v1/recipients/import", data=people_csv(3), expect=200)
    with system.runtime.sessions() as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert [e.action for e in entries][-2:] == ["group.create", "recipients.upsert"]
    assert all(phone(0) not in str(e.details) for e in entries)


async def test_sms_segments_are_counted_and_long_texts_warned(system: System) -> None:
    await system.call("POST", "/api/v1/groups", json={"name": "Everyone"}, expect=201)
    await system.call("POST", "/api/v1/recipients", json={"external_id": "a", "phone": phone(1), "groups": ["Everyone"]},
                      expect=201)
    short = await system.call("POST", "/api/v1/alerts", expect=201, json={
        "title": "T", "message": "Shelter in place.", "channels": ["sms"], "target": {"groups": ["Everyone"]}})
    assert (short["sms"]["encoding"], short["sms"]["segments"]) == ("GSM-7", 1) and short["warnings"] == []
    assert short["sms"]["text"].startswith("Test University: Shelter in place.")
    long = await system.call("POST", "/api/v1/alerts", expect=201, json={
        "title": "T", "message": "Don’t go outside. " * 20, "channels": ["sms"], "target": {"groups": ["Everyone"]}})
    assert long["sms"]["encoding"] == "UCS-2" and long["sms"]["segments"] > 3
    assert long["sms"]["non_gsm_characters"] == ["’"] and "segments" in long["warnings"][0]


async def test_the_home_page_asks_an_anonymous_visitor_to_sign_in(system: System) -> None:
    async with aiohttp.ClientSession() as anonymous:
        async with anonymous.get(f"{system.base_url}/") as response:
            page = await response.text()
            assert response.status == 200 and "text/html" in response.headers["Content-Type"]
            assert response.url.path == "/login"
    assert "Test University" in page and 'name="csrf_token"' in page
