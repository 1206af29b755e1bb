"""CAP import and export through the API, on the real app with the demo campus."""
from __future__ import annotations

import io

import aiohttp
import pytest

from alerting.cap.parse import parse
from ops.demo import seed_demo
from tests.cap_support import EXAMPLES, assert_valid_cap, cap_system, doc, export_cap, import_cap  # noqa: F401

POLYGON = "38.9055,-77.0740 38.9055,-77.0717 38.9070,-77.0717 38.9070,-77.0740 38.9055,-77.0740"
CIRCLE = "38.90605,-77.07035 0.12"


@pytest.fixture
def campus(runtime):  # type: ignore[no-untyped-def]
    with runtime.sessions.begin() as session:
        seed_demo(session)


async def test_shared_examples_import_as_drafts(cap_system):
    storm = await import_cap(cap_system, (EXAMPLES / "thunderstorm.cap").read_bytes())
    assert storm["status"] == "draft" and storm["cap_action"] == "created"
    assert storm["title"] == "SEVERE THUNDERSTORM WARNING"
    assert storm["message"].startswith("AT 254 PM PDT") and storm["message"].endswith("UNTIL THE STORM PASSES.")
    assert storm["severity"] == "severe" and storm["drill"] is False
    assert storm["target"]["cap_areas"][0]["polygon"][0].startswith("38.47,-120.14")
    assert storm["recipients"] == 0 and "the draft reaches no one yet" in storm["warnings"]
    assert len(storm["message"]) <= 360 and storm["variants"] == {}  # short enough: no WEA 360 text
    assert len(storm["short_texts"]["en"]["90"]) <= 90
    tsunami = await import_cap(cap_system, (EXAMPLES / "tsunami-update.cap").read_bytes())
    assert tsunami["cap_action"] == "created" and tsunami["severity"] == "extreme"
    assert any("references no alert" in w for w in tsunami["warnings"])
    assert any("only geocodes (UGC AKZ185, UGC AKZ187)" in w for w in tsunami["warnings"])
    # A draft that reaches no one cannot be sent.
    refused = await cap_system.call("POST", f"/api/v1/alerts/{tsunami['id']}/send", expect=422)
    assert "reaches no one" in refused["error"]["message"]


async def test_languages_and_areas_target_the_people_inside(cap_system, campus):
    alert = await import_cap(cap_system, doc("campus-multilang.cap"), channels="sms,push")
    assert alert["title"] == "Tornado warning for the west campus until 3 PM"
    assert alert["message"].endswith("Take shelter now in a basement or an interior room on the lowest floor. "
                                      "Stay away from windows.")
    assert set(alert["translations"]) == {"es", "fr"}
    assert alert["translations"]["es"]["title"].startswith("Aviso de tornado")
    assert alert["translations"]["fr"]["message"].endswith("au sous-sol.")
    assert alert["severity"] == "extreme"
    # WEA-sized texts, at sentence ends, as the SMS and push variants.
    assert len(alert["variants"]["sms"]) <= 360 and alert["variants"]["sms"].endswith(".")
    assert alert["variants"]["push"] == alert["short_texts"]["en"]["90"]
    assert len(alert["variants"]["push"]) <= 90
    expected = await cap_system.call("POST", "/api/v1/targets/preview",
                                     json={"cap_polygon": POLYGON, "cap_circle": CIRCLE}, expect=200)
    assert alert["recipients"] == expected["people"] > 0
    chemistry = await cap_system.call("POST", "/api/v1/targets/preview",
                                      json={"zones": ["Chemistry Building"]}, expect=200)
    assert alert["recipients"] >= chemistry["people"]


async def test_update_and_cancel_chain(cap_system, campus):
    first = await import_cap(cap_system, doc("campus-multilang.cap"))
    # An Update of a draft replaces it (references use another offset for the same instant).
    update = await import_cap(cap_system, doc("campus-update.cap"), expect=200)
    assert update["id"] == first["id"] and update["cap_action"] == "replaced"
    assert update["title"] == "Tornado warning extended to the student center"
    assert update["target"]["cap_areas"][0]["areaDesc"] == "Student Center"
    assert update["translations"] == {}
    # Sent, then updated again: a follow-up draft in the same incident.
    await cap_system.call("POST", f"/api/v1/alerts/{first['id']}/send", expect=202)
    await cap_system.drain()
    second_update = doc("campus-update.cap").replace(b"DCWX-2026-0043", b"DCWX-2026-0045").replace(
        b"2026-11-23T14:20:00-05:00", b"2026-11-23T14:30:00-05:00")
    follow = await import_cap(cap_system, second_update)
    assert follow["cap_action"] == "follow_up" and follow["id"] != first["id"]
    assert follow["follows_alert_id"] == first["id"] and follow["follow_kind"] == "update"
    assert follow["incident"]["id"] == first["incident"]["id"]
    # The Cancel cancels the sent alert and drafts the all-clear for the same incident.
    cancel = await import_cap(cap_system, doc("campus-cancel.cap"))
    assert cancel["cap_action"] == "cancelled" and cancel["referenced_alert_id"] == first["id"]
    assert cancel["follow_kind"] == "cancel" and cancel["title"] == "The tornado warning is cancelled"
    original = await cap_system.call("GET", f"/api/v1/alerts/{first['id']}", expect=200)
    assert original["status"] == "cancelled"


