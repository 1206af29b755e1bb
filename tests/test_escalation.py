"""Issue acceptance for escalation and accountability: an alert with a policy re-sends to the silent,
tells supervisors who is unaccounted for, and reports who is safe. Real app, sandbox, Redis and RQ;
scheduled runs are moved to their queue by `_release` once due (a burst worker runs no scheduler)."""
from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import datetime, timezone
from typing import Any

import pytest
from rq.job import Job, JobStatus
from rq.registry import ScheduledJobRegistry
from rq.serializers import JSONSerializer
from sqlalchemy import func, select

from alerting.models import Alert, AuditEntry, Delivery, EscalationStep, Recipient, RecipientLocation, Response
from escalation import engine
from ops import jobs, reconcile
from ops.jobs import RQStepScheduler
from ops.queues import QUEUE_NAMES, queue
from tests.conftest import System, make_token
from tests.helpers import people_csv, phone

N = 100
SAFE_BY_SMS = 60                 # reply SAFE to the SMS before the first step
PRESS_SAFE = range(60, 75)       # called by the first step, press 1
PRESS_HELP = range(75, 83)       # called by the first step, press 2; everyone after stays silent
MESSAGE = "Fire in Building 12. Leave now and reply SAFE or HELP."
SUPERVISORS = ("SUP1", "SUP2")


async def _people(system: System, count: int = N) -> None:
    await system.call("POST", "/api/v1/groups", json={"name": "Everyone"}, expect=201)
    await system.call("POST", "/api/v1/recipients/import", data=people_csv(count), expect=200)
    await system.call("POST", "/api/v1/recipients", expect=201, json=[
        {"external_id": s, "name": f"Supervisor {i}", "phone": phone(9000 + i), "email": f"sup{i}@example.org"}
        for i, s in enumerate(SUPERVISORS)])


async def _policy(system: System, name: str = "campus", **body: Any) -> dict[str, Any]:
    payload = {"name": name, "steps": [{"after_s": 1, "channels": ["voice"]}],
               "final": {"after_s": 2, "notify": list(SUPERVISORS), "channels": ["sms"]}, **body}
    return await system.call("POST", "/api/v1/policies", json=payload, expect=201)


async def _send(system: System, policy: str | None = "campus", channels: tuple[str, ...] = ("sms",)) -> int:
    alert = await system.call("POST", "/api/v1/alerts", expect=201, json={
        "title": "Fire", "message": MESSAGE, "channels": list(channels), "target": {"groups": ["Everyone"]},
        **({"policy": policy} if policy else {})})
    assert alert["policy"] == policy
    await system.call("POST", f"/api/v1/alerts/{alert['id']}/send", expect=202)
    await system.drain()
    return alert["id"]


def _scheduled(system: System) -> dict[str, datetime]:
    """Every scheduled job id with its due time, across the queues."""
    found = {}
    for name in QUEUE_NAMES:
        registry = ScheduledJobRegistry(queue=queue(system.runtime.redis, name))
        for job_id in registry.get_job_ids():
            if not job_id.startswith("sweep-"):  # the periodic sweep (ops/sweep.py), always armed
                found[job_id] = registry.get_scheduled_time(job_id)
    return found


async def _release(system: System, alert_id: int, step: int, round: int = 0) -> None:
    """Wait until the run's job is due, move it to its queue (what the worker's scheduler does), drain."""
    job_id = engine.step_job_id(alert_id, step, round)
    for name in QUEUE_NAMES:
        q = queue(system.runtime.redis, name)
        registry = ScheduledJobRegistry(queue=q)
        if job_id in registry.get_job_ids():
            break
    else:
        raise AssertionError(f"{job_id} is not scheduled")
    wait = (registry.get_scheduled_time(job_id) - datetime.now(timezone.utc)).total_seconds()
    await asyncio.sleep(max(0.0, wait))
    q.enqueue_job(Job.fetch(job_id, connection=system.runtime.redis, serializer=JSONSerializer))
    registry.remove(job_id)
    await system.drain()


async def _inbox(system: System, number: str, channel: str) -> list[dict[str, Any]]:
    return [m for m in await system.call("GET", "/sandbox/messages", params={"to": number}) if m["channel"] == channel]


