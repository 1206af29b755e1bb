"""Issue acceptance: an alert to 1,000 people over SMS, through the official twilio client and the
sandbox over HTTP, with replies and a forged webhook."""
from __future__ import annotations

from collections import Counter

import aiohttp
from twilio.request_validator import RequestValidator

from tests.conftest import SANDBOX_TOKEN, System
from tests.helpers import people_csv, phone

N = 1000


async def _setup_people(system: System, count: int = N) -> None:
    await system.call("POST", "/api/v1/groups", json={"name": "Everyone"}, expect=201)
    result = await system.call("POST", "/api/v1/recipients/import", data=people_csv(count), expect=200)
    assert result["created"] == count and result["rejected"] == 0


async def _send(system: System, title: str = "Flood warning", **extra: object) -> int:
    alert = await system.call("POST", "/api/v1/alerts", expect=201, json={
        "title": title, "message": "The river is rising. Move to higher ground now.",
        "channels": ["sms"], "target": {"groups": ["Everyone"]}, **extra})
    sent = await system.call("POST", f"/api/v1/alerts/{alert['id']}/send", expect=202)
    assert sent["started"] is True
    await system.drain()
    return alert["id"]


async def _reply(system: System, number: str, body: str) -> dict:
    return await system.call("POST", "/sandbox/sms/reply", json={"from": number, "body": body}, expect=200)


async def test_alert_to_a_thousand_people_each_get_exactly_one_sms(system: System) -> None:
    await _setup_people(system)
    alert_id = await _send(system)

    received: Counter[str] = Counter()
    for n in range(N):
        inbox = await system.call("GET", "/sandbox/messages", params={"to": phone(n)})
        received[phone(n)] += len(inbox)
        if n % 250 == 0:
            assert "Move to higher ground" in inbox[0]["body"] and inbox[0]["channel"] == "sms"
    assert set(received.values()) == {1}, "every person gets exactly one SMS"
    stats = await system.call("GET", "/sandbox/stats")
    assert stats["sms"]["count"] == N

    summary = await system.call("GET", f"/api/v1/alerts/{alert_id}", expect=200)
    assert summary["status"] == "sent"
    assert summary["recipients"] == N
    assert summary["deliveries"]["sms"]["delivered"] == N
    assert sum(summary["deliveries"]["sms"].values()) == N, "each message counted once"
    assert summary["responses"] == {"safe": 0, "need_help": 0, "acknowledged": 0, "no_response": N}


async def test_replies_show_up_in_the_alert(system: System) -> None:
    await _setup_people(system, 50)
    alert_id = await _send(system)
    for n in range(10):
        await _reply(system, phone(n), "SAFE")
    for n in range(10, 13):
        answer = await _reply(system, phone(n), "help")
        assert "need help" in answer["replies"][0] and "campus police" in answer["replies"][0]
    await _reply(system, phone(20), "I'm on my way out")
    stop = await _reply(system, phone(21), "STOP")
    assert "unsubscribed" in stop["replies"][0]

    summary = await system.call("GET", f"/api/v1/alerts/{alert_id}")
    assert summary["responses"] == {"safe": 10, "need_help": 3, "acknowledged": 1, "no_response": 36}
    people = await system.call("GET", f"/api/v1/alerts/{alert_id}/recipients", params={"response": "need_help"})
    assert [p["external_id"] for p in people["recipients"]] == ["P00010", "P00011", "P00012"]

    # STOP suppresses the number from the next alert; the others still get it.
    second = await _send(system, title="Flood update")
    assert len(await system.call("GET", "/sandbox/messages", params={"to": phone(21)})) == 2  # alert + STOP confirmation
    assert len(await system.call("GET", "/sandbox/messages", params={"to": phone(22)})) == 2  # two alerts
    summary = await system.call("GET", f"/api/v1/alerts/{second}")
    assert summary["skipped"]["sms"] == 1 and summary["deliveries"]["sms"]["delivered"] == 49
    # START opts back in.
    await _reply(system, phone(21), "START")
    third = await _send(system, title="Flood all clear")
    summary = await system.call("GET", f"/api/v1/alerts/{third}")
    assert summary["skipped"]["sms"] == 0


async def test_a_later_help_is_never_hidden_by_an_earlier_safe(system: System) -> None:
    await _setup_people(system, 3)
    alert_id = await _send(system)
    await _reply(system, phone(0), "safe")
    await _reply(system, phone(0), "help")
    await _reply(system, phone(1), "safe")
    await _reply(system, phone(1), "thanks")
    summary = await system.call("GET", f"/api/v1/alerts/{alert_id}")
    assert summary["responses"] == {"safe": 1, "need_help": 1, "acknowledged": 0, "no_response": 1}


