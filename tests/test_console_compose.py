"""The composer in the console: a template's placeholders, LIVE or DRILL chosen on purpose, the review
page's words, and one send however often it is pressed."""
from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from sqlalchemy import func, select

from alerting.models import Alert, AlertTemplate, Delivery
from alerting.templates import ensure_library
from ops.demo import seed_demo
from tests.conftest import System
from tests.console_support import console_user, csrf_of, post_form

LIBRARY_SQUARE = {"type": "Polygon", "coordinates": [[[-77.0713, 38.9054], [-77.0694, 38.9054], [-77.0694, 38.9067],
                                                      [-77.0713, 38.9067], [-77.0713, 38.9054]]]}


@pytest.fixture
def campus(system: System) -> System:
    """The demo campus (buildings as zones, 300 people) and the starting template library."""
    with system.runtime.sessions.begin() as session:
        seed_demo(session)
        ensure_library(session, system.runtime.available_channels)
    return system


def template_id(system: System, name: str) -> int:
    with system.runtime.sessions() as session:
        return session.scalar(select(AlertTemplate.id).where(AlertTemplate.name == name))


def shelter_form(system: System, **changes: object) -> dict[str, object]:
    form: dict[str, object] = {
        "template_id": str(template_id(system, "Shelter in place")),
        "title": "Shelter in place: {building}",
        "message": "{first_name}, shelter in place now because of {hazard} near {building}.",
        "variant.sms": "SHELTER IN PLACE now: {hazard} near {building}.",
        "tr.es.title": "Refúgiese: {building}", "tr.es.message": "{first_name}, refúgiese por {hazard} cerca de {building}.",
        "value.building": "Library", "value.hazard": "a chemical spill",
        "channels": ["sms", "email"], "severity": "extreme", "policy": "__none__",
        "zones": "Library", "mode": "drill",
    }
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}


async def _post(client: aiohttp.ClientSession, system: System, path: str, form: dict[str, object]) -> tuple[int, str, str]:
    data = aiohttp.FormData()
    async with client.get(f"{system.base_url}/compose") as response:
        data.add_field("csrf_token", csrf_of(await response.text()))
    for key, value in form.items():
        for item in (value if isinstance(value, list) else [value]):
            data.add_field(key, str(item))
    async with client.post(f"{system.base_url}{path}", data=data) as response:
        return response.status, response.url.path, await response.text()


def _alert_count(system: System) -> int:
    with system.runtime.sessions() as session:
        return session.scalar(select(func.count()).select_from(Alert))


async def test_the_composer_lists_the_library_and_prefills_a_template(campus: System) -> None:
    client = await console_user(campus.runtime, campus.base_url, "operator")
    async with client:
        page = await (await client.get(f"{campus.base_url}/compose")).text()
        for name in ("Shelter in place", "Evacuate building", "Lockdown", "All clear", "Write freely"):
            assert name in page
        tid = template_id(campus, "Shelter in place")
        async with client.get(f"{campus.base_url}/compose?template={tid}") as response:
            page = await response.text()
            assert response.status == 200
        assert 'name="value.building"' in page and 'name="value.hazard"' in page
        assert 'name="value.first_name"' not in page, "per-person placeholders are not asked of the operator"
        assert 'value="Shelter in place: {building}"' in page
        assert 'name="tr.es.message"' in page and 'name="variant.sms"' in page
        assert 'name="csrf-token"' in page and "/static/vendor/leaflet/leaflet.js" in page
        assert not re.search(r'name="mode" value="(live|drill)" checked', page), "no mode is chosen for the operator"
        assert "https://" not in page and "http://" not in page.replace(campus.base_url, ""), "nothing from outside"