async def _reply(system: System, n: int, body: str) -> None:
    await system.call("POST", "/sandbox/sms/reply", json={"from": phone(n), "body": body}, expect=200)


async def _press(system: System, n: int, digits: str) -> None:
    await system.call("POST", "/sandbox/voice/press", json={"to": phone(n), "digits": digits}, expect=200)


def _deliveries(system: System, alert_id: int) -> list[tuple[int, str, int]]:
    with system.runtime.sessions() as session:
        return sorted(session.execute(select(Delivery.recipient_id, Delivery.channel, Delivery.attempt)
                                      .where(Delivery.alert_id == alert_id)))


def _reconcile(system: System) -> int:
    return engine.reconcile(system.runtime.sessions, RQStepScheduler(system.runtime.redis))


def _send_requested_at(system: System, alert_id: int) -> datetime:
    with system.runtime.sessions() as session:
        return session.get(Alert, alert_id).send_requested_at.replace(tzinfo=timezone.utc)


async def test_the_silent_are_called_then_supervisors_told_exactly_who_is_missing(system: System) -> None:
    await _people(system)
    await _policy(system)
    alert_id = await _send(system)
    started = _send_requested_at(system, alert_id)
    due = _scheduled(system)
    assert set(due) == {f"escalate-{alert_id}-0-0", f"escalate-{alert_id}-1-0"}
    # RQ keeps due times in whole seconds: each run is due within a second before its wait ends.
    assert -1.0 <= (due[f"escalate-{alert_id}-0-0"] - started).total_seconds() - 1 <= 0
    assert -1.0 <= (due[f"escalate-{alert_id}-1-0"] - started).total_seconds() - 2 <= 0

    for n in range(SAFE_BY_SMS):  # 60% answer the SMS before the first step
        await _reply(system, n, "SAFE")
    await _release(system, alert_id, 0)

    called = [n for n in range(N) if await _inbox(system, phone(n), "voice")]
    assert called == list(range(SAFE_BY_SMS, N)), "step 1 calls exactly the people still silent"
    assert all([len(await _inbox(system, phone(n), "voice")) == 1 for n in called])
    assert all([len(await _inbox(system, phone(n), "sms")) == 1 for n in range(N)]), "no SMS is re-sent"
    for n in PRESS_SAFE:
        await _press(system, n, "1")
    for n in PRESS_HELP:
        await _press(system, n, "2")
    assert not any([await _inbox(system, phone(9000 + i), "sms") for i in range(2)]), "supervisors wait"

    await _release(system, alert_id, 1)
    silent = set(range(PRESS_HELP.stop, N))
    assert 0 < len(silent) <= engine.MAX_NAMED
    for i in range(len(SUPERVISORS)):
        texts = await _inbox(system, phone(9000 + i), "sms")
        assert len(texts) == 1, "each supervisor is told once"
        body = texts[0]["body"]
        assert f"{len(silent)} people have not responded" in body
        assert {n for n in range(N) if f"Person {n} (P{n:05d})" in body} == silent, "exactly the silent are named"
        assert f"/api/v1/alerts/{alert_id}/report" in body

    summary = await system.call("GET", f"/api/v1/alerts/{alert_id}", expect=200)
    assert summary["recipients"] == N, "supervisors are not counted in the alert"
    assert summary["responses"] == {"safe": SAFE_BY_SMS + len(PRESS_SAFE), "need_help": len(PRESS_HELP),
                                    "acknowledged": 0, "no_response": len(silent)}
    called_count = N - SAFE_BY_SMS
    assert sum(summary["deliveries"]["sms"].values()) == N
    assert sum(summary["deliveries"]["voice"].values()) == called_count
    with system.runtime.sessions() as session:
        steps = session.execute(select(EscalationStep.step_index, EscalationStep.round, EscalationStep.people)
                                .where(EscalationStep.alert_id == alert_id).order_by(EscalationStep.id)).all()
        notice = session.scalar(select(EscalationStep.notice_alert_id).where(EscalationStep.step_index == 1))
        notice_alert = session.get(Alert, notice)
        assert notice_alert.incident_id == session.get(Alert, alert_id).incident_id
    assert [tuple(s) for s in steps] == [(0, 0, called_count), (1, 0, len(silent))]
    assert notice_alert.target == {"recipients": list(SUPERVISORS)}

    # A run done twice (a duplicate job after Redis loss) changes nothing the second time.
    before = _deliveries(system, alert_id)
    assert (await asyncio.to_thread(jobs.escalate, alert_id, 0, 0))["ran"] is False
    assert (await asyncio.to_thread(jobs.escalate, alert_id, 1, 0))["ran"] is False
    await system.drain()
    assert _deliveries(system, alert_id) == before
    assert all([len(await _inbox(system, phone(n), "voice")) == (1 if n >= SAFE_BY_SMS else 0) for n in range(N)])
    assert all([len(await _inbox(system, phone(9000 + i), "sms")) == 1 for i in range(2)])
    # Voice was not one of the alert's channels, so the calls are everyone's first voice attempt.
    assert {(c, a) for _, c, a in before} == {("sms", 1), ("voice", 1)}


