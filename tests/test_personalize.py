"""Each person's own words at send time: their language, `{first_name}`, `{name}`, `{zone}`; TEST first."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from alerting import personalize
from alerting.compose import Claimed, compose
from alerting.links import LinkSigner
from alerting.models import Alert, Recipient
from tests.conftest import System
from tests.helpers import phone

LIBRARY = {"type": "Polygon", "coordinates": [[[-77.0712, 38.9055], [-77.0695, 38.9055], [-77.0695, 38.9066],
                                               [-77.0712, 38.9066], [-77.0712, 38.9055]]]}
HALL = {"type": "Polygon", "coordinates": [[[-77.0730, 38.9076], [-77.0710, 38.9076], [-77.0710, 38.9086],
                                            [-77.0730, 38.9086], [-77.0730, 38.9076]]]}
IN_LIBRARY = {"label": "work", "lat": 38.906, "lon": -77.070}
IN_HALL = {"label": "home", "lat": 38.908, "lon": -77.072}


# ---- pure --------------------------------------------------------------------------------------

def test_values_are_inserted_once_as_text() -> None:
    values = {"first_name": "{zone}", "name": "{{7*7}}", "zone": "{first_name}"}
    assert personalize.fill("{first_name} / {name} / {zone}", values) == "{zone} / {{7*7}} / {first_name}"
    assert personalize.fill("{building} {Name} {first_name}", {"first_name": "Ana"}) == "{building} {Name} Ana"


def test_an_empty_name_takes_its_comma_with_it() -> None:
    assert personalize.fill("{first_name}, shelter now.", {"first_name": ""}) == "Shelter now."
    assert personalize.fill("Alert. {first_name}, go inside.", {}) == "Alert. Go inside."
    assert personalize.fill("Go inside, {first_name}.", {}) == "Go inside."
    assert personalize.fill("Hello {name}, go inside.", {}) == "Hello, go inside."


def test_first_name_and_zone_fallbacks() -> None:
    assert personalize.first_name("  Lucía   García ") == "Lucía" and personalize.first_name("") == ""
    assert personalize.zone_fallback("es-MX") == "su zona" and personalize.zone_fallback("ko") == "your area"
    assert personalize.uses_personal("Hi {first_name}", "{zone}!", None) == {"first_name", "zone"}


# ---- at send time ---------------------------------------------------------------------------------

async def _campus(system: System) -> None:
    await system.call("POST", "/api/v1/zones", expect=201, json={"name": "Library", "geometry": LIBRARY})
    await system.call("POST", "/api/v1/zones", expect=201, json={"name": "North Hall", "geometry": HALL})
    await system.call("POST", "/api/v1/groups", json={"name": "Everyone"}, expect=201)
    await system.call("POST", "/api/v1/recipients", expect=201, json=[
        {"external_id": "es1", "name": "Lucía García", "phone": phone(1), "email": "lucia@example.org",
         "locale": "es-MX", "groups": ["Everyone"], "locations": [IN_HALL, IN_LIBRARY]},
        {"external_id": "en1", "name": "Ben Adams", "phone": phone(2), "email": "ben@example.org", "locale": "en",
         "groups": ["Everyone"], "locations": [IN_HALL]},
        {"external_id": "nameless", "name": "", "phone": phone(3), "locale": "fr", "groups": ["Everyone"]},
    ])


ALERT = {
    "title": "Shelter in {zone}", "message": "{first_name}, stay inside {zone} ({name}).",
    "variants": {"sms": "{first_name}: shelter in {zone}."},
    "translations": {"es": {"title": "Refugio en {zone}", "message": "{first_name}, quédese en {zone}.",
                            "variants": {"sms": "{first_name}: refúgiese en {zone}."}}},
    "channels": ["sms", "email", "voice"], "target": {"zones": ["Library", "North Hall"], "groups": ["Everyone"]},
    "drill": True,
}


def _people(system: System) -> dict[str, int]:
    with system.runtime.sessions() as session:
        return dict(session.execute(select(Recipient.external_id, Recipient.id)).all())


async def test_a_batch_is_built_per_person_in_their_language(system: System) -> None:
    await _campus(system)
    alert_id = (await system.call("POST", "/api/v1/alerts", expect=201, json=ALERT))["id"]
    ids = _people(system)
    claimed = [Claimed(n, phone(n), 1, ids[x]) for n, x in ((1, "es1"), (2, "en1"), (3, "nameless"))]
    signer = LinkSigner("k", max_age_s=3600)
    with system.runtime.sessions() as session:
        alert = session.get(Alert, alert_id)
        sms = compose(session, "sms", alert, claimed, public_url="http://x", org_name="Campus", signer=signer)
        email = compose(session, "email", alert, claimed[:2], public_url="http://x", org_name="Campus", signer=signer)
    spanish, english, nameless = (m.body for m in sms)
    # Lucía is in both zones: the target's first zone that holds her names it.
    assert spanish.startswith("TEST - EXERCISE ONLY. Campus: Lucía: refúgiese en Library.\n")
    assert english.startswith("TEST - EXERCISE ONLY. Campus: Ben: shelter in North Hall.\n")
    assert nameless.startswith("TEST - EXERCISE ONLY. Campus: Shelter in your area.\n"), "no name, no zone: fallbacks"
    assert email[0].subject == "[TEST] Refugio en Library - Campus"
    assert "TEST - EXERCISE ONLY. Lucía, quédese en Library." in email[0].body and email[0].language == "es-MX"
    assert email[1].subject == "[TEST] Shelter in North Hall - Campus"
    assert "TEST - EXERCISE ONLY. Ben, stay inside North Hall (Ben Adams)." in email[1].body


async def test_sent_messages_carry_each_persons_words(system: System) -> None:
    await _campus(system)
    alert_id = (await system.call("POST", "/api/v1/alerts", expect=201, json=ALERT))["id"]
    await system.call("POST", f"/api/v1/alerts/{alert_id}/send", expect=202)
    await system.drain()

    async def inbox(address: str, channel: str) -> list[dict[str, Any]]:
        return [m for m in await system.call("GET", "/sandbox/messages", params={"to": address}) if m["channel"] == channel]

    sms = (await inbox(phone(1), "sms"))[0]
    assert sms["body"].startswith("TEST - EXERCISE ONLY. Test University: Lucía: refúgiese en Library.")
    mail = (await inbox("ben@example.org", "email"))[0]
    assert mail["subject"] == "[TEST] Shelter in North Hall - Test University"
    call = (await inbox(phone(1), "voice"))[0]
    assert call["spoken"][0].startswith("PRUEBA - SOLO ES UN SIMULACRO. Este es un mensaje de emergencia")
    assert call["spoken"][0].endswith("Lucía, quédese en Library.")
    english_call = (await inbox(phone(2), "voice"))[0]
    assert english_call["spoken"][0].startswith("TEST - EXERCISE ONLY. This is an emergency message from Test University.")
    assert "Ben, stay inside North Hall (Ben Adams)." in english_call["spoken"][0]


async def test_an_alert_without_personal_placeholders_is_unchanged(system: System) -> None:
    await _campus(system)
    alert_id = (await system.call("POST", "/api/v1/alerts", expect=201, json={
        "title": "Water", "message": "Boil water {please}.", "channels": ["sms"], "target": {"groups": ["Everyone"]}}))["id"]
    ids = _people(system)
    with system.runtime.sessions() as session:
        alert = session.get(Alert, alert_id)
        people = personalize.people(session, alert, [ids["es1"]])
        sms = compose(session, "sms", alert, [Claimed(1, phone(1), 1, ids["es1"])], public_url="http://x",
                      org_name="Campus", signer=LinkSigner("k", max_age_s=3600))
    assert people[ids["es1"]].values == {} and people[ids["es1"]].locale == "es-MX"
    assert sms[0].body.startswith("Campus: Boil water {please}.\n")