async def test_a_missing_placeholder_is_named_next_to_its_field(campus: System) -> None:
    client = await console_user(campus.runtime, campus.base_url, "operator")
    async with client:
        status, path, page = await _post(client, campus, "/compose", shelter_form(campus, **{"value.hazard": ""}))
    assert status == 422 and path == "/compose"
    assert re.search(r'id="value-hazard"[^>]*aria-describedby="err-value-hazard"', page)
    assert '<p class="field-error" id="err-value-hazard">fill in {hazard}</p>' in page
    assert 'value="Library"' in page, "what was typed is kept"
    assert _alert_count(campus) == 0


async def test_the_mode_must_be_chosen(campus: System) -> None:
    client = await console_user(campus.runtime, campus.base_url, "operator")
    async with client:
        status, _, page = await _post(client, campus, "/compose", shelter_form(campus, mode=None))
    assert status == 422
    assert '<p class="field-error" id="err-mode">choose LIVE or DRILL</p>' in page
    assert _alert_count(campus) == 0, "nothing is kept until the mode is chosen"


async def test_free_text_errors_come_back_together_with_the_mode(campus: System) -> None:
    client = await console_user(campus.runtime, campus.base_url, "operator")
    async with client:
        status, _, page = await _post(client, campus, "/compose", {
            "title": "", "message": "Water main break", "channels": "sms", "groups": "Staff", "policy": "__none__"})
    assert status == 422
    assert 'id="err-mode"' in page and 'id="err-title"' in page


async def test_a_bad_area_is_reported_at_the_map(campus: System) -> None:
    client = await console_user(campus.runtime, campus.base_url, "operator")
    async with client:
        status, _, page = await _post(client, campus, "/compose", shelter_form(campus, zones=None, geometry="{nope"))
    assert status == 422 and 'id="err-area"' in page and "not valid JSON" in page


async def test_a_viewer_cannot_compose_and_sees_no_link(campus: System) -> None:
    client = await console_user(campus.runtime, campus.base_url, "viewer")
    async with client:
        async with client.get(f"{campus.base_url}/compose") as response:
            assert response.status == 403
            assert "Traceback" not in await response.text()
        home = await (await client.get(f"{campus.base_url}/")).text()
        assert 'href="/compose"' not in home
        library = await (await client.get(f"{campus.base_url}/templates")).text()
        assert "Shelter in place" in library and "/compose?template=" not in library and "New template" not in library
        async with client.post(f"{campus.base_url}/compose", data={"csrf_token": csrf_of(home), "mode": "live"}) as response:
            assert response.status == 403
    assert _alert_count(campus) == 0


async def test_review_states_mode_audience_and_channels_then_sends_once(campus: System) -> None:
    client = await console_user(campus.runtime, campus.base_url, "operator")
    async with client:
        status, path, page = await _post(client, campus, "/compose", shelter_form(campus))
        assert status == 200 and re.fullmatch(r"/compose/\d+/review", path), page[:2000]
        alert_id = int(path.split("/")[2])
        shelter = template_id(campus, "Shelter in place")
        with campus.runtime.sessions() as session:
            alert = session.get(Alert, alert_id)
            assert alert.drill and alert.origin == "console" and alert.template_id == shelter
            assert alert.title == "Shelter in place: Library"
            assert alert.message == "{first_name}, shelter in place now because of a chemical spill near Library."
            assert alert.translations["es"]["message"].endswith("cerca de Library.")
        people = re.search(r'<strong class="people">([\d,]+) people</strong>', page)
        assert people and int(people.group(1).replace(",", "")) > 0
        statement = re.sub(r"<[^>]+>|\s+", " ", re.search(r'<p class="statement".*?</p>', page, re.DOTALL).group(0))
        assert re.sub(r"\s+", " ", statement).strip() == f"Send a DRILL alert to {people.group(1)} people by SMS and email ."
        assert "Send DRILL now" in page and "Send LIVE" not in page and 'class="mode-banner drill"' in page
        assert "TEST - EXERCISE ONLY. Test University: SHELTER IN PLACE now: a chemical spill near Library." in page
        assert "segment" in page and "Subject: <strong>[TEST] Shelter in place: Library - Test University" in page
        example = re.search(r'<h3>For example, ([^<]+) \((\w\w)\) gets</h3>.*?<pre class="text">([^<]+)</pre>'
                            r'.*?<pre class="text">([^<]+)</pre>', page, re.S)
        assert example, "one person's message, with their name filled in"
        assert example.group(3).startswith("TEST - EXERCISE ONLY. Test University: ")
        assert example.group(4).startswith(example.group(1).split()[0] + ", ") and "{first_name}" not in example.group(4)

        token, reviewed = csrf_of(page), re.search(r'name="reviewed" value="([^"]+)"', page).group(1)
        form = {"csrf_token": token, "reviewed": reviewed, "scheduled_for": ""}
        async with client.post(f"{campus.base_url}/compose/{alert_id}/send", data=form, allow_redirects=False) as first:
            assert first.status == 303 and first.headers["Location"] == f"/alerts/{alert_id}"
        async with client.post(f"{campus.base_url}/compose/{alert_id}/send", data=form) as second:
            again = await second.text()
            assert second.status == 200 and "Already sent" in again and "Nothing was sent a second time" in again
    await campus.drain()
    with campus.runtime.sessions() as session:
        per_person = session.scalar(select(func.count()).select_from(Delivery).where(
            Delivery.alert_id == alert_id, Delivery.channel == "sms"))
        assert per_person == int(people.group(1).replace(",", "")), "each person got one SMS: sent once"