async def test_a_second_round_on_the_same_channel_is_a_new_attempt(system: System) -> None:
    await _people(system, 4)
    await system.call("POST", "/api/v1/policies", expect=201, json={
        "name": "twice", "steps": [{"after_s": 0, "channels": ["sms"], "repeat": 2, "every_s": 1}]})
    alert_id = await _send(system, "twice")
    await _reply(system, 0, "SAFE")
    await _release(system, alert_id, 0, 0)
    await _reply(system, 1, "HELP")
    await _release(system, alert_id, 0, 1)
    assert [len(await _inbox(system, phone(n), "sms")) for n in range(4)] == [1, 2 + 1, 3, 3]  # +1: HELP's answer
    with system.runtime.sessions() as session:
        attempts = session.execute(select(Delivery.recipient_id, func.max(Delivery.attempt))
                                   .where(Delivery.alert_id == alert_id).group_by(Delivery.recipient_id)
                                   .order_by(Delivery.recipient_id)).all()
    assert [a for _, a in attempts] == [1, 2, 3, 3]


async def test_a_cancelled_alert_sends_nothing_more_and_says_all_clear(system: System) -> None:
    await _people(system, 6)
    await _policy(system)
    alert_id = await _send(system)
    answer = await system.call("POST", f"/api/v1/alerts/{alert_id}/cancel", expect=200,
                               json={"message": "All clear: the fire is out."})
    assert answer["status"] == "cancelled" and answer["all_clear_alert_id"]
    await system.drain()
    await _release(system, alert_id, 0)  # the step's job still runs...
    await _release(system, alert_id, 1)
    for n in range(6):  # ...and does nothing
        assert await _inbox(system, phone(n), "voice") == []
        texts = await _inbox(system, phone(n), "sms")
        assert [("All clear" in t["body"]) for t in texts] == [False, True], "the alert, then the all-clear"
    assert not any([await _inbox(system, phone(9000 + i), "sms") for i in range(2)])
    with system.runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(EscalationStep)) == 0
        follow_up = session.get(Alert, answer["all_clear_alert_id"])
        assert (follow_up.incident_id, follow_up.channels, follow_up.policy) == (
            session.get(Alert, alert_id).incident_id, ["sms"], None)
    assert await asyncio.to_thread(_reconcile, system) == 0
    again = await system.call("POST", f"/api/v1/alerts/{alert_id}/cancel", expect=200)
    assert again["all_clear_alert_id"] is None, "cancelling twice sends nothing twice"


