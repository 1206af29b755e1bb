"""Issue 10 acceptance, SMS keywords: JOIN (or a zone's keyword), YES, the welcome, an alert for the
zone; STOP on every provider; HELP for anyone; unknown words answered, capped. Against the sandbox."""
from __future__ import annotations

from sqlalchemy import func, select

from alerting.models import ConsentContact, ConsentEvent, Recipient, Subscriber
from ops.settings import SANDBOX_ACCOUNT_SID
from tests.conftest import System
from tests.helpers import phone
from tests.test_optin_support import NORTHSIDE, SOUTHSIDE, inbox, send_alert, text
from tests.test_optin_support import optin  # noqa: F401 (a fixture, used by name)

SECONDARY_SID = "AC" + "8" * 32


async def _zones(system: System) -> None:
    for zone in (NORTHSIDE, SOUTHSIDE):
        await system.call("POST", "/api/v1/zones", json=zone, expect=201)


async def test_join_yes_welcome_then_an_alert_for_their_zone(optin: System) -> None:
    await _zones(optin)
    resident = phone(1)
    confirm = await text(optin, resident, "Join Northside")
    assert len(confirm) == 1 and "YES" in confirm[0] and "Northside" in confirm[0] and "STOP" in confirm[0]
    welcome = await text(optin, resident, "yes")
    assert "subscribed" in welcome[0] and "STOP" in welcome[0] and "HELP" in welcome[0]
    await send_alert(optin, {"zones": ["Northside"]})
    received = [m["body"] for m in await inbox(optin, resident)]
    assert "Gas leak: stay indoors." in received[-1]
    # Not in Southside: an alert there does not reach them.
    await optin.call("POST", "/api/v1/recipients", json={"external_id": "S1", "phone": phone(9),
                                                        "locations": [{"label": "home", "lat": 38.80, "lon": -77.02}]},
                     expect=201)
    await send_alert(optin, {"zones": ["Southside"]}, title="Flood")
    assert not any("Flood" in m["body"] for m in await inbox(optin, resident))
    with optin.runtime.sessions() as session:
        events = session.execute(select(ConsentEvent.action, ConsentEvent.method, ConsentEvent.text_version)
                                 .where(ConsentEvent.channel == "sms").order_by(ConsentEvent.id)).all()
    assert [tuple(e) for e in events] == [("requested", "keyword", "sms-keyword-1"),
                                          ("opt_in", "keyword", "sms-keyword-1")]


async def test_a_zone_keyword_alone_and_plain_join(optin: System) -> None:
    await _zones(optin)
    assert "Southside" in (await text(optin, phone(2), "SOUTHSIDE"))[0]
    await text(optin, phone(2), "Y")
    assert "YES" in (await text(optin, phone(3), "JOIN"))[0]
    await text(optin, phone(3), "YES")
    await send_alert(optin, {"zones": ["Southside"]})
    assert any("Gas leak" in m["body"] for m in await inbox(optin, phone(2)))
    assert not any("Gas leak" in m["body"] for m in await inbox(optin, phone(3)))
    await send_alert(optin, {"groups": ["Subscribers"]}, title="Test of the system")
    for n in (2, 3):
        assert any("Test of the system" in m["body"] for m in await inbox(optin, phone(n)))


async def test_no_yes_no_messages(optin: System) -> None:
    await _zones(optin)
    await text(optin, phone(4), "JOIN NORTHSIDE")
    with optin.runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Recipient)) == 0, "nobody before YES"
    assert await text(optin, phone(5), "YES") != [], "a YES with nothing pending is still answered"


async def test_repeated_joins_make_no_twins(optin: System) -> None:
    await _zones(optin)
    for _ in range(2):
        await text(optin, phone(6), "JOIN")
        await text(optin, phone(6), "YES")
    await text(optin, phone(6), "NORTHSIDE")  # subscribed already: the zone is added at once
    with optin.runtime.sessions() as session:
        people = session.scalars(select(Recipient).where(Recipient.phone == phone(6))).all()
        assert len(people) == 1
        assert session.get(Subscriber, people[0].id).zones == ["Northside"]
        assert session.scalar(select(func.count()).select_from(ConsentContact)) == 1


@__import__("pytest").mark.settings(twilio_secondary_account_sid=SECONDARY_SID,
                                    twilio_secondary_auth_token="secondary-token",
                                    twilio_secondary_api_base="{base}/sandbox/twilio",
                                    twilio_secondary_from="+15005550007")
async def test_stop_suppresses_the_next_alert_on_every_provider(optin: System) -> None:
    await _zones(optin)
    resident = phone(7)
    await text(optin, resident, "NORTHSIDE")
    await text(optin, resident, "YES")
    await send_alert(optin, {"zones": ["Northside"]}, title="First")
    assert "unsubscribed" in (await text(optin, resident, "STOP"))[0]
    before = len(await inbox(optin, resident))
    # The primary is down: the secondary would carry SMS, but nothing is written for this number.
    optin.sandbox.configure({"accounts": {SANDBOX_ACCOUNT_SID: {"fail_status": 503}}})
    alert_id = await send_alert(optin, {"zones": ["Northside"]}, channels=("sms", "voice"), title="Second")
    assert len(await inbox(optin, resident)) == before
    summary = await optin.call("GET", f"/api/v1/alerts/{alert_id}")
    assert summary["skipped"]["sms"] == 1 and summary["skipped"]["voice"] == 1
    # START gives consent again; voice was never consented to (a keyword consents to texts).
    await text(optin, resident, "START")
    optin.sandbox.configure({"accounts": {SANDBOX_ACCOUNT_SID: {"fail_status": None}}})
    third = await send_alert(optin, {"zones": ["Northside"]}, channels=("sms", "voice"), title="Third")
    summary = await optin.call("GET", f"/api/v1/alerts/{third}")
    assert summary["skipped"] == {**summary["skipped"], "sms": 0, "voice": 1}
    with optin.runtime.sessions() as session:
        actions = session.scalars(select(ConsentEvent.action).order_by(ConsentEvent.id)).all()
    assert actions[-2:] == ["opt_out", "opt_in"]