async def test_several_open_alerts_are_answered_by_code_never_guessed(system: System) -> None:
    await _setup_people(system, 3)
    first = await _send(system, title="First")
    second = await _send(system, title="Second")
    first_code, second_code = _code(system, first), _code(system, second)
    assert first_code != second_code
    inbox = await system.call("GET", "/sandbox/messages", params={"to": phone(0)})
    assert "Reply SAFE" in inbox[0]["body"], "one open alert: plain keywords"
    assert f"Reply {second_code}1 if you are safe, {second_code}2 if you need help." in inbox[1]["body"]
    # A bare SAFE is not guessed: one clarifying answer naming both codes, nothing recorded.
    answer = await _reply(system, phone(0), "SAFE")
    assert f"{first_code}1" in answer["replies"][0] and f"{second_code}1" in answer["replies"][0]
    assert (await system.call("GET", f"/api/v1/alerts/{second}"))["responses"]["safe"] == 0
    await _reply(system, phone(0), f"{first_code.lower()} 1")
    assert (await system.call("GET", f"/api/v1/alerts/{first}"))["responses"]["safe"] == 1
    assert (await system.call("GET", f"/api/v1/alerts/{second}"))["responses"]["safe"] == 0
    # A bare HELP is never dropped: it counts on every open alert.
    await _reply(system, phone(1), "HELP")
    for alert_id in (first, second):
        assert (await system.call("GET", f"/api/v1/alerts/{alert_id}"))["responses"]["need_help"] == 1
    unknown = await _reply(system, phone(2), "Z1")
    assert "did not recognise" in unknown["replies"][0]


def _code(system: System, alert_id: int) -> str:
    from alerting.models import Alert
    with system.runtime.sessions() as session:
        return session.get(Alert, alert_id).reply_code


async def test_automatic_answers_are_capped_per_number(system: System) -> None:
    await _setup_people(system, 1)
    await _send(system, title="First")
    await _send(system, title="Second")
    answers = [await _reply(system, phone(0), "what?") for _ in range(5)]
    assert [bool(a["replies"]) for a in answers] == [True, True, True, False, False]
    stop = await _reply(system, phone(0), "STOP")
    assert stop["replies"], "STOP is always confirmed"


async def test_a_reply_after_close_is_kept_but_changes_nothing(system: System) -> None:
    from sqlalchemy import select, update

    from alerting.models import Alert, Response
    await _setup_people(system, 1)
    alert_id = await _send(system)
    with system.runtime.sessions.begin() as session:
        session.execute(update(Alert).where(Alert.id == alert_id).values(status="closed"))
    await _reply(system, phone(0), "SAFE")
    assert (await system.call("GET", f"/api/v1/alerts/{alert_id}"))["responses"]["safe"] == 0
    with system.runtime.sessions() as session:
        kept = session.execute(select(Response.kind, Response.counted)).all()
    assert [tuple(k) for k in kept] == [("safe", False)]


async def test_forged_and_unsigned_webhooks_are_refused(system: System) -> None:
    await _setup_people(system, 1)
    alert_id = await _send(system)
    url = f"{system.base_url}/hooks/twilio/sms"
    params = {"From": phone(0), "Body": "SAFE", "MessageSid": "SM" + "1" * 32}
    forged = RequestValidator("not-the-token").compute_signature(url, params)
    async with aiohttp.ClientSession() as anonymous:
        for headers in ({}, {"X-Twilio-Signature": forged}):
            async with anonymous.post(url, data=params, headers=headers) as response:
                assert response.status == 403
        status_url = f"{system.base_url}/hooks/twilio/status?d=1"
        bad = {"MessageSid": "SM" + "2" * 32, "MessageStatus": "failed"}
        async with anonymous.post(status_url, data=bad, headers={
                "X-Twilio-Signature": RequestValidator("wrong").compute_signature(status_url, bad)}) as response:
            assert response.status == 403
        # The same request correctly signed is accepted: the check is real, not a blanket refusal.
        good = RequestValidator(SANDBOX_TOKEN).compute_signature(url, params)
        async with anonymous.post(url, data=params, headers={"X-Twilio-Signature": good}) as response:
            assert response.status == 200
    summary = await system.call("GET", f"/api/v1/alerts/{alert_id}")
    assert summary["responses"]["safe"] == 1
    assert summary["deliveries"]["sms"]["delivered"] == 1, "the forged 'failed' callback changed nothing"


async def test_pressing_send_twice_sends_once(system: System) -> None:
    await _setup_people(system, 20)
    alert = await system.call("POST", "/api/v1/alerts", expect=201, json={
        "title": "Lockdown", "message": "Lock doors.", "channels": ["sms"], "target": {"groups": ["Everyone"]}})
    first = await system.call("POST", f"/api/v1/alerts/{alert['id']}/send", expect=202)
    again = await system.call("POST", f"/api/v1/alerts/{alert['id']}/send", expect=202)
    assert first["started"] is True and again["started"] is False
    await system.drain()
    assert (await system.call("GET", "/sandbox/stats"))["sms"]["count"] == 20


async def test_drill_messages_say_so(system: System) -> None:
    await _setup_people(system, 1)
    await _send(system, drill=True)
    inbox = await system.call("GET", "/sandbox/messages", params={"to": phone(0)})
    assert inbox[0]["body"].startswith("TEST - EXERCISE ONLY.")