async def test_reconcile_schedules_each_run_not_yet_done_once(system: System) -> None:
    await _people(system, 3)
    await system.call("POST", "/api/v1/policies", expect=201, json={
        "name": "loop", "steps": [{"after_s": 0, "channels": ["voice"], "repeat": 2, "every_s": 1}],
        "final": {"after_s": 60, "notify": ["SUP1"], "channels": ["email"]}})
    alert_id = await _send(system, "loop")
    expected = {f"escalate-{alert_id}-0-0", f"escalate-{alert_id}-0-1", f"escalate-{alert_id}-1-0"}
    assert set(_scheduled(system)) == expected
    scheduler = RQStepScheduler(system.runtime.redis)
    assert engine.reconcile(system.runtime.sessions, scheduler) == 0, "already scheduled: refused"

    await _release(system, alert_id, 0, 0)
    started = _send_requested_at(system, alert_id)
    await asyncio.sleep(max(0.0, (started - datetime.now(timezone.utc)).total_seconds() + 1.2))  # round 1 past due
    system.runtime.redis.flushall()  # Redis lost everything
    reconcile.reconcile(system.runtime)
    due = _scheduled(system)
    assert set(due) == expected - {f"escalate-{alert_id}-0-0"}, "a run already done is not scheduled again"
    assert (due[f"escalate-{alert_id}-0-1"] - datetime.now(timezone.utc)).total_seconds() <= 0, "past due: now"
    assert (due[f"escalate-{alert_id}-1-0"] - started).total_seconds() > 58
    assert engine.reconcile(system.runtime.sessions, scheduler) == 0
    await _release(system, alert_id, 0, 1)
    assert [len(await _inbox(system, phone(n), "voice")) for n in range(3)] == [2, 2, 2]

    # A job that ended without recording its run (it failed for good) is replaced, not left blocking it.
    final = f"escalate-{alert_id}-1-0"
    Job.fetch(final, connection=system.runtime.redis, serializer=JSONSerializer).set_status(JobStatus.FAILED)
    assert engine.reconcile(system.runtime.sessions, scheduler) == 1
    assert Job.fetch(final, connection=system.runtime.redis, serializer=JSONSerializer).get_status() == "scheduled"
    assert set(_scheduled(system)) == {final}


async def test_an_alert_without_a_policy_never_escalates(system: System) -> None:
    await _people(system, 2)
    alert_id = await _send(system, policy=None)
    assert _scheduled(system) == {}
    assert await asyncio.to_thread(_reconcile, system) == 0
    assert (await asyncio.to_thread(jobs.escalate, alert_id, 0, 0))["ran"] is False


async def test_report_lists_help_first_with_contact_and_place_then_silent_then_safe(system: System) -> None:
    await _people(system, 6)
    await _policy(system)
    with system.runtime.sessions.begin() as session:
        rid = session.scalar(select(Recipient.id).where(Recipient.external_id == "P00004"))
        session.add(RecipientLocation(recipient_id=rid, label="dorm", lat=40.5, lon=-74.25))
    alert_id = await _send(system)
    await _reply(system, 4, "HELP")
    await _reply(system, 2, "HELP")
    await _reply(system, 0, "SAFE")
    await _reply(system, 5, "on my way")
    report = await system.call("GET", f"/api/v1/alerts/{alert_id}/report", expect=200)
    assert list(report)[-4:] == ["need_help", "no_response", "safe", "acknowledged"]
    assert report["counts"] == {"need_help": 2, "no_response": 2, "safe": 1, "acknowledged": 1}
    assert [p["external_id"] for p in report["need_help"]] == ["P00002", "P00004"]
    helped = report["need_help"][1]
    assert (helped["name"], helped["phone"], helped["email"]) == ("Person 4", phone(4), "p4@example.org")
    assert [(loc["label"], loc["lat"], loc["lon"]) for loc in helped["locations"]] == [("dorm", 40.5, -74.25)]
    assert helped["last_response_at"].endswith("Z")
    assert [p["external_id"] for p in report["no_response"]] == ["P00001", "P00003"]
    assert report["no_response"][0]["last_response_at"] is None and "phone" not in report["no_response"][0]
    assert [p["external_id"] for p in report["safe"]] == ["P00000"]

    text = await system.call("GET", f"/api/v1/alerts/{alert_id}/report", params={"format": "csv"}, expect=200)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["status", "external_id", "name", "last_response_at", "phone", "email", "locations"]
    assert [(r[0], r[1]) for r in rows[1:]] == [
        ("need_help", "P00002"), ("need_help", "P00004"), ("no_response", "P00001"), ("no_response", "P00003"),
        ("safe", "P00000"), ("acknowledged", "P00005")]
    assert rows[2][4:] == [phone(4), "p4@example.org", "dorm 40.5,-74.25"]
    assert rows[5][4:] == ["", "", ""], "contact details only for those who need help"
    await system.call("GET", f"/api/v1/alerts/{alert_id}/report", params={"format": "xml"}, expect=422)
    await system.call("GET", "/api/v1/alerts/999/report", expect=404)


