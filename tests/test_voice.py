"""Issue acceptance for the voice channel: calls through the official twilio client to the sandbox's
fake carrier, which fetches Tocsin's TwiML, plays it, and presses keys on the callee's behalf."""
from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select, update
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from yarl import URL

from alerting import dispatch, sending
from alerting.models import Alert, Delivery, OptOut, Response
from alerting.rendering import DRILL_PREFIX
from channels.base import Outbound, Outcome
from channels.twilio_http import RebasedAsyncTwilioHttpClient
from channels.twilio_voice import TwilioVoice
from ops.settings import SANDBOX_ACCOUNT_SID, SANDBOX_FROM_NUMBER
from tests.conftest import SANDBOX_TOKEN, System
from tests.helpers import people_csv, phone

MESSAGE = "The river is rising. Move to higher ground now."
PROMPT = "Press 1 if you are safe. Press 2 if you need help. Press 9 to hear this again."


class RecordingEnqueuer:
    """Keeps the send batches a dispatch asks for, so a test can run them one step at a time."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def enqueue_dispatch(self, alert_id: int, *, urgent: bool) -> None:
        raise AssertionError("not expected")

    def enqueue_sends(self, alert_id, channel, batches, *, urgent) -> None:  # type: ignore[no-untyped-def]
        self.batches.extend(list(b) for b in batches)


def _statuses(system: System, alert_id: int) -> dict[tuple[str, int, str | None], int]:
    with system.runtime.sessions() as session:
        return {tuple(row[:3]): row[3] for row in session.execute(
            select(Delivery.status, Delivery.tries, Delivery.error_code, func.count())
            .where(Delivery.alert_id == alert_id).group_by(Delivery.status, Delivery.tries, Delivery.error_code))}


async def _people(system: System, count: int) -> None:
    await system.call("POST", "/api/v1/groups", json={"name": "Everyone"}, expect=201)
    await system.call("POST", "/api/v1/recipients/import", data=people_csv(count), expect=200)


async def _draft(system: System, **extra: object) -> int:
    alert = await system.call("POST", "/api/v1/alerts", expect=201, json={
        "title": "Flood warning", "message": MESSAGE, "channels": ["voice"], "target": {"groups": ["Everyone"]},
        **extra})
    return alert["id"]


async def _send(system: System, **extra: object) -> int:
    alert_id = await _draft(system, **extra)
    await system.call("POST", f"/api/v1/alerts/{alert_id}/send", expect=202)
    await system.drain()
    return alert_id


async def _inbox(system: System, number: str, channel: str = "voice") -> list[dict[str, Any]]:
    return [m for m in await system.call("GET", "/sandbox/messages", params={"to": number})
            if m["channel"] == channel]


async def _press(system: System, number: str, digits: str) -> dict[str, Any]:
    return await system.call("POST", "/sandbox/voice/press", json={"to": number, "digits": digits}, expect=200)


async def _summary(system: System, alert_id: int) -> dict[str, Any]:
    await system.callbacks_settled()
    return await system.call("GET", f"/api/v1/alerts/{alert_id}", expect=200)


def _voice_delivery(system: System, number: str) -> int:
    with system.runtime.sessions() as session:
        return session.scalars(select(Delivery.id).where(Delivery.channel == "voice", Delivery.address == number)).one()


async def _signed_post(system: System, path: str, params: dict[str, str], token: str = SANDBOX_TOKEN) -> tuple[int, str]:
    url = str(URL(f"{system.base_url}{path}"))  # percent-encoded, as it goes on the wire and is signed
    signature = RequestValidator(token).compute_signature(url, params)
    async with aiohttp.ClientSession() as anonymous:
        async with anonymous.post(url, data=params, headers={"X-Twilio-Signature": signature}) as response:
            return response.status, await response.text()


async def test_each_phone_gets_one_call_saying_the_alert_twice_then_the_prompt(system: System) -> None:
    await _people(system, 5)
    alert_id = await _send(system)
    for n in range(5):
        calls = await _inbox(system, phone(n))
        assert len(calls) == 1, "exactly one call per person"
        call = calls[0]
        assert call["spoken"][:2] == [call["spoken"][0]] * 2 and MESSAGE in call["spoken"][0]
        assert "Test University" in call["spoken"][0], "the call says who it is from"
        assert call["spoken"][2] == PROMPT and call["gather"]["num_digits"] == 1
        says = [v for v in call["script"] if v["verb"] == "say"]
        assert says[0]["language"] == "en-US" and says[0]["loop"] == 2
        assert call["answered_by"] == "human", "machine detection was asked for"
    summary = await _summary(system, alert_id)
    assert summary["status"] == "sent" and sum(summary["deliveries"]["voice"].values()) == 5


async def test_keys_record_safe_and_help_and_nine_repeats(system: System) -> None:
    await _people(system, 6)
    alert_id = await _send(system)
    for n in (0, 1):
        answer = await _press(system, phone(n), "1")
        assert "marked safe" in " ".join(answer["spoken"]) and answer["status"] == "completed"
    helped = await _press(system, phone(2), "2")
    assert "need help" in helped["spoken"][0] and "campus police 555-0100" in helped["spoken"][0]
    again = await _press(system, phone(3), "9")
    assert [s for s in again["spoken"] if MESSAGE in s] == [again["spoken"][0]] * 2, "said twice again"
    assert again["gather"] is not None, "and waits for a key again"
    assert "safe" in " ".join((await _press(system, phone(3), "1"))["spoken"])
    unknown = await _press(system, phone(4), "7")
    assert "not understood" in unknown["spoken"][0] and unknown["spoken"][1] == PROMPT
    quiet = await system.call("POST", "/sandbox/voice/timeout", json={"to": phone(5)}, expect=200)
    assert quiet["spoken"] == ["We did not receive an answer. Goodbye."] and quiet["status"] == "completed"

    summary = await _summary(system, alert_id)
    assert summary["responses"] == {"safe": 3, "need_help": 1, "acknowledged": 0, "no_response": 2}
    assert summary["deliveries"]["voice"]["delivered"] == 6, "every call was answered, the one still waiting for a key too"
    people = await system.call("GET", f"/api/v1/alerts/{alert_id}/recipients", params={"response": "need_help"})
    assert [p["external_id"] for p in people["recipients"]] == ["P00002"]


async def test_a_key_pressed_after_the_alert_closed_is_thanked_not_counted(system: System) -> None:
    await _people(system, 2)
    alert_id = await _send(system)
    await _press(system, phone(0), "2")
    with system.runtime.sessions.begin() as session:
        session.execute(update(Alert).where(Alert.id == alert_id).values(status="closed"))
    late = await _press(system, phone(1), "1")
    assert late["spoken"] == ["Thank you. This alert has ended. Goodbye."]
    summary = await _summary(system, alert_id)
    assert summary["responses"] == {"safe": 0, "need_help": 1, "acknowledged": 0, "no_response": 1}


async def test_a_retried_key_press_counts_once(system: System) -> None:
    await _people(system, 1)
    alert_id = await _send(system)
    call = (await _inbox(system, phone(0)))[0]
    d = _voice_delivery(system, phone(0))
    params = {"CallSid": call["sid"], "AccountSid": SANDBOX_ACCOUNT_SID, "Digits": "2", "To": phone(0)}
    for _ in range(2):  # Twilio retrying the same request
        status, body = await _signed_post(system, f"/hooks/twilio/voice/gather?d={d}", params)
        assert status == 200 and "campus police" in body
    with system.runtime.sessions() as session:
        assert len(session.scalars(select(Response)).all()) == 1
    assert (await _summary(system, alert_id))["responses"]["need_help"] == 1


async def test_unanswered_busy_and_failed_calls_are_recorded_as_such(system: System) -> None:
    await _people(system, 4)
    system.sandbox.configure({"voice": {phone(0): "no-answer", phone(1): "busy", phone(2): "failed"}})
    alert_id = await _send(system)
    await _press(system, phone(3), "1")
    voice = (await _summary(system, alert_id))["deliveries"]["voice"]
    assert (voice["no_answer"], voice["busy"], voice["failed"], voice["delivered"]) == (1, 1, 1, 1)
    for n in range(3):
        assert (await _inbox(system, phone(n)))[0]["spoken"] == [], "nobody heard anything"


async def test_an_answering_machine_gets_the_message_once_and_the_person_an_sms(system: System) -> None:
    await _people(system, 3)
    with system.runtime.sessions.begin() as session:  # person 2 texted STOP earlier
        session.add(OptOut(channel="sms", address=phone(2), source="sms-keyword"))
    system.sandbox.configure({"voice": {phone(0): "machine", phone(2): "machine"}})
    alert_id = await _send(system)
    voicemail = (await _inbox(system, phone(0)))[0]
    assert voicemail["answered_by"] == "machine_end_beep"
    assert len(voicemail["spoken"]) == 1 and MESSAGE in voicemail["spoken"][0], "said once, after the beep"
    assert [v["verb"] for v in voicemail["script"]] == ["say", "hangup"], "no Gather for a machine"
    texts = await _inbox(system, phone(0), "sms")
    assert len(texts) == 1 and MESSAGE in texts[0]["body"] and "Reply SAFE" in texts[0]["body"]
    assert await _inbox(system, phone(1), "sms") == [], "a person who answered gets no SMS"
    assert await _inbox(system, phone(2), "sms") == [], "an opted-out number gets no SMS"

    # The same call asking again (a Twilio retry) adds no second SMS.
    d = _voice_delivery(system, phone(0))
    status, body = await _signed_post(system, f"/hooks/twilio/voice?d={d}", {
        "CallSid": voicemail["sid"], "AnsweredBy": "machine_end_beep", "To": phone(0)})
    assert status == 200 and MESSAGE in body and "<Gather" not in body
    await system.drain()
    assert len(await _inbox(system, phone(0), "sms")) == 1
    summary = await _summary(system, alert_id)
    assert summary["deliveries"]["sms"]["delivered"] == 1 and summary["deliveries"]["voice"]["delivered"] == 3  # two machines, one person still listening


async def test_forged_voice_webhooks_are_refused(system: System) -> None:
    await _people(system, 1)
    alert_id = await _send(system)
    d = _voice_delivery(system, phone(0))
    forged = {"CallSid": "CA" + "1" * 32, "Digits": "1", "CallStatus": "busy", "AnsweredBy": "human"}
    for path in (f"/hooks/twilio/voice?d={d}", f"/hooks/twilio/voice/gather?d={d}", f"/hooks/twilio/call-status?d={d}"):
        assert (await _signed_post(system, path, forged, token="not-the-token"))[0] == 403
        async with aiohttp.ClientSession() as anonymous:
            async with anonymous.post(f"{system.base_url}{path}", data=forged) as response:
                assert response.status == 403
    summary = await _summary(system, alert_id)
    assert summary["responses"]["safe"] == 0 and summary["deliveries"]["voice"]["busy"] == 0
    # Correctly signed, the same requests are accepted: the check is real, not a blanket refusal.
    status, body = await _signed_post(system, f"/hooks/twilio/voice?d={d}", forged)
    assert status == 200 and "<Gather" in body and f"{system.base_url}/hooks/twilio/voice/gather?d={d}" in body
    # Ids that are not ours change nothing and get an empty answer.
    for bad in ("", "abc", "²", "9" * 40, "999999"):
        status, body = await _signed_post(system, f"/hooks/twilio/voice/gather?d={bad}", forged)
        assert status == 200 and "<Say" not in body
    assert (await _signed_post(system, "/hooks/twilio/call-status?d=x", forged))[0] == 204
    assert (await _summary(system, alert_id))["responses"]["safe"] == 0


async def test_a_drill_call_says_so_first(system: System) -> None:
    await _people(system, 1)
    await _send(system, drill=True)
    call = (await _inbox(system, phone(0)))[0]
    assert call["spoken"][0].startswith(DRILL_PREFIX) and MESSAGE in call["spoken"][0]


def _languages(call: dict[str, Any]) -> set[str]:
    return {v["language"] for v in call["script"] if v["verb"] == "say"}


async def test_calls_speak_the_recipients_language(system: System) -> None:
    await system.call("POST", "/api/v1/groups", json={"name": "Everyone"}, expect=201)
    people = [{"external_id": f"L{n}", "name": f"Person {n}", "phone": phone(n), "locale": locale,
               "groups": ["Everyone"]} for n, locale in enumerate(["es", "fr-CA", "de"])]
    await system.call("POST", "/api/v1/recipients", json=people, expect=201)
    await _send(system)
    spanish, quebec, german = [(await _inbox(system, phone(n)))[0] for n in range(3)]
    assert _languages(spanish) == {"es-MX"} and _languages(quebec) == {"fr-CA"} and _languages(german) == {"en-US"}
    assert MESSAGE in spanish["spoken"][0], "the message is said as written"
    assert spanish["spoken"][0].startswith("Este es un mensaje de emergencia de Test University.")
    assert spanish["spoken"][2].startswith("Marque 1 si está a salvo")
    assert quebec["spoken"][2].startswith("Appuyez sur 1")
    assert german["spoken"][2] == PROMPT, "a language we have no words for hears English"
    confirmed = await _press(system, phone(0), "1")
    assert confirmed["spoken"] == ["Gracias. Registramos que está a salvo. Adiós."]


async def test_adapter_classifies_provider_errors(system: System) -> None:
    http = RebasedAsyncTwilioHttpClient(system.runtime.settings.twilio_api_base)
    adapter = TwilioVoice(Client(SANDBOX_ACCOUNT_SID, SANDBOX_TOKEN, http_client=http), SANDBOX_FROM_NUMBER)
    message = Outbound(1, phone(0), "", twiml_url=f"{system.base_url}/hooks/twilio/voice?d=1")
    try:
        outcomes = {}
        for status in (503, 500, 429, 400, 404):
            system.sandbox.configure({"accounts": {SANDBOX_ACCOUNT_SID: {"fail_status": status}}})
            outcomes[status] = (await adapter.send(message)).outcome
        assert outcomes == {503: Outcome.TRANSIENT, 500: Outcome.TRANSIENT, 429: Outcome.TRANSIENT,
                            400: Outcome.PERMANENT, 404: Outcome.PERMANENT}
        system.sandbox.configure({"accounts": {SANDBOX_ACCOUNT_SID: None}})
        invalid = await adapter.send(Outbound(2, "12345", "", twiml_url=message.twiml_url))
        assert (invalid.outcome, invalid.error_code) == (Outcome.PERMANENT, "21211")
        placed = await adapter.send(message)
        assert placed.outcome == Outcome.ACCEPTED and placed.provider_message_id.startswith("CA")
        assert (await adapter.send(Outbound(3, phone(0), ""))).outcome == Outcome.PERMANENT, "nothing to say"
    finally:
        await adapter.aclose()
        await system.callbacks_settled()


async def test_a_transient_failure_is_retried_and_a_rejection_is_final(system: System) -> None:
    await _people(system, 3)
    alert_id = await _draft(system)
    with system.runtime.sessions.begin() as session:
        dispatch.request_send(session, alert_id, actor="test")
    enqueuer = RecordingEnqueuer()
    dispatch.dispatch_alert(system.runtime.sessions, enqueuer, alert_id, chunk_size=100, batch_size=100)
    batch, = enqueuer.batches
    system.sandbox.configure({"accounts": {SANDBOX_ACCOUNT_SID: {"fail_status": 503}}})
    args = (system.runtime.sessions, system.runtime.sender, system.runtime.send_options, alert_id, "voice", batch)
    with pytest.raises(sending.RetryLater):
        await asyncio.to_thread(sending.send_batch, *args)
    assert _statuses(system, alert_id) == {("pending", 1, "20500"): 3}
    system.sandbox.configure({"accounts": {SANDBOX_ACCOUNT_SID: None}})
    assert (await asyncio.to_thread(sending.send_batch, *args))["accepted"] == 3
    await system.callbacks_settled()
    assert [len(await _inbox(system, phone(n))) for n in range(3)] == [1, 1, 1]

    second = await _draft(system, title="Flood update")
    system.sandbox.configure({"accounts": {SANDBOX_ACCOUNT_SID: {"fail_status": 400}}})
    await system.call("POST", f"/api/v1/alerts/{second}/send", expect=202)
    await system.drain()
    with system.runtime.sessions() as session:
        rows = session.scalars(select(Delivery).where(Delivery.alert_id == second)).all()
    assert {(d.status, d.tries, d.error_code) for d in rows} == {("failed", 1, "20001")}, "a 400 is not retried"


async def test_a_false_alarm_call_says_it_twice_and_asks_for_no_key(system: System) -> None:
    await _people(system, 1)
    original = await _send(system)
    await system.call("POST", f"/api/v1/alerts/{original}/follow-ups", expect=201,
                      json={"kind": "false_alarm", "send": True})
    await system.drain()
    calls = await _inbox(system, phone(0))
    assert len(calls) == 2
    false_alarm = calls[-1]
    assert "FALSE ALARM" in false_alarm["spoken"][0] and PROMPT not in false_alarm["spoken"]
    assert [v["verb"] for v in false_alarm["script"]] == ["say", "hangup"], "no Gather: nobody is asked a key"
