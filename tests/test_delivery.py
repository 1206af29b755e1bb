"""Delivery bookkeeping: streaming dispatch, idempotency, retries, permanent failures, callbacks."""
from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from alerting import deliveries, dispatch, sending
from alerting.models import Delivery, OptOut
from ops.settings import SANDBOX_ACCOUNT_SID
from tests.conftest import SANDBOX_TOKEN, System
from tests.helpers import people_csv, phone


class RecordingEnqueuer:
    def __init__(self) -> None:
        self.sends: list[tuple[str, list[list[int]]]] = []
        self.dispatches: list[int] = []

    def enqueue_dispatch(self, alert_id: int, *, urgent: bool) -> None:
        self.dispatches.append(alert_id)

    def enqueue_sends(self, alert_id, channel, batches, *, urgent) -> None:  # type: ignore[no-untyped-def]
        self.sends.append((channel, [list(b) for b in batches]))


async def _draft(system: System, count: int) -> int:
    await system.call("POST", "/api/v1/groups", json={"name": "Everyone"}, expect=201)
    await system.call("POST", "/api/v1/recipients/import", data=people_csv(count), expect=200)
    alert = await system.call("POST", "/api/v1/alerts", expect=201, json={
        "title": "Tornado warning", "message": "Take shelter now.", "channels": ["sms"],
        "target": {"groups": ["Everyone"]}})
    return alert["id"]


def _request_send(system: System, alert_id: int) -> None:
    with system.runtime.sessions.begin() as session:
        dispatch.request_send(session, alert_id, actor="test")


def _statuses(system: System, alert_id: int) -> dict[str, int]:
    with system.runtime.sessions() as session:
        return dict(session.execute(select(Delivery.status, func.count()).where(Delivery.alert_id == alert_id)
                                    .group_by(Delivery.status)).all())


async def test_dispatch_streams_in_chunks_and_a_rerun_doubles_nothing(system: System) -> None:
    alert_id = await _draft(system, 230)
    _request_send(system, alert_id)
    enqueuer = RecordingEnqueuer()
    total = dispatch.dispatch_alert(system.runtime.sessions, enqueuer, alert_id, chunk_size=100, batch_size=40)
    assert total == 230
    # Chunks are enqueued as soon as written, the first one batch long: sending starts before
    # resolution ends.
    assert [sum(len(b) for b in batches) for _, batches in enqueuer.sends] == [40, 100, 90]
    assert max(len(b) for _, batches in enqueuer.sends for b in batches) == 40
    rerun = RecordingEnqueuer()
    assert dispatch.dispatch_alert(system.runtime.sessions, rerun, alert_id, chunk_size=100, batch_size=40) == 230
    assert _statuses(system, alert_id) == {"pending": 230}, "a re-run writes no second delivery"
    # The re-run re-enqueues what is still pending; claiming makes sure each is sent once.
    first_ids = [i for _, batches in enqueuer.sends for b in batches for i in b]
    assert sorted(first_ids) == sorted(i for _, batches in rerun.sends for b in batches for i in b)
    await system.drain()
    for _, batches in enqueuer.sends + rerun.sends:
        for batch in batches:
            await asyncio.to_thread(sending.send_batch, system.runtime.sessions, system.runtime.sender,
                                    system.runtime.send_options, alert_id, "sms", batch)
    await system.callbacks_settled()
    assert (await system.call("GET", "/sandbox/stats"))["sms"]["count"] == 230
    assert _statuses(system, alert_id) == {"delivered": 230}


async def test_transient_provider_failure_is_retried_then_succeeds(system: System) -> None:
    alert_id = await _draft(system, 5)
    _request_send(system, alert_id)
    enqueuer = RecordingEnqueuer()
    dispatch.dispatch_alert(system.runtime.sessions, enqueuer, alert_id, chunk_size=100, batch_size=100)
    (_, [batch]), = enqueuer.sends
    system.sandbox.configure({"accounts": {SANDBOX_ACCOUNT_SID: {"fail_status": 503}}})
    args = (system.runtime.sessions, system.runtime.sender, system.runtime.send_options, alert_id, "sms", batch)
    with pytest.raises(sending.RetryLater):
        await asyncio.to_thread(sending.send_batch, *args)
    assert _statuses(system, alert_id) == {"pending": 5}
    with system.runtime.sessions() as session:
        assert {d.tries for d in session.scalars(select(Delivery))} == {1}
        assert {d.error_code for d in session.scalars(select(Delivery))} == {"20500"}
    system.sandbox.configure({"accounts": {SANDBOX_ACCOUNT_SID: None}})
    assert (await asyncio.to_thread(sending.send_batch, *args))["accepted"] == 5
    await system.callbacks_settled()
    assert _statuses(system, alert_id) == {"delivered": 5}
    assert (await system.call("GET", "/sandbox/stats"))["sms"]["count"] == 5


