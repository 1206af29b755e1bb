"""Issue acceptance, at the issue's size: 500 people, 60% answer SAFE, the rest are called, some
press 1 or 2, the remainder get a second escalation, supervisors get exactly the still-silent names;
Redis loses everything (and the workers restart) in the middle, and nothing changes in the outcome."""
from __future__ import annotations

from redis import Redis

from tests.conftest import System
from tests.helpers import phone
from tests.test_escalation import SUPERVISORS, _inbox, _people, _press, _reconcile, _release, _reply, _scheduled, _send

N = 500
SAFE_BY_SMS = range(0, 300)        # 60% answer the SMS before the first step
PRESS_SAFE = range(300, 420)       # called by the first step, press 1
PRESS_HELP = range(420, 480)       # called by the first step, press 2
SILENT = range(480, 500)           # never answer: called, then reached again, then named to supervisors


async def test_five_hundred_people_two_escalations_and_a_redis_loss(system: System) -> None:
    await _people(system, N)
    await system.call("POST", "/api/v1/policies", expect=201, json={
        "name": "building", "steps": [{"after_s": 1, "channels": ["voice"]}, {"after_s": 2, "channels": ["voice", "sms"]}],
        "final": {"after_s": 3, "notify": list(SUPERVISORS), "channels": ["sms"]}})
    alert_id = await _send(system, "building")
    for n in SAFE_BY_SMS:
        await _reply(system, n, "SAFE")
    await _release(system, alert_id, 0)
    called = [n for n in range(N) if await _inbox(system, phone(n), "voice")]
    assert called == list(range(300, N)), "the first escalation calls exactly the silent"
    for n in PRESS_SAFE:
        await _press(system, n, "1")
    for n in PRESS_HELP:
        await _press(system, n, "2")

    # Redis loses everything, workers start afresh: the start-up reconciler schedules what remains.
    Redis.from_url(system.runtime.settings.redis_url).flushall()
    assert _scheduled(system) == {}
    assert _reconcile(system) == 2 and _reconcile(system) == 0, "each remaining run scheduled once"
    assert set(_scheduled(system)) == {f"escalate-{alert_id}-1-0", f"escalate-{alert_id}-2-0"}

    await _release(system, alert_id, 1)
    for n in range(N):
        calls, texts = await _inbox(system, phone(n), "voice"), await _inbox(system, phone(n), "sms")
        expected_calls = 0 if n in SAFE_BY_SMS else (2 if n in SILENT else 1)
        expected_texts = 2 if n in SILENT else 1
        assert (len(calls), len(texts)) == (expected_calls, expected_texts), n
    await _release(system, alert_id, 2)
    for i in range(len(SUPERVISORS)):
        (text,) = await _inbox(system, phone(9000 + i), "sms")
        named = {n for n in range(N) if f"Person {n} (P{n:05d})" in text["body"]}
        assert named == set(SILENT), "supervisors get exactly the still-silent names"

    summary = await system.call("GET", f"/api/v1/alerts/{alert_id}")
    assert summary["responses"] == {"safe": 420, "need_help": 60, "acknowledged": 0, "no_response": 20}
    assert sum(summary["deliveries"]["voice"].values()) == 200 + 20
    assert sum(summary["deliveries"]["sms"].values()) == N + 20


async def test_alerts_follow_the_default_policy_unless_they_say_otherwise(system: System) -> None:
    from escalation.policies import ensure_default_policy
    with system.runtime.sessions.begin() as session:
        assert ensure_default_policy(session, system.runtime.available_channels) is True
        assert ensure_default_policy(session, system.runtime.available_channels) is False, "created once"
    default = {p["name"]: p for p in await system.call("GET", "/api/v1/policies")}["default"]
    assert default["steps"] == [{"after_s": 300, "channels": ["voice"]}, {"after_s": 600, "channels": ["voice", "sms"]}]
    await _people(system, 2)
    base = {"title": "T", "message": "M", "channels": ["sms"], "target": {"groups": ["Everyone"]}}
    assert (await system.call("POST", "/api/v1/alerts", json=base, expect=201))["policy"] == "default"
    assert (await system.call("POST", "/api/v1/alerts", json={**base, "policy": None}, expect=201))["policy"] is None
    with system.runtime.sessions.begin() as session:  # an installation without voice: SMS only
        from alerting.models import EscalationPolicy
        session.query(EscalationPolicy).delete()
        ensure_default_policy(session, ["sms", "email"])
    default = {p["name"]: p for p in await system.call("GET", "/api/v1/policies")}["default"]
    assert default["steps"] == [{"after_s": 600, "channels": ["sms"]}]
