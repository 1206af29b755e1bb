"""Templates: placeholders are data (filled once, never evaluated), alert_data, the library pages and API."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from alerting import alerts, templates
from alerting.errors import Conflict, ValidationError
from alerting.models import AlertTemplate, AuditEntry
from alerting.templates import ensure_library
from ops.demo import seed_demo
from tests.conftest import System, make_token
from tests.console_support import console_user, csrf_of, post_form

CHANNELS = ["sms", "voice", "push", "email"]


def shelter() -> AlertTemplate:
    entry = next(e for e in templates.LIBRARY if e["name"] == "Shelter in place")
    return AlertTemplate(id=7, **{k: v for k, v in entry.items()}, policy=None, target=None, archived_at=None)


# ---- pure: fill and alert_data -----------------------------------------------------------------

def test_fill_names_the_missing_placeholder() -> None:
    with pytest.raises(ValidationError) as caught:
        templates.fill("Evacuate {building} to {assembly_point}", {"building": "Library"})
    assert caught.value.field == "values.assembly_point" and "{assembly_point}" in caught.value.message


def test_fill_inserts_values_once_as_text() -> None:
    values = {"building": "{first_name}", "hazard": "{{7*7}}", "time": "{hazard}"}
    assert templates.fill("{hazard} at {building} until {time}", values) == "{{7*7}} at {first_name} until {hazard}"
    # Braces that are not a placeholder are ordinary text; per-person placeholders are kept for later.
    assert templates.fill("{Not one} {x y} {first_name} {zone}", {}) == "{Not one} {x y} {first_name} {zone}"


def test_check_values_reports_every_missing_value_at_once() -> None:
    with pytest.raises(ValidationError) as caught:
        templates.alert_data(shelter(), {"building": "  "}, target={"groups": ["Staff"]})
    assert [e["field"] for e in caught.value.errors] == ["values.building", "values.hazard"]
    assert caught.value.errors[1]["message"] == "fill in {hazard}"


def test_a_value_cannot_smuggle_a_per_person_placeholder() -> None:
    with pytest.raises(ValidationError) as caught:
        templates.alert_data(shelter(), {"building": "Library {first_name}", "hazard": "smoke"})
    assert caught.value.field == "values.building"
    data = templates.alert_data(shelter(), {"building": "{{7*7}}", "hazard": "{hazard}"})
    assert data["title"] == "Shelter in place: {{7*7}}" and "{hazard}" in data["message"]


def test_alert_data_fills_every_text_and_keeps_personal_placeholders() -> None:
    data = templates.alert_data(shelter(), {"building": "Library", "hazard": "a gas leak"},
                                target={"zones": ["Library"]}, channels=["sms", "email"], drill=True)
    assert data["title"] == "Shelter in place: Library"
    assert data["message"].startswith("{first_name}, shelter in place now because of a gas leak near Library.")
    assert data["variants"] == {"sms": "SHELTER IN PLACE now: a gas leak near Library. Go indoors, close doors "
                                       "and windows. Wait for all clear."}
    assert data["translations"]["es"]["title"] == "Refúgiese en el lugar: Library"
    assert data["translations"]["fr"]["message"].startswith("{first_name}, confinez-vous maintenant : a gas leak")
    assert data["channels"] == ["sms", "email"] and data["drill"] is True and data["template_id"] == 7
    assert data["severity"] == "extreme" and data["target"] == {"zones": ["Library"]} and "policy" not in data


def test_edited_texts_decide_which_values_are_needed() -> None:
    texts = {"title": "Shelter now", "message": "Stay in, {first_name}: {hazard} outside.", "variants": {},
             "translations": {}}
    data = templates.alert_data(shelter(), {"hazard": "smoke"}, texts=texts, target={"groups": ["Staff"]})
    assert data["title"] == "Shelter now" and data["message"] == "Stay in, {first_name}: smoke outside."
    assert data["translations"] == {}


def test_an_archived_template_makes_no_alert() -> None:
    template = shelter()
    template.archived_at = template.created_at or __import__("datetime").datetime.now()
    with pytest.raises(Conflict):
        templates.alert_data(template, {"building": "A", "hazard": "B"})


# ---- the library in the database -----------------------------------------------------------------

@pytest.fixture
def library(system: System) -> System:
    with system.runtime.sessions.begin() as session:
        seed_demo(session)
        assert ensure_library(session, system.runtime.available_channels) == 7
        assert ensure_library(session, system.runtime.available_channels) == 0, "created once"
    return system


def _id(system: System, name: str) -> int:
    with system.runtime.sessions() as session:
        return session.scalar(select(AlertTemplate.id).where(AlertTemplate.name == name))


async def test_the_api_lists_reads_creates_updates_and_archives(library: System) -> None:
    listed = await library.call("GET", "/api/v1/templates", expect=200)
    assert [t["name"] for t in listed] == sorted(e["name"] for e in templates.LIBRARY)
    evacuate = next(t for t in listed if t["name"] == "Evacuate building")
    assert evacuate["placeholders"] == ["building", "assembly_point"] and evacuate["severity"] == "extreme"
    one = await library.call("GET", f"/api/v1/templates/{evacuate['id']}", expect=200)
    assert one["variants"]["sms"].startswith("EVACUATE {building}")

    made = await library.call("POST", "/api/v1/templates", expect=201, json={
        "name": "Gas leak", "title": "Gas leak at {building}", "message": "Leave {building} now, {first_name}.",
        "channels": ["sms"], "severity": "severe", "translations": {"es": {"message": "Salga de {building}."}}})
    assert made["placeholders"] == ["building"] and made["personal_placeholders"] == ["first_name"]
    bad = await library.call("POST", "/api/v1/templates", expect=422, json={"name": "X", "title": "T", "message": "M",
                                                                            "channels": ["fax"]})
    assert bad["error"]["field"] == "channels"
    await library.call("POST", "/api/v1/templates", expect=409, json={**{k: made[k] for k in (
        "name", "title", "message", "channels")}})
    changed = await library.call("PUT", f"/api/v1/templates/{made['id']}", expect=200, json={"severity": "extreme"})
    assert changed["severity"] == "extreme" and changed["title"] == "Gas leak at {building}", "other fields kept"
    archived = await library.call("DELETE", f"/api/v1/templates/{made['id']}", expect=200)
    assert archived["archived"] is True
    assert "Gas leak" not in [t["name"] for t in await library.call("GET", "/api/v1/templates")]
    assert "Gas leak" in [t["name"] for t in await library.call("GET", "/api/v1/templates?archived=1")]
    await library.call("POST", f"/api/v1/templates/{made['id']}/alerts", expect=409,
                       json={"values": {"building": "Library"}, "target": {"groups": ["Staff"]}})
    with library.runtime.sessions() as session:
        actions = set(session.scalars(select(AuditEntry.action).where(AuditEntry.subject_type == "template")))
    assert {"template.create", "template.update", "template.archive"} <= actions


async def test_the_api_makes_a_draft_from_a_template(library: System) -> None:
    tid = _id(library, "Evacuate building")
    missing = await library.call("POST", f"/api/v1/templates/{tid}/alerts", expect=422,
                                 json={"values": {"building": "Library"}, "target": {"zones": ["Library"]}})
    assert missing["error"]["field"] == "values.assembly_point"
    assert missing["error"]["message"] == "fill in {assembly_point}"
    alert = await library.call("POST", f"/api/v1/templates/{tid}/alerts", expect=201, json={
        "values": {"building": "Library", "assembly_point": "the main lawn"}, "target": {"zones": ["Library"]},
        "channels": ["sms", "email"], "drill": True, "policy": None})
    assert alert["status"] == "draft" and alert["drill"] is True and alert["template_id"] == tid
    assert alert["origin"] == "api" and alert["title"] == "Evacuate Library now" and alert["recipients"] > 0
    assert alert["sms"]["text"].startswith("TEST - EXERCISE ONLY. Test University: EVACUATE Library NOW.")
    assert alert["channels"] == ["sms", "email"] and alert["policy"] is None
    assert alert["translations"]["es"]["title"] == "Evacúe Library ahora"
    await library.call("POST", f"/api/v1/templates/{tid}/alerts", expect=422, json={"values": {}, "bogus": 1})


async def test_template_api_roles(library: System) -> None:
    viewer = make_token(library.runtime, "viewer")
    operator = make_token(library.runtime, "operator")
    tid = _id(library, "All clear")
    as_viewer = {"Authorization": f"Bearer {viewer}"}
    as_operator = {"Authorization": f"Bearer {operator}"}
    await library.call("GET", "/api/v1/templates", expect=200, headers=as_viewer)
    await library.call("POST", f"/api/v1/templates/{tid}/alerts", expect=403, headers=as_viewer,
                       json={"values": {"incident": "fire"}, "target": {"groups": ["Staff"]}})
    await library.call("DELETE", f"/api/v1/templates/{tid}", expect=403, headers=as_operator)
    await library.call("PUT", f"/api/v1/templates/{tid}", expect=403, headers=as_operator, json={"severity": "minor"})
    await library.call("POST", f"/api/v1/templates/{tid}/alerts", expect=201, headers=as_operator,
                       json={"values": {"incident": "fire"}, "target": {"groups": ["Staff"]}})


# ---- the library pages ---------------------------------------------------------------------------

async def test_everyone_reads_the_library_only_admins_change_it(library: System) -> None:
    tid = _id(library, "Boil water notice")
    operator = await console_user(library.runtime, library.base_url, "operator")
    async with operator:
        page = await (await operator.get(f"{library.base_url}/templates")).text()
        assert "Boil water notice" in page and "Drinking water may be contaminated" in page
        assert "SMS, email" in page and "moderate" in page and f"/compose?template={tid}" in page
        assert "New template" not in page
        view = await (await operator.get(f"{library.base_url}/templates/{tid}")).text()
        assert "{area}" in view and "{link}" in view and "Use in the composer" in view and "Archive" not in view
        for path in (f"/templates/{tid}/edit", "/templates/new"):
            async with operator.get(f"{library.base_url}{path}") as response:
                assert response.status == 403
        async with operator.post(f"{library.base_url}/templates/{tid}/archive",
                                 data={"csrf_token": csrf_of(page)}) as response:
            assert response.status == 403


async def test_an_admin_creates_edits_and_archives_with_errors_next_to_fields(library: System) -> None:
    admin = await console_user(library.runtime, library.base_url, "admin")
    async with admin:
        form = {"name": "Power outage", "description": "Planned or not", "title": "Power outage in {building}",
                "message": "", "channels": "sms", "severity": "moderate", "policy": "", "target": "",
                "translation_rows": "1", "tr0.lang": "es", "tr0.title": "", "tr0.message": "Corte de luz en {building}."}
        status, path, page = await post_form(admin, f"{library.base_url}/templates/new", f"{library.base_url}/templates/new", form)
        assert status == 422 and path == "/templates/new"
        assert re.search(r'id="message"[^>]*aria-describedby="err-message"', page)
        assert '<p class="field-error" id="err-message">message is required</p>' in page
        assert 'value="Power outage in {building}"' in page and "Corte de luz" in page

        form["message"] = "The power is out in {building} until {time}."
        form["target"] = '{"groups": ["Nobody here"]}'
        status, _, page = await post_form(admin, f"{library.base_url}/templates/new", f"{library.base_url}/templates/new", form)
        assert status == 422 and 'id="err-target"' in page and "unknown group" in page

        form["target"] = '{"groups": ["Staff"]}'
        status, path, page = await post_form(admin, f"{library.base_url}/templates/new", f"{library.base_url}/templates/new", form)
        assert re.fullmatch(r"/templates/\d+", path), page[:500]
        tid = int(path.rsplit("/", 1)[1])
        assert "{time}" in page and "Corte de luz en {building}." in page

        status, _, page = await post_form(admin, f"{library.base_url}/templates/{tid}/edit",
                                          f"{library.base_url}/templates/{tid}/edit", {**form, "name": "Lockdown"})
        assert status == 409 and "already exists" in page and 'id="err-name"' in page
        status, path, page = await post_form(admin, f"{library.base_url}/templates/{tid}/edit",
                                             f"{library.base_url}/templates/{tid}/edit", {**form, "severity": "severe"})
        assert path == f"/templates/{tid}"
        status, path, page = await post_form(admin, f"{library.base_url}/templates/{tid}/archive",
                                             f"{library.base_url}/templates/{tid}", {})
        assert path == "/templates" and "Power outage" not in page
    with library.runtime.sessions() as session:
        template = session.get(AlertTemplate, tid)
        assert template.archived_at is not None and template.severity == "severe"
        assert template.target == {"groups": ["Staff"]} and template.translations["es"]["message"].startswith("Corte")
        assert templates.operator_placeholders(template) == ["building", "time"]
        # A draft from it uses every default: target, channels, severity.
        template.archived_at = None
        data = templates.alert_data(template, {"building": "Library", "time": "5 pm"})
        alert = alerts.create_alert(session, data, actor="test", available_channels=library.runtime.available_channels)
        assert alert.target == {"groups": ["Staff"]} and alert.channels == ["sms"] and alert.severity == "severe"



def test_two_processes_creating_the_library_at_once_create_it_once(runtime, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The loser of the race (its "any templates?" check ran before the winner committed) creates
    nothing, fails nothing, and keeps its transaction usable."""
    from sqlalchemy import func, select

    from alerting import templates
    from alerting.models import AlertTemplate

    with runtime.sessions.begin() as session:
        assert templates.ensure_library(session, runtime.available_channels) == 7
    monkeypatch.setattr(templates, "_has_templates", lambda session: False)
    with runtime.sessions.begin() as session:
        assert templates.ensure_library(session, runtime.available_channels) == 0
        assert session.scalar(select(func.count()).select_from(AlertTemplate)) == 7
