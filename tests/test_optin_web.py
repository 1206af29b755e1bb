"""Issue 10 acceptance, the public sign-up page: a pin inside a zone is reached by a geofence alert;
codes are single-use, expire and are rate-limited; no twins; spam is refused; manage and delete."""
from __future__ import annotations

import asyncio
import re
from datetime import timedelta

from sqlalchemy import func, select, update

from alerting.models import ConsentEvent, Recipient, RecipientLocation, Subscriber, SubscriptionRequest, utcnow
from tests.conftest import System
from tests.helpers import phone
from tests.test_optin_support import FILL_S, NORTHSIDE, code_for, inbox, send_alert, sign_up, verify_token
from tests.test_optin_support import optin  # noqa: F401 (a fixture, used by name)

PIN = (38.9201, -77.0302)   # inside Northside


async def _verify(system: System, page: str, number: str, code: str | None = None, expect: int = 200) -> str:
    return await system.call("POST", "/subscribe/verify", expect=expect, data={
        "verify_token": verify_token(page), "code": code or await code_for(system, number)})


async def test_a_pin_inside_a_zone_is_reached_by_a_geofence_covering_it(optin: System) -> None:
    await optin.call("POST", "/api/v1/zones", json=NORTHSIDE, expect=201)
    page = await optin.call("GET", "/subscribe", expect=200)
    assert "Northside" in page and "version web-1" in page and "/static/vendor/leaflet/leaflet.js" in page
    french = await optin.call("GET", "/subscribe", params={"lang": "fr"}, expect=200)
    assert "Recevoir les alertes d'urgence de Test University" in french.replace("&#39;", "'")
    assert "J'accepte de recevoir" in french.replace("&#39;", "'"), "the consent text in French"
    number = phone(21)
    page = await sign_up(optin, phone="(202) 555-0021", lat=PIN[0], lon=PIN[1], language="es")
    assert "código de 6 cifras" in page and 'lang="es"' in page, "the page speaks the language chosen"
    done = await _verify(optin, page, number)
    assert "Está suscrito" in done and "/subscribe/manage/" in done
    await send_alert(optin, {"circle": {"lat": PIN[0], "lon": PIN[1], "radius_m": 300}}, title="Water main")
    assert any("Water main" in m["body"] for m in await inbox(optin, number))
    with optin.runtime.sessions() as session:
        person = session.scalar(select(Recipient).where(Recipient.phone == number))
        assert person.locale == "es" and session.get(Subscriber, person.id).source == "web"
        assert [(loc.label, loc.lat, loc.lon) for loc in person.locations] == [("home", *PIN)]
        events = session.execute(select(ConsentEvent.action, ConsentEvent.method, ConsentEvent.text_version,
                                        ConsentEvent.locale).order_by(ConsentEvent.id)).all()
    assert [tuple(e) for e in events] == [("requested", "web", "web-1", "es"), ("opt_in", "web", "web-1", "es")]


async def test_zones_and_email_by_a_signed_link(optin: System) -> None:
    await optin.call("POST", "/api/v1/zones", json=NORTHSIDE, expect=201)
    page = await sign_up(optin, email="Resident@Example.ORG", zones=["Northside"])
    assert "open its link" in page and "6-digit code" not in page
    mail = (await inbox(optin, "Resident@example.org"))[-1]
    link = re.search(r"(/subscribe/email/[\w.\-]+)", mail["body"]).group(1)
    confirm = await optin.call("GET", link, expect=200)
    assert "Confirm" in confirm
    with optin.runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Recipient)) == 0, "a GET (a link scanner) subscribes no one"
    assert "You are subscribed" in await optin.call("POST", link, expect=200)
    assert "already been used" in await optin.call("POST", link, expect=410)
    await send_alert(optin, {"zones": ["Northside"]}, channels=("email",), title="Boil water")
    assert any("Boil water" in m.get("subject", "") + m["body"] for m in await inbox(optin, "Resident@example.org"))


async def test_both_contacts_in_one_sign_up_make_one_person(optin: System) -> None:
    page = await sign_up(optin, phone=phone(22), email="both@example.org")
    mail = (await inbox(optin, "both@example.org"))[-1]
    link = re.search(r"(/subscribe/email/[\w.\-]+)", mail["body"]).group(1)
    await optin.call("POST", link, expect=200)
    await _verify(optin, page, phone(22))
    with optin.runtime.sessions() as session:
        people = session.execute(select(Recipient.phone, Recipient.email)).all()
    assert [tuple(p) for p in people] == [(phone(22), "both@example.org")]