async def test_an_operator_vouches_for_people_and_close_freezes_the_report(system: System) -> None:
    await _people(system, 3)
    alert_id = await _send(system, policy=None)
    pubsub = system.runtime.redis.pubsub()
    pubsub.subscribe(engine.live_channel(alert_id))
    try:
        assert pubsub.get_message(timeout=1)["type"] == "subscribe"
        path = f"/api/v1/alerts/{alert_id}/recipients/P00001/status"
        body = await system.call("POST", path, json={"status": "safe", "note": "seen at the assembly point"},
                                 expect=201)
        assert body["counted"] is True
        message = pubsub.get_message(timeout=2)
        assert message and json.loads(message["data"])["external_id"] == "P00001"
    finally:
        pubsub.close()
    report = await system.call("GET", f"/api/v1/alerts/{alert_id}/report", expect=200)
    assert [p["external_id"] for p in report["safe"]] == ["P00001"] and report["frozen"] is False
    with system.runtime.sessions() as session:
        response = session.scalars(select(Response).where(Response.channel == "on_behalf")).one()
        assert (response.kind, response.raw_text, response.recorded_by) == (
            "safe", "seen at the assembly point", "token:1")
        assert session.scalar(select(func.count()).select_from(AuditEntry)
                              .where(AuditEntry.action == "response.on_behalf", AuditEntry.actor == "token:1")) == 1

    for bad, field in (({"status": "fine"}, "status"), ({"status": "safe", "note": 5}, "note")):
        answer = await system.call("POST", path, json=bad, expect=422)
        assert answer["error"]["field"] == field
    await system.call("POST", f"/api/v1/alerts/{alert_id}/recipients/NOBODY/status", json={"status": "safe"},
                      expect=404)

    closed = await system.call("POST", f"/api/v1/alerts/{alert_id}/close", expect=200)
    assert closed["status"] == "closed"
    await system.call("POST", f"/api/v1/alerts/{alert_id}/recipients/P00002/status", json={"status": "need_help"},
                      expect=201)
    await _reply(system, 0, "HELP")
    frozen = await system.call("GET", f"/api/v1/alerts/{alert_id}/report", expect=200)
    assert frozen["frozen"] is True
    assert frozen["counts"] == report["counts"] == {"need_help": 0, "no_response": 2, "safe": 1, "acknowledged": 0}
    with system.runtime.sessions() as session:
        late = session.scalars(select(Response).where(Response.recipient_id == 3)).one()
        assert late.counted is False and late.kind == "need_help"
    await system.call("POST", f"/api/v1/alerts/{alert_id}/cancel", expect=409)


@pytest.mark.parametrize("change, field", [
    ({"steps": []}, "steps"),
    ({"steps": None}, "steps"),
    ({"name": ""}, "name"),
    ({"steps": [{"after_s": -5, "channels": ["voice"]}]}, "steps[0].after_s"),
    ({"steps": [{"after_s": 1.5, "channels": ["voice"]}]}, "steps[0].after_s"),
    ({"steps": [{"after_s": 10, "channels": ["voice"]}, {"after_s": 10, "channels": ["sms"]}]}, "steps[1].after_s"),
    ({"steps": [{"after_s": 10, "channels": ["voice"]}, {"after_s": 5, "channels": ["sms"]}]}, "steps[1].after_s"),
    ({"steps": [{"after_s": 0, "channels": ["voice"], "repeat": 3, "every_s": 10},
                {"after_s": 15, "channels": ["sms"]}]}, "steps[1].after_s"),
    ({"steps": [{"after_s": 0, "channels": ["voice"], "repeat": 3}]}, "steps[0].every_s"),
    ({"steps": [{"after_s": 0, "channels": ["voice"], "repeat": 0, "every_s": 1}]}, "steps[0].repeat"),
    ({"steps": [{"after_s": 0, "channels": ["voice"], "repeat": 1000, "every_s": 1}]}, "steps[0].repeat"),
    ({"steps": [{"after_s": 0, "channels": ["fax"]}]}, "steps[0].channels"),
    ({"steps": [{"after_s": 0, "channels": []}]}, "steps[0].channels"),
    ({"final": {"after_s": 1, "notify": ["SUP1"], "channels": ["sms"]}}, "final.after_s"),
    ({"final": {"after_s": 9, "notify": ["SUP1", "GHOST"], "channels": ["sms"]}}, "final.notify"),
    ({"final": {"after_s": 9, "notify": [], "channels": ["sms"]}}, "final.notify"),
    ({"final": {"after_s": 9, "notify": ["SUP1"], "channels": ["pigeon"]}}, "final.channels"),
])
async def test_bad_policies_are_refused_naming_the_field(system: System, change: dict, field: str) -> None:
    await _people(system, 1)
    payload = {"name": "p", "steps": [{"after_s": 5, "channels": ["voice"]}],
               "final": {"after_s": 9, "notify": ["SUP1"], "channels": ["sms"]}, **change}
    answer = await system.call("POST", "/api/v1/policies", json=payload, expect=422)
    assert answer["error"]["field"] == field, answer
    assert await system.call("GET", "/api/v1/policies", expect=200) == []


