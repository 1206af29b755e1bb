"""Webhooks as a storm delivers them: the same reply many times at once (a provider's retries racing
the original), and status callbacks duplicated and out of order. Every copy is answered 2xx, one
reply is recorded, and the message ends `delivered`. And bodies Twilio never sends (too large, not a
form, not UTF-8) are refused; a repeated field counts in the signature as Twilio counts it."""
from __future__ import annotations

import asyncio
import random
from urllib.parse import urlencode

from multidict import MultiDict
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from alerting.models import Delivery, Response
from tests.conftest import SANDBOX_TOKEN, System
from tests.helpers import people_csv, phone


async def _sent_alert(system: System, people: int) -> int:
    await system.call("POST", "/sandbox/config", json={"callbacks": False}, expect=200)
    await system.call("POST", "/api/v1/groups", json={"name": "Everyone"}, expect=201)
    await system.call("POST", "/api/v1/recipients/import", data=people_csv(people), expect=200)
    alert = await system.call("POST", "/api/v1/alerts", expect=201, json={
        "title": "Storm", "message": "Stay inside.", "channels": ["sms"], "target": {"groups": ["Everyone"]},
        "policy": None})
    await system.call("POST", f"/api/v1/alerts/{alert['id']}/send", expect=202)
    await system.drain()
    return alert["id"]


async def _post(system: System, path: str, params: dict[str, str]) -> int:
    url = system.base_url + path
    signature = RequestValidator(SANDBOX_TOKEN).compute_signature(url, params)
    async with system.api.post(url, data=params, headers={"X-Twilio-Signature": signature}) as response:
        await response.read()
        return response.status


async def test_one_reply_delivered_many_times_at_once_is_recorded_once(system: System) -> None:
    alert_id = await _sent_alert(system, 1)
    params = {"MessageSid": "SM" + "7" * 32, "From": phone(0), "To": system.runtime.settings.twilio_senders[0],
              "Body": "SAFE", "AccountSid": system.runtime.settings.twilio_account_sid or ""}
    statuses = await asyncio.gather(*(_post(system, "/hooks/twilio/sms", params) for _ in range(20)))
    assert set(statuses) == {200}
    with system.runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Response).where(Response.alert_id == alert_id)) == 1
    summary = await system.call("GET", f"/api/v1/alerts/{alert_id}", expect=200)
    assert summary["responses"]["safe"] == 1


async def test_callbacks_duplicated_and_shuffled_end_delivered(system: System) -> None:
    alert_id = await _sent_alert(system, 20)
    with system.runtime.sessions() as session:
        rows = session.execute(select(Delivery.id, Delivery.provider_message_id)
                               .where(Delivery.alert_id == alert_id)).all()
    calls = [(f"/hooks/twilio/status?d={did}", {"MessageSid": sid, "MessageStatus": status})
             for did, sid in rows for status in ("queued", "sent", "delivered") for _ in range(3)]
    random.Random(9).shuffle(calls)
    statuses = await asyncio.gather(*(_post(system, path, params) for path, params in calls))
    assert set(statuses) == {204}
    summary = await system.call("GET", f"/api/v1/alerts/{alert_id}", expect=200)
    assert summary["deliveries"]["sms"]["delivered"] == 20