async def test_a_code_is_single_use_expires_and_is_rate_limited(optin: System) -> None:
    number = phone(23)
    page = await sign_up(optin, phone=number)
    wrong = await _verify(optin, page, number, code="000000" if await code_for(optin, number) != "000000" else "111111",
                          expect=422)
    assert 'id="code-error"' in wrong and "not the code" in wrong
    await _verify(optin, page, number)
    again = await _verify(optin, page, number, expect=422)
    assert "already been used" in again
    # Expired: a fresh code, then time passes.
    page = await sign_up(optin, phone=number)
    with optin.runtime.sessions.begin() as session:
        session.execute(update(SubscriptionRequest).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert "expired" in await _verify(optin, page, number, expect=422)
    # Three codes an hour per number (two asked so far); the fourth is refused by the phone field.
    await sign_up(optin, phone=number)
    refused = await sign_up(optin, phone=number, expect=422)
    assert 'id="phone-error"' in refused and "too many" in refused
    assert len([m for m in await inbox(optin, number) if "code" in m["body"]]) == 3
    # Five wrong tries kill a code.
    other = phone(24)
    page = await sign_up(optin, phone=other)
    right = await code_for(optin, other)
    for _ in range(5):
        await _verify(optin, page, other, code=f"{(int(right) + 1) % 10 ** 6:06d}", expect=422)
    assert "too many wrong codes" in await _verify(optin, page, other, expect=422)


async def test_signing_up_again_makes_no_twin(optin: System) -> None:
    await optin.call("POST", "/api/v1/zones", json=NORTHSIDE, expect=201)
    for zones in (["Northside"], []):
        page = await sign_up(optin, phone=phone(25), zones=zones)
        await _verify(optin, page, phone(25))
    # And by keyword, the same number.
    await optin.call("POST", "/sandbox/sms/reply", json={"from": phone(25), "body": "JOIN"}, expect=200)
    await optin.call("POST", "/sandbox/sms/reply", json={"from": phone(25), "body": "YES"}, expect=200)
    with optin.runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Recipient)) == 1


async def test_fields_are_checked_with_messages_next_to_them(optin: System) -> None:
    page = await sign_up(optin, phone="12", email="not-an-email", lat="95", lon="0", consent=None, expect=422)
    for name in ("phone", "email", "pin", "consent"):
        assert f'id="{name}-error"' in page, name
    assert 'value="12"' in page, "what the person typed is kept"
    nothing = await sign_up(optin, expect=422)
    assert "Give a mobile number, an email address, or both" in nothing


async def test_spam_is_refused_without_a_captcha(optin: System) -> None:
    # A honeypot filled: answered like a success, nothing sent or stored.
    page = await sign_up(optin, phone=phone(26), website="http://spam.example")
    assert "Check your phone" in page and await inbox(optin, phone(26)) == []
    # A forged form token, and a form sent back at once.
    assert "did not come from this page" in await sign_up(optin, phone=phone(26), form_token="forged", expect=422)
    page = await optin.call("GET", "/subscribe", expect=200)
    token = re.search(r'name="form_token" value="([^"]+)"', page).group(1)
    fast = await optin.call("POST", "/subscribe", expect=422,
                            data={"form_token": token, "phone": phone(26), "consent": "yes"})
    assert "quicker than a person" in fast
    with optin.runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(SubscriptionRequest)) == 0
    # Per client IP: 30 posts an hour, whatever they hold.
    for _ in range(27):
        await optin.call("POST", "/subscribe", data={"website": "x"})
    assert (await optin.call("POST", "/subscribe", data={"website": "x"}, expect=429))


async def test_manage_and_delete_by_a_signed_link(optin: System) -> None:
    await optin.call("POST", "/api/v1/zones", json=NORTHSIDE, expect=201)
    number = phone(27)
    page = await sign_up(optin, phone=number, zones=["Northside"])
    await _verify(optin, page, number)
    # Ask for a link by number (the answer is the same for unknown numbers).
    request_page = await optin.call("GET", "/subscribe/manage", expect=200)
    token = re.search(r'name="form_token" value="([^"]+)"', request_page).group(1)
    await asyncio.sleep(FILL_S)
    for contact in (phone(99), number):
        answer = await optin.call("POST", "/subscribe/manage", data={"form_token": token, "contact": contact})
        assert "If we know this number" in answer
    assert await inbox(optin, phone(99)) == []
    link = re.search(r"(/subscribe/manage/[\w.\-]+)", (await inbox(optin, number))[-1]["body"]).group(1)
    manage = await optin.call("GET", link, expect=200)
    assert "0027" in manage and number not in manage, "the number is shown masked"
    form_token = re.search(r'name="form_token" value="([^"]+)"', manage).group(1)
    saved = await optin.call("POST", link, data={"form_token": form_token, "language": "fr",
                                                 "lat": PIN[0], "lon": PIN[1]}, expect=200)
    assert "saved" in saved
    with optin.runtime.sessions() as session:
        person = session.scalar(select(Recipient).where(Recipient.phone == number))
        assert person.locale == "fr" and [loc.label for loc in person.locations] == ["home"]
    await optin.call("POST", f"{link}/delete", data={"form_token": form_token}, expect=200)
    with optin.runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Recipient).where(Recipient.phone == number)) == 0
        assert session.scalar(select(func.count()).select_from(RecipientLocation)) == 0
    assert "no longer exists" in await optin.call("GET", link, expect=404)
    assert "not valid" in await optin.call("GET", "/subscribe/manage/forged", expect=403)


async def test_a_number_that_texted_stop_gets_no_code_from_the_form(optin: System) -> None:
    await optin.call("POST", "/sandbox/sms/reply", json={"from": phone(28), "body": "STOP"}, expect=200)
    page = await sign_up(optin, phone=phone(28), expect=422)
    assert 'id="phone-error"' in page and "Text START" in page
    assert not any("code" in m["body"] for m in await inbox(optin, phone(28)))