async def test_a_provider_down_for_good_ends_in_failed_not_lost(system: System) -> None:
    alert_id = await _draft(system, 3)
    system.sandbox.configure({"accounts": {SANDBOX_ACCOUNT_SID: {"fail_status": 500}}})
    await system.call("POST", f"/api/v1/alerts/{alert_id}/send", expect=202)
    await system.drain()
    summary = await system.call("GET", f"/api/v1/alerts/{alert_id}")
    assert summary["deliveries"]["sms"]["failed"] == 3 and summary["status"] == "sent"
    people = await system.call("GET", f"/api/v1/alerts/{alert_id}/recipients")
    assert {p["deliveries"]["sms"]["error"] for p in people["recipients"]} == {"20500"}
    with system.runtime.sessions() as session:
        messages = {d.error_message for d in session.scalars(select(Delivery))}
    assert all(m.startswith("gave up after 4 tries") for m in messages)


async def test_permanent_rejection_is_final_and_an_unsubscribed_number_is_suppressed(system: System) -> None:
    alert_id = await _draft(system, 2)
    system.sandbox.configure({"accounts": {SANDBOX_ACCOUNT_SID: {"fail_status": 400}}})
    await system.call("POST", f"/api/v1/alerts/{alert_id}/send", expect=202)
    await system.drain()
    with system.runtime.sessions() as session:
        rows = session.scalars(select(Delivery)).all()
    assert {(d.status, d.tries) for d in rows} == {("failed", 1)}, "a 400 is not retried"
    # Twilio's 21610 (the person texted STOP to the carrier) suppresses the number for later alerts.
    receipts = [sending.Receipt(rows[0].id, sending.Outcome.PERMANENT, "twilio", error_code="21610")]
    with system.runtime.sessions.begin() as session:
        sending.record_receipts(session, "sms", receipts, {rows[0].id: 1}, {rows[0].id: phone(0)}, 4)
    with system.runtime.sessions() as session:
        assert session.scalars(select(OptOut.address)).all() == [phone(0)]


async def test_callbacks_never_move_a_message_backwards(system: System) -> None:
    alert_id = await _draft(system, 1)
    await system.call("POST", f"/api/v1/alerts/{alert_id}/send", expect=202)
    await system.drain()
    with system.runtime.sessions() as session:
        delivery = session.scalars(select(Delivery)).one()
    url = f"{system.base_url}/hooks/twilio/status?d={delivery.id}"

    async def callback(status: str) -> int:
        params = {"MessageSid": delivery.provider_message_id, "MessageStatus": status, "AccountSid": SANDBOX_ACCOUNT_SID}
        signature = RequestValidator(SANDBOX_TOKEN).compute_signature(url, params)
        async with system.api.post(url, data=params, headers={"X-Twilio-Signature": signature}) as response:
            return response.status

    for late in ("sent", "queued", "delivered", "failed"):
        assert await callback(late) == 204
    assert _statuses(system, alert_id) == {"delivered": 1}
    with system.runtime.sessions.begin() as session:
        # Another message's sid cannot be replayed onto this delivery.
        assert not deliveries.apply_status(session, delivery.id, "SM" + "0" * 32, "undelivered")


async def test_a_callback_before_the_worker_records_the_send_wins(system: System) -> None:
    alert_id = await _draft(system, 1)
    _request_send(system, alert_id)
    enqueuer = RecordingEnqueuer()
    dispatch.dispatch_alert(system.runtime.sessions, enqueuer, alert_id, chunk_size=10, batch_size=10)
    (_, [[delivery_id]]), = enqueuer.sends
    with system.runtime.sessions.begin() as session:
        sending.claim(session, [delivery_id])
        assert deliveries.apply_status(session, delivery_id, "SMabc", "delivered")
    with system.runtime.sessions.begin() as session:
        receipt = sending.Receipt(delivery_id, sending.Outcome.ACCEPTED, "twilio", provider_message_id="SMabc")
        sending.record_receipts(session, "sms", [receipt], {delivery_id: 1}, {delivery_id: phone(0)}, 4)
    with system.runtime.sessions() as session:
        row = session.get(Delivery, delivery_id)
        assert (row.status, row.provider, row.provider_message_id) == ("delivered", "twilio", "SMabc")