async def test_cancel_of_a_draft_and_of_nothing(cap_system):
    draft = await import_cap(cap_system, doc("campus-multilang.cap"))
    cancelled = await import_cap(cap_system, doc("campus-cancel.cap"), expect=200)
    assert cancelled["id"] == draft["id"] and cancelled["status"] == "cancelled"
    unknown = doc("campus-cancel.cap").replace(b"DCWX-2026-0042", b"NOPE-1").replace(b"DCWX-2026-0043", b"NOPE-2")
    refused = await import_cap(cap_system, unknown, expect=404)
    assert "references no alert" in refused["error"]["message"]


async def test_hostile_documents_are_refused_cleanly(cap_system):
    for name in ("dtd-external-entity.cap", "billion-laughs.cap", "xinclude.cap"):
        answer = await import_cap(cap_system, doc(name), expect=422)
        assert "root:" not in str(answer) and answer["error"]["field"] == "document"
    big = b"<alert>" + b"x" * (1024 * 1024 + 1) + b"</alert>"
    answer = await import_cap(cap_system, io.BytesIO(big), expect=422)
    assert "at most 1,048,576" in answer["error"]["message"]
    unclosed = doc("campus-multilang.cap").replace(b"38.9070,-77.0740 38.9055,-77.0740</polygon>",
                                                   b"38.9070,-77.0740</polygon>", 1)
    answer = await import_cap(cap_system, unclosed, expect=422)
    assert answer["error"]["field"] == "/alert/info[1]/area[1]/polygon[1]"
    assert "not closed" in answer["error"]["message"]
    async with aiohttp.ClientSession() as anonymous:
        async with anonymous.post(f"{cap_system.base_url}/api/v1/cap", data=doc("campus-multilang.cap")) as response:
            assert response.status == 401


COMPARED_INFO_FIELDS = ("category", "event", "responseType", "urgency", "severity", "certainty", "audience",
                        "eventCode", "effective", "onset", "expires", "senderName", "headline", "description",
                        "instruction", "web", "contact", "parameter", "resource", "area")


async def test_export_is_valid_and_round_trips(cap_system, campus):
    imported = await import_cap(cap_system, doc("campus-multilang.cap"), channels="sms,push")
    xml = await export_cap(cap_system, imported["id"])
    assert_valid_cap(xml)
    exported = parse(xml).message
    assert exported.identifier == f"tocsin-test-university-{imported['id']}"
    assert exported.sender == "tocsin@127.0.0.1" and exported.status == "Draft" and exported.msgType == "Alert"
    assert [i.language for i in exported.info] == ["en-US", "es-US", "fr-CA"]
    again = await import_cap(cap_system, xml, channels="sms,push")
    for key in ("title", "message", "translations", "severity", "drill", "target", "variants", "recipients"):
        assert again[key] == imported[key], key
    original = parse(doc("campus-multilang.cap")).message
    round_tripped = parse(await export_cap(cap_system, again["id"])).message
    for before, after in zip(original.info, round_tripped.info):
        for name in COMPARED_INFO_FIELDS:
            if name == "area" and before.lang == "fr":
                continue  # every language carries every area of the alert after a round trip
            assert getattr(after, name) == getattr(before, name), (before.lang, name)
    assert (round_tripped.source, round_tripped.code) == (original.source, original.code)


