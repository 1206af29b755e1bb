"""Redundant providers and rate limits, against the sandbox over real HTTP."""
from __future__ import annotations

import asyncio
import os
import sys
from collections import Counter
from typing import ClassVar

import pytest
from sqlalchemy import select

from alerting.models import Delivery
from channels.base import Outbound, Outcome, Receipt
from channels.failover import Breaker, Failover
from ops.settings import SANDBOX_ACCOUNT_SID
from tests.conftest import System
from tests.helpers import people_csv

SECONDARY_SID = "AC" + "8" * 32


async def _alert_to(system: System, count: int) -> int:
    await system.call("POST", "/api/v1/groups", json={"name": "Everyone"}, expect=201)
    await system.call("POST", "/api/v1/recipients/import", data=people_csv(count), expect=200)
    alert = await system.call("POST", "/api/v1/alerts", expect=201, json={
        "title": "Water main break", "message": "Boil water before drinking.", "channels": ["sms"],
        "target": {"groups": ["Everyone"]}})
    await system.call("POST", f"/api/v1/alerts/{alert['id']}/send", expect=202)
    return alert["id"]


@pytest.mark.settings(twilio_secondary_account_sid=SECONDARY_SID, twilio_secondary_auth_token="secondary-token",
                      twilio_secondary_api_base="{base}/sandbox/twilio", twilio_secondary_from="+15005550007",
                      batch_size=20, send_concurrency=10)
async def test_primary_down_every_sms_arrives_through_the_secondary_once(system: System) -> None:
    system.sandbox.configure({"accounts": {SANDBOX_ACCOUNT_SID: {"fail_status": 503}}})
    alert_id = await _alert_to(system, 200)
    await system.drain()
    messages = [m for m in await system.call("GET", "/sandbox/messages") if m["channel"] == "sms"]
    assert len(messages) == 200 and len({m["to"] for m in messages}) == 200, "every person once"
    assert {m["account_sid"] for m in messages} == {SECONDARY_SID}
    assert {m["from"] for m in messages} == {"+15005550007"}
    with system.runtime.sessions() as session:
        rows = session.scalars(select(Delivery).where(Delivery.alert_id == alert_id)).all()
    assert {(d.status, d.provider, d.tries) for d in rows} == {("delivered", "twilio-secondary", 1)}
    notes = Counter((d.route_note or "").split(":")[0] for d in rows)
    # Messages already in flight when the breaker opens still try the primary first.
    assert notes["twilio failed"] >= 5, f"the first messages say why they moved: {notes}"
    assert notes["twilio skipped"] > 100, f"then the open circuit skips the primary without trying it: {notes}"
    # Status callbacks from the secondary account are signed with its own token and accepted.
    summary = await system.call("GET", f"/api/v1/alerts/{alert_id}")
    assert summary["deliveries"]["sms"]["delivered"] == 200


@pytest.mark.settings(twilio_rate_limit=40.0)
async def test_a_rate_limit_holds_across_four_workers(system: System) -> None:
    # No status callbacks: the sandbox shares this test's event loop with Tocsin's webhooks, and
    # callback traffic would delay (and bunch) the moment it records each arrival. For the same
    # reason Tocsin is held to 40/s against the provider's 50: on a loaded CI machine a stall of
    # this process once bunched 1.4 s of arrivals into one second (and 10 answers were 429).
    system.sandbox.configure({"callbacks": False, "accounts": {SANDBOX_ACCOUNT_SID: {"rate_limit_per_s": 50}}})
    alert_id = await _alert_to(system, 300)
    env = {**os.environ, **system.runtime.settings.to_env()}
    workers = [await asyncio.create_subprocess_exec(sys.executable, "-m", "ops.cli", "worker", "--burst", env=env,
                                                    stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
               for _ in range(4)]
    results = await asyncio.gather(*(w.communicate() for w in workers))
    assert all(w.returncode == 0 for w in workers), [err.decode()[-2000:] for _, err in results]
    times = sorted(m["at"] for m in await system.call("GET", "/sandbox/messages") if m["channel"] == "sms")
    with system.runtime.sessions() as session:
        rows = session.scalars(select(Delivery).where(Delivery.alert_id == alert_id)).all()
    # The sandbox meters each clock second, as providers do, and answers 429 beyond 50: none came.
    assert {(d.status, d.tries) for d in rows} == {("queued", 1)}, "every message accepted on its first try"
    assert len(times) == 300
    per_second = Counter(int(t) for t in times)
    assert max(per_second.values()) <= 50, per_second
    assert times[-1] - times[0] >= 299 / 40, "and the limit was actually what spaced them"


class Scripted:
    """A plain adapter for breaker logic tests: answers with the outcomes it is given."""
    channel: ClassVar[str] = "sms"

    def __init__(self, provider: str, outcomes: list[Outcome]):
        self.provider, self.outcomes, self.calls = provider, outcomes, 0

    async def send(self, message: Outbound) -> Receipt:
        outcome = self.outcomes[min(self.calls, len(self.outcomes) - 1)]
        self.calls += 1
        return Receipt(message.key, outcome, self.provider, error_code="503" if outcome == Outcome.TRANSIENT else None)

    async def aclose(self) -> None:
        pass


async def test_breaker_opens_then_recovers_gradually() -> None:
    now = [0.0]
    primary = Scripted("a", [Outcome.TRANSIENT] * 5 + [Outcome.ACCEPTED])
    secondary = Scripted("b", [Outcome.ACCEPTED])
    failover = Failover([primary, secondary], threshold=5, cooldown_s=30)
    for breaker in failover.breakers.values():
        breaker.clock = lambda: now[0]
    for i in range(5):
        assert (await failover.send(Outbound(i, "+1", "x"))).provider == "b"
    assert failover.breakers["a"].state == "open" and primary.calls == 5
    for i in range(10):
        await failover.send(Outbound(i, "+1", "x"))
    assert primary.calls == 5, "an open circuit takes no traffic"
    now[0] = 31.0
    assert failover.breakers["a"].state == "half-open" and failover.breakers["a"].share() == 0.25
    results = Counter([(await failover.send(Outbound(i, "+1", "x"))).provider for i in range(200)])
    assert failover.breakers["a"].state == "closed" and results["a"] > 100, "it earns its traffic back"


async def test_permanent_failures_do_not_fail_over() -> None:
    primary, secondary = Scripted("a", [Outcome.PERMANENT]), Scripted("b", [Outcome.ACCEPTED])
    receipt = await Failover([primary, secondary]).send(Outbound(1, "+1", "x"))
    assert receipt.outcome == Outcome.PERMANENT and secondary.calls == 0


def test_breaker_half_open_failure_reopens() -> None:
    now = [0.0]
    breaker = Breaker(threshold=2, cooldown_s=10, clock=lambda: now[0])
    breaker.failure(), breaker.failure()
    now[0] = 11
    assert breaker.state == "half-open"
    breaker.failure()
    assert breaker.state == "open"