async def test_callback_writes_ride_out_a_database_restart(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The group committer retries while the database is unreachable, and only then."""
    from concurrent.futures import ThreadPoolExecutor
    from contextlib import contextmanager

    import pytest
    from sqlalchemy.exc import IntegrityError, OperationalError

    from console.group_commit import GroupCommitter

    class Sessions:
        @contextmanager
        def begin(self):  # type: ignore[no-untyped-def]
            yield None

    failures = [OperationalError("INSERT", {}, Exception("the database system is starting up"))] * 2
    written: list[list[int]] = []

    def write(_session, items: list[int]) -> None:  # type: ignore[no-untyped-def]
        if failures:
            raise failures.pop()
        written.append(items)

    monkeypatch.setattr(GroupCommitter, "RETRY_WAITS_S", (0, 0, 0))
    with ThreadPoolExecutor(1) as executor:
        committer = GroupCommitter(Sessions(), executor, write)  # type: ignore[arg-type]
        committer.start()
        await committer.submit(1)
        assert written == [[1]]
        failures[:] = [IntegrityError("INSERT", {}, Exception("duplicate key"))]
        with pytest.raises(IntegrityError):
            await committer.submit(2)  # a real error is not retried
        await committer.stop()


async def _raw_post(system: System, path: str, body: bytes | object, signature: str,
                    content_type: str | None = "application/x-www-form-urlencoded") -> int:
    headers = {"X-Twilio-Signature": signature}
    if content_type is not None:
        headers["Content-Type"] = content_type
    async with system.api.post(system.base_url + path, data=body, headers=headers) as response:
        await response.read()
        return response.status


async def test_a_webhook_form_is_small_utf8_and_urlencoded(system: System) -> None:
    """Bodies no Twilio webhook has are refused before their fields are used, signed or not."""
    path = "/hooks/twilio/status?d=1"
    url = system.base_url + path
    big = {"MessageSid": "SM" + "1" * 32, "Body": "x" * 70_000}
    signature = RequestValidator(SANDBOX_TOKEN).compute_signature(url, big)
    assert await _raw_post(system, path, urlencode(big).encode(), signature) == 413

    async def chunks():  # no Content-Length: the cap holds while reading
        for _ in range(20):
            yield b"Body=" + b"x" * 5000 + b"&"
    assert await _raw_post(system, path, chunks(), signature) == 413
    assert await _raw_post(system, path, b'{"MessageStatus": "delivered"}', signature, "application/json") == 415
    assert await _raw_post(system, path, b"Body=\xff\xfe", signature) == 400
    assert await _raw_post(system, path, "&".join(["a=1"] * 300).encode(), signature) == 400
    # An empty body signed over the URL alone is a (useless) form: accepted, whatever its type.
    assert await _raw_post(system, path, b"", RequestValidator(SANDBOX_TOKEN).compute_signature(url, {}),
                           None) == 204


async def test_a_repeated_field_is_signed_with_all_its_values_and_read_as_its_first(system: System) -> None:
    alert_id = await _sent_alert(system, 1)
    with system.runtime.sessions() as session:
        did, sid = session.execute(select(Delivery.id, Delivery.provider_message_id)
                                   .where(Delivery.alert_id == alert_id)).one()
    path = f"/hooks/twilio/status?d={did}"
    url = system.base_url + path
    fields = [("MessageSid", sid), ("MessageStatus", "delivered"), ("MessageStatus", "failed")]
    body = urlencode(fields).encode()
    last_only = RequestValidator(SANDBOX_TOKEN).compute_signature(url, dict(fields))
    assert await _raw_post(system, path, body, last_only) == 403
    assert await _raw_post(system, path, body, RequestValidator(SANDBOX_TOKEN).compute_signature(
        url, MultiDict(fields))) == 204
    summary = await system.call("GET", f"/api/v1/alerts/{alert_id}", expect=200)
    assert summary["deliveries"]["sms"]["delivered"] == 1


async def test_a_signature_over_the_url_with_or_without_its_port_is_accepted(system: System) -> None:
    path = "/hooks/twilio/status?d=1"
    params = {"MessageSid": "SM" + "2" * 32, "MessageStatus": "sent"}
    base = system.base_url  # http://127.0.0.1:<port>
    without_port = base.rsplit(":", 1)[0]
    for url, expected in ((base + path, 204), (without_port + path, 204), (without_port + ":1" + path, 403)):
        signature = RequestValidator(SANDBOX_TOKEN).compute_signature(url, params)
        assert await _raw_post(system, path, urlencode(params).encode(), signature) == expected, url