async def test_alerts_made_in_tocsin_export_valid_cap(cap_system, campus):
    data = {"title": "Gas leak", "message": "Leave the chemistry building now. Use the north exits.",
            "channels": ["sms"], "severity": "extreme", "drill": True,
            "translations": {"es": {"title": "Fuga de gas", "message": "Salga del edificio ahora."}},
            "target": {"zones": ["Chemistry Building"], "groups": ["Staff"],
                       "geometry": {"type": "Polygon", "coordinates": [[[-77.0712, 38.9055], [-77.0695, 38.9055],
                                                                         [-77.0695, 38.9066], [-77.0712, 38.9066],
                                                                         [-77.0712, 38.9055]]]},
                       "circle": {"lat": 38.9035, "lon": -77.069, "radius_m": 150}}}
    alert = await cap_system.call("POST", "/api/v1/alerts", json=data, expect=201)
    async with cap_system.api.get(f"{cap_system.base_url}/api/v1/alerts/{alert['id']}",
                                  headers={"Accept": "application/cap+xml"}) as response:
        assert response.status == 200 and response.content_type == "application/cap+xml"
        xml = await response.read()
    assert xml == await export_cap(cap_system, alert["id"])
    assert_valid_cap(xml)
    message = parse(xml).message
    assert message.status == "Exercise" and message.info[0].severity == "Extreme"
    areas = {a.areaDesc: a for a in message.info[0].area}
    assert areas["Chemistry Building"].polygon[0].startswith("38.9058,-77.0735")  # lat,lon from GeoJSON
    assert areas["Area drawn for this alert"].circle == ["38.9035,-77.069 0.15"]
    assert message.info[1].language == "es" and message.info[1].headline == "Fuga de gas"
    # The same people, less the groups (CAP speaks of places): everyone located in the areas.
    again = await import_cap(cap_system, xml)
    geographic = {k: v for k, v in data["target"].items() if k != "groups"}
    expected = await cap_system.call("POST", "/api/v1/targets/preview", json=geographic, expect=200)
    assert again["recipients"] == expected["people"] and again["drill"] is True


async def test_follow_ups_export_as_updates_that_find_their_alert(cap_system, campus):
    first = await import_cap(cap_system, doc("campus-multilang.cap"))
    await cap_system.call("POST", f"/api/v1/alerts/{first['id']}/send", expect=202)
    await cap_system.drain()
    update = doc("campus-update.cap").replace(b"DCWX-2026-0043", b"DCWX-2026-0050")
    follow = await import_cap(cap_system, update)
    xml = await export_cap(cap_system, follow["id"])
    assert_valid_cap(xml)
    message = parse(xml).message
    sent = parse(await export_cap(cap_system, first["id"])).message
    assert message.msgType == "Update" and sent.status == "Actual"
    assert message.references == f"{sent.sender},{sent.identifier},{sent.sent}"
    # Our own Update, imported back, is linked to our alert.
    linked = await import_cap(cap_system, xml)
    assert linked["follows_alert_id"] == first["id"]


async def test_public_atom_feed_and_cap_documents(cap_system, campus):
    draft = await import_cap(cap_system, doc("campus-multilang.cap"))
    sent = await import_cap(cap_system, doc("cap11-circle.cap").replace(b"<status>Exercise", b"<status>Actual"))
    drill = await import_cap(cap_system, doc("cap11-circle.cap").replace(b"CAP11-1", b"CAP11-2"))
    for alert in (sent, drill):
        await cap_system.call("POST", f"/api/v1/alerts/{alert['id']}/send", expect=202)
    await cap_system.drain()
    async with aiohttp.ClientSession() as anonymous:
        async with anonymous.get(f"{cap_system.base_url}/cap/feed.atom") as response:
            assert response.status == 200 and response.content_type == "application/atom+xml"
            feed = await response.text()
        public_url = f"{cap_system.base_url}/cap/alerts/{sent['id']}.cap"
        assert public_url in feed and "Suspicious package" in feed
        assert f"/cap/alerts/{draft['id']}.cap" not in feed and f"/cap/alerts/{drill['id']}.cap" not in feed
        async with anonymous.get(public_url) as response:
            assert response.status == 200
            assert_valid_cap(await response.read())
        for hidden in (draft["id"], drill["id"]):
            async with anonymous.get(f"{cap_system.base_url}/cap/alerts/{hidden}.cap") as response:
                assert response.status == 404
        async with anonymous.get(f"{cap_system.base_url}/api/v1/alerts/{sent['id']}.cap") as response:
            assert response.status == 401
    await cap_system.call("POST", f"/api/v1/alerts/{sent['id']}/cancel", json={}, expect=200)
    async with aiohttp.ClientSession() as anonymous:
        async with anonymous.get(f"{cap_system.base_url}/cap/feed.atom") as response:
            assert f"/cap/alerts/{sent['id']}.cap" not in await response.text()