async def test_a_live_review_is_red_and_says_live(campus: System) -> None:
    client = await console_user(campus.runtime, campus.base_url, "operator")
    async with client:
        _, _, page = await _post(client, campus, "/compose", shelter_form(
            campus, mode="live", channels=["sms", "voice", "email"], zones=None, groups="Faculty"))
    assert "Send LIVE alert now" in page and 'class="button danger big"' not in page and 'class="danger big"' in page
    assert 'class="confirm"' in page and "by <strong class=\"channels\">SMS, voice call and email</strong>" in page
    assert "Send a <span class=\"badge live big\">LIVE</span> alert to <strong class=\"people\">50 people</strong>" in page


async def test_send_later_errors_show_next_to_the_field_and_a_good_time_schedules(campus: System) -> None:
    client = await console_user(campus.runtime, campus.base_url, "operator")
    async with client:
        _, path, page = await _post(client, campus, "/compose", shelter_form(campus))
        alert_id = int(path.split("/")[2])
        reviewed = re.search(r'name="reviewed" value="([^"]+)"', page).group(1)
        for when in ("tomorrow", "2020-01-01T08:00"):
            async with client.post(f"{campus.base_url}/compose/{alert_id}/send", data={
                    "csrf_token": csrf_of(page), "reviewed": reviewed, "scheduled_for": when}) as response:
                answer = await response.text()
                assert response.status == 422
                assert re.search(r'<p class="field-error" id="err-scheduled_for">[^<]+</p>', answer)
                assert f'value="{when}"' in answer
        with campus.runtime.sessions() as session:
            assert session.get(Alert, alert_id).status == "draft"
        later = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
        async with client.post(f"{campus.base_url}/compose/{alert_id}/send", allow_redirects=False, data={
                "csrf_token": csrf_of(page), "reviewed": reviewed, "scheduled_for": later}) as response:
            assert response.status == 303 and response.headers["Location"] == f"/alerts/{alert_id}"
    with campus.runtime.sessions() as session:
        alert = session.get(Alert, alert_id)
        assert alert.status == "scheduled" and alert.scheduled_for.strftime("%Y-%m-%dT%H:%M") == later