async def test_policies_are_admin_only_listed_and_named_by_alerts(system: System) -> None:
    await _people(system, 1)
    operator = make_token(system.runtime, "operator")
    payload = {"name": "campus", "steps": [{"after_s": 5, "channels": ["voice"]}]}
    await system.call("POST", "/api/v1/policies", json=payload, headers={"Authorization": f"Bearer {operator}"},
                      expect=403)
    await system.call("POST", "/api/v1/policies", json=payload, expect=201)
    await system.call("POST", "/api/v1/policies", json=payload, expect=409)
    listed = await system.call("GET", "/api/v1/policies", expect=200)
    assert [(p["name"], p["steps"], p["final"]) for p in listed] == [
        ("campus", [{"after_s": 5, "channels": ["voice"], "repeat": 1, "every_s": None}], None)]
    answer = await system.call("POST", "/api/v1/alerts", expect=422, json={
        "title": "Fire", "message": MESSAGE, "channels": ["sms"], "target": {"groups": ["Everyone"]},
        "policy": "nonexistent"})
    assert answer["error"]["field"] == "policy"


@pytest.mark.settings(twilio_account_sid="")
async def test_a_policy_may_not_use_a_channel_the_organisation_has_not_configured(system: System) -> None:
    answer = await system.call("POST", "/api/v1/policies", expect=422, json={
        "name": "p", "steps": [{"after_s": 5, "channels": ["voice"]}]})
    assert answer["error"]["field"] == "steps[0].channels" and "not configured" in answer["error"]["message"]
    await system.call("POST", "/api/v1/policies", expect=201, json={
        "name": "p", "steps": [{"after_s": 5, "channels": ["email"]}]})


def test_more_than_twenty_silent_people_are_counted_and_linked_not_named() -> None:
    alert = Alert(id=7, title="Fire")
    url = "https://tocsin.example/api/v1/alerts/7/report"
    many = engine.unaccounted_message(alert, [(f"P{n}", f"Person {n}") for n in range(21)], url)
    assert many == f'21 people have not responded to "Fire" (alert 7). The list: {url}'
    few = engine.unaccounted_message(alert, [("P1", "Ann"), ("P2", "")], url)
    assert few.startswith('2 people have not responded to "Fire" (alert 7): Ann (P1); P2. ')
    assert engine.unaccounted_message(alert, [], url).startswith("Everyone has responded")


def test_plan_counts_every_wait_from_the_send() -> None:
    from escalation.policies import Run, plan
    steps = [{"after_s": 60, "channels": ["voice"], "repeat": 3, "every_s": 30},
             {"after_s": 300, "channels": ["sms"], "repeat": 1, "every_s": None}]
    assert plan(steps, {"after_s": 900, "notify": ["S"], "channels": ["sms"]}) == [
        Run(0, 0, 60), Run(0, 1, 90), Run(0, 2, 120), Run(1, 0, 300), Run(2, 0, 900)]
    assert plan(steps, None)[-1] == Run(1, 0, 300)
