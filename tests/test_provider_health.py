"""Delivery latency per provider, and steering away from a provider whose messages arrive late."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from alerting.models import Delivery, utcnow
from alerting.provider_health import lagging_providers, provider_health
from ops.settings import SANDBOX_ACCOUNT_SID
from tests.conftest import System
from tests.helpers import people_csv

SECONDARY_SID = "AC" + "8" * 32


def _deliver_late(system: System, alert_id: int, minutes: int, limit: int | None = None) -> None:
    """Pretend the carrier took `minutes` to deliver (some of) an alert's messages."""
    with system.runtime.sessions.begin() as session:
        rows = session.scalars(select(Delivery).where(Delivery.alert_id == alert_id).order_by(Delivery.id).limit(limit))
        for row in rows:
            row.delivered_at = row.queued_at + timedelta(minutes=minutes)


async def _send(system: System, count: int) -> int:
    if not await system.call("GET", "/api/v1/groups"):
        await system.call("POST", "/api/v1/groups", json={"name": "Everyone"}, expect=201)
        await system.call("POST", "/api/v1/recipients/import", data=people_csv(count), expect=200)
    alert = await system.call("POST", "/api/v1/alerts", expect=201, json={
        "title": "Heat advisory", "message": "Stay indoors.", "channels": ["sms"], "target": {"groups": ["Everyone"]}})
    await system.call("POST", f"/api/v1/alerts/{alert['id']}/send", expect=202)
    await system.drain()
    return alert["id"]


async def test_health_reports_latency_and_flags_a_lagging_provider(system: System) -> None:
    alert_id = await _send(system, 40)
    report = await system.call("GET", "/api/v1/providers/health", expect=200)
    (row,) = report["providers"]
    assert (row["channel"], row["provider"], row["messages"], row["delivered"]) == ("sms", "twilio", 40, 40)
    assert row["lagging"] is False and row["delivery_seconds_p50"] < 60
    # The carrier took 10 minutes for a quarter of them: more than 15% late is lagging.
    _deliver_late(system, alert_id, 10, limit=10)
    with system.runtime.sessions() as session:
        (row,) = provider_health(session)
        assert row["late_share"] == 0.25 and row["lagging"] is True
        assert lagging_providers(session, "sms") == {"twilio"}
    await system.call("GET", "/api/v1/providers/health?minutes=0", expect=422)


async def test_messages_never_delivered_count_as_late(system: System) -> None:
    alert_id = await _send(system, 30)
    with system.runtime.sessions.begin() as session:
        session.execute(update(Delivery).where(Delivery.alert_id == alert_id).values(
            status="sent", delivered_at=None, queued_at=utcnow() - timedelta(minutes=7)))
    with system.runtime.sessions() as session:
        assert lagging_providers(session, "sms") == {"twilio"}


@__import__("pytest").mark.settings(twilio_secondary_account_sid=SECONDARY_SID, twilio_secondary_auth_token="s2",
                                    twilio_secondary_api_base="{base}/sandbox/twilio", twilio_secondary_from="+15005550007")
async def test_workers_send_through_the_other_provider_when_one_lags(system: System) -> None:
    first = await _send(system, 30)
    _deliver_late(system, first, 20)  # the primary's messages all took 20 minutes
    system.runtime.sender._health_read_at.clear()  # re-read health now rather than in 30 s
    second = await _send(system, 30)
    with system.runtime.sessions() as session:
        rows = session.execute(Delivery.__table__.select().where(Delivery.alert_id == second)).all()
    assert {r.provider for r in rows} == {"twilio-secondary"}
    assert all("twilio skipped: deliveries lagging" in r.route_note for r in rows)
    messages = [m for m in system.sandbox.recent() if m.channel == "sms"][-30:]
    assert {m.account_sid for m in messages} == {SECONDARY_SID}
    assert SANDBOX_ACCOUNT_SID != SECONDARY_SID