async def test_help_answers_anyone(optin: System) -> None:
    await _zones(optin)
    stranger = await text(optin, phone(8), "HELP")
    assert "campus police 555-0100" in stranger[0] and "JOIN" in stranger[0]
    await text(optin, phone(10), "JOIN")
    await text(optin, phone(10), "YES")
    member = await text(optin, phone(10), "help")
    assert "campus police 555-0100" in member[0]
    assert "responda SI" in (await text(optin, phone(11), "ALTA"))[0]
    spanish = await text(optin, phone(12), "AYUDA")
    assert "Contacto" in spanish[0]
    assert "suscrito" in member[0] or "you are subscribed" in member[0], "a member is told they are subscribed"
    assert "ya no recibirá" in (await text(optin, phone(12), "PARAR"))[0]
    assert "désinscrit" in (await text(optin, phone(12), "ARRET"))[0]


async def test_unknown_words_get_a_short_help_capped(optin: System) -> None:
    answers = [await text(optin, phone(13), "WHAT IS THIS") for _ in range(5)]
    assert [len(a) for a in answers] == [1, 1, 1, 0, 0]
    assert "JOIN" in answers[0][0] and len(answers[0][0]) <= 160
    assert await text(optin, phone(13), "STOP"), "STOP is always confirmed"


async def test_keywords_are_configurable(optin: System) -> None:
    await _zones(optin)
    builtin = await optin.call("GET", "/api/v1/keywords", expect=200)
    words = {k["keyword"]: k for k in builtin["keywords"]}
    assert {"JOIN", "YES", "HELP", "STOP", "START", "NORTHSIDE"} <= words.keys()
    await optin.call("PUT", "/api/v1/keywords", expect=200, json={"keywords": [
        {"keyword": "20001", "action": "join", "zones": ["Northside", "Southside"]},
        {"keyword": "norte", "action": "join", "locale": "es", "zones": ["Northside"]},
        {"keyword": "SI", "action": "confirm", "locale": "es", "reply": "{org}: ¡listo{areas}! STOP para salir."}]})
    assert "Northside, Southside" in (await text(optin, phone(14), "20001"))[0]
    assert "responda SI" in (await text(optin, phone(15), "Norte"))[0]
    assert (await text(optin, phone(15), "sí"))[0] == "Test University: ¡listo para Northside! STOP para salir."
    with optin.runtime.sessions() as session:
        assert session.scalar(select(Recipient.locale).where(Recipient.phone == phone(15))) == "es"
    bad = await optin.call("PUT", "/api/v1/keywords", expect=422,
                           json={"keywords": [{"keyword": "STOP", "action": "join"}]})
    assert bad["error"]["field"] == "keywords[0].action"
    for word, action in (("OK", "join"), ("AYUDA", "join"), ("BIEN", "help")):
        bad = await optin.call("PUT", "/api/v1/keywords", expect=422,
                               json={"keywords": [{"keyword": word, "action": action}]})
        assert "answer to alerts" in bad["error"]["message"], word
    bad = await optin.call("PUT", "/api/v1/keywords", expect=422,
                           json={"keywords": [{"keyword": "X", "zones": ["Nowhere"]}]})
    assert "Nowhere" in bad["error"]["message"]


async def test_zone_names_never_take_over_keywords_or_answers(optin: System) -> None:
    for name in ("Help", "OK"):
        await optin.call("POST", "/api/v1/zones", expect=201, json={**SOUTHSIDE, "name": name})
    assert "Contact" in (await text(optin, phone(16), "HELP"))[0]
    words = {k["keyword"] for k in (await optin.call("GET", "/api/v1/keywords"))["keywords"] if k["zones"]}
    assert words == set()


async def test_stop_withdraws_a_join_waiting_for_yes(optin: System) -> None:
    await text(optin, phone(17), "JOIN")
    await text(optin, phone(17), "STOP")
    await text(optin, phone(17), "YES")
    with optin.runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Recipient)) == 0


async def test_answers_to_an_open_alert_are_never_taken_for_keywords(optin: System) -> None:
    await optin.call("POST", "/api/v1/zones", expect=201, json={**SOUTHSIDE, "name": "Library"})
    await optin.call("POST", "/api/v1/recipients", expect=201, json={
        "external_id": "L1", "phone": phone(18), "locations": [{"label": "home", "lat": 38.80, "lon": -77.02}]})
    alert_id = await send_alert(optin, {"zones": ["Library"]})
    assert await text(optin, phone(18), "library flooded, we are safe") == []
    assert await text(optin, phone(18), "join us") == []
    summary = await optin.call("GET", f"/api/v1/alerts/{alert_id}")
    assert summary["responses"]["acknowledged"] == 1
    # Without an open alert, the same words are a keyword (with more words: only a generic JOIN).
    assert "Library" in (await text(optin, phone(19), "library"))[0]
    assert "we did not understand" in (await text(optin, phone(20), "library flooded"))[0]
