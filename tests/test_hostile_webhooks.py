"""Webhooks as a storm delivers them: the same reply many times at once (a provider's retries racing
the original), and status callbacks duplicated and out of order. Every copy is answered 2xx, one
reply is recorded, and the message ends `delivered`."""
from __future__ import annotations

import asyncio
import random

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