async def test_a_batch_of_reports_in_any_order_ends_at_the_latest_state(system: System) -> None:
    alert_id = await _draft(system, 3)
    _request_send(system, alert_id)
    enqueuer = RecordingEnqueuer()
    dispatch.dispatch_alert(system.runtime.sessions, enqueuer, alert_id, chunk_size=10, batch_size=10)
    (_, [ids]), = enqueuer.sends
    a, b, c = ids
    reports = [deliveries.StatusReport(a, "SMa", "delivered"), deliveries.StatusReport(a, "SMa", "sent"),
               deliveries.StatusReport(a, "SMa", "queued"), deliveries.StatusReport(b, "SMb", "undelivered", "30003"),
               deliveries.StatusReport(b, None, "sent"), deliveries.StatusReport(c, "SMc", "no-such-status")]
    with system.runtime.sessions.begin() as session:
        assert deliveries.apply_statuses(session, reports) == 5  # a: queued, sent, delivered; b: sent, undelivered
    with system.runtime.sessions.begin() as session:
        assert deliveries.apply_status(session, b, None, "sent") is False
        rows = {d.id: d for d in session.scalars(select(Delivery))}
    assert (rows[a].status, rows[a].provider_message_id) == ("delivered", "SMa")
    assert (rows[b].status, rows[b].provider_message_id, rows[b].error_code) == ("undelivered", "SMb", "30003")
    assert rows[c].status == "pending"


async def test_unusable_addresses_are_suppressed_for_later_alerts(system: System) -> None:
    alert_id = await _draft(system, 3)
    await system.call("POST", f"/api/v1/alerts/{alert_id}/send", expect=202)
    await system.drain()
    with system.runtime.sessions() as session:
        rows = session.scalars(select(Delivery).order_by(Delivery.id)).all()
    receipts = [sending.Receipt(rows[0].id, sending.Outcome.PERMANENT, "twilio", error_code="21211"),
                sending.Receipt(rows[1].id, sending.Outcome.PERMANENT, "twilio", error_code="30003")]
    with system.runtime.sessions.begin() as session:
        sending.record_receipts(session, "sms", receipts, {rows[0].id: 1, rows[1].id: 1},
                                {rows[0].id: phone(0), rows[1].id: phone(1)}, 4)
    with system.runtime.sessions() as session:
        suppressed = session.execute(select(OptOut.address, OptOut.source)).all()
    assert suppressed == [(phone(0), "invalid-21211")], "an unknown code says nothing about the address"
    preview = await system.call("POST", "/api/v1/targets/preview", json={"groups": ["Everyone"]})
    assert preview["contacts"]["sms"] == 2


async def test_people_nothing_reached_are_unreachable(system: System) -> None:
    await system.call("POST", "/api/v1/groups", json={"name": "Everyone"}, expect=201)
    await system.call("POST", "/api/v1/recipients", expect=201, json=[
        {"external_id": "ok", "phone": phone(1), "groups": ["Everyone"]},
        {"external_id": "bad", "phone": phone(2), "groups": ["Everyone"]},
        {"external_id": "none", "name": "No contact", "groups": ["Everyone"]}])
    system.sandbox.configure({"accounts": {SANDBOX_ACCOUNT_SID: {"fail_status": 400}}})
    alert = await system.call("POST", "/api/v1/alerts", expect=201, json={
        "title": "T", "message": "M", "channels": ["sms"], "target": {"groups": ["Everyone"]}})
    await system.call("POST", f"/api/v1/alerts/{alert['id']}/send", expect=202)
    await system.drain()
    summary = await system.call("GET", f"/api/v1/alerts/{alert['id']}")
    assert summary["unreachable"] == 3 and summary["skipped"]["sms"] == 1
    states = {p["external_id"]: p["state"] for p in
              (await system.call("GET", f"/api/v1/alerts/{alert['id']}/recipients"))["recipients"]}
    assert states == {"ok": "unreachable", "bad": "unreachable", "none": "unreachable"}


def test_person_state_rule() -> None:
    from alerting.alerts import person_state
    delivered, failed, queued = {"status": "delivered"}, {"status": "failed"}, {"status": "queued"}
    assert person_state("safe", {"sms": failed}, True) == "safe"
    assert person_state(None, {"sms": failed, "voice": delivered}, True) == "delivered"
    assert person_state(None, {"sms": failed, "email": queued}, True) == "pending"
    assert person_state(None, {"sms": failed, "voice": {"status": "busy"}}, True) == "unreachable"
    assert person_state(None, {}, False) == "pending", "not yet resolved: not yet judged"