async def test_a_draft_is_edited_and_a_stale_review_cannot_send(campus: System) -> None:
    client = await console_user(campus.runtime, campus.base_url, "operator")
    async with client:
        _, path, review = await _post(client, campus, "/compose", shelter_form(campus))
        alert_id = int(path.split("/")[2])
        stale = re.search(r'name="reviewed" value="([^"]+)"', review).group(1)
        edit = await (await client.get(f"{campus.base_url}/compose/{alert_id}/edit")).text()
        assert 'value="Shelter in place: Library"' in edit and 'name="mode" value="drill" checked' in edit
        _, path, page = await post_form(client, f"{campus.base_url}/compose/{alert_id}/edit",
                                             f"{campus.base_url}/compose/{alert_id}/edit", {
            "title": "Shelter in place: Library (update)", "message": "Stay inside, {first_name}.",
            "channels": "sms", "zones": "Library", "mode": "live", "severity": "extreme", "policy": "__none__"})
        assert path == f"/compose/{alert_id}/review" and "Send LIVE alert now" in page
        async with client.post(f"{campus.base_url}/compose/{alert_id}/send", data={
                "csrf_token": csrf_of(page), "reviewed": stale}) as response:
            answer = await response.text()
            assert response.status == 409 and "changed after this page was shown" in answer
    with campus.runtime.sessions() as session:
        alert = session.get(Alert, alert_id)
        assert alert.status == "draft" and not alert.drill and alert.title.endswith("(update)")


async def test_a_sent_alert_can_no_longer_be_edited(campus: System) -> None:
    from alerting import drafts
    from alerting.errors import Conflict, ValidationError

    client = await console_user(campus.runtime, campus.base_url, "operator")
    async with client:
        _, path, page = await _post(client, campus, "/compose", shelter_form(campus))
        alert_id = int(path.split("/")[2])
        reviewed = re.search(r'name="reviewed" value="([^"]+)"', page).group(1)
        await client.post(f"{campus.base_url}/compose/{alert_id}/send",
                          data={"csrf_token": csrf_of(page), "reviewed": reviewed})
        async with client.get(f"{campus.base_url}/compose/{alert_id}/edit") as response:
            assert response.status == 409 and "can no longer be edited" in await response.text()
        review = await (await client.get(f"{campus.base_url}/compose/{alert_id}/review")).text()
        assert "cannot be sent again" in review and 'id="send-button"' not in review
    channels = campus.runtime.available_channels
    data = {"title": "T", "message": "M", "channels": ["sms"], "target": {"zones": ["Library"]}}
    with campus.runtime.sessions.begin() as session:
        with pytest.raises(Conflict):
            drafts.update_draft(session, alert_id, data, actor="test", available_channels=channels)
        draft = drafts.alerts.create_alert(session, {**data, "drill": True}, actor="test", available_channels=channels)
        with pytest.raises(ValidationError) as caught:
            drafts.update_draft(session, draft.id, {**data, "channels": ["fax"]}, actor="test", available_channels=channels)
        assert caught.value.field == "channels"
        edited = drafts.update_draft(session, draft.id, {**data, "title": "T2", "policy": None}, actor="test",
                                     available_channels=channels)
        assert edited.title == "T2" and edited.incident.name == "T2" and edited.drill is False


async def test_without_javascript_an_area_is_pasted_as_geojson_or_given_as_a_circle(campus: System) -> None:
    client = await console_user(campus.runtime, campus.base_url, "operator")
    async with client:
        _, path, page = await _post(client, campus, "/compose", shelter_form(
            campus, zones=None, geometry=json.dumps(LIBRARY_SQUARE)))
        assert re.fullmatch(r"/compose/\d+/review", path) and "an area drawn on the map" in page
        drawn = int(re.search(r'<strong class="people">([\d,]+) people', page).group(1).replace(",", ""))
        _, path, page = await _post(client, campus, "/compose", shelter_form(
            campus, zones=None, circle='{"lat": 38.906, "lon": -77.0703, "radius_m": 80}'))
        assert "a circle of 80 m" in page
        circled = int(re.search(r'<strong class="people">([\d,]+) (people|person)', page).group(1).replace(",", ""))
    with campus.runtime.sessions() as session:
        library = sum(1 for a in session.scalars(select(Alert)) if a.target.get("geometry") == LIBRARY_SQUARE)
    assert library == 1 and drawn > 0 and circled > 0
