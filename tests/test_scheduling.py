"""Scheduled sends: the workers send a scheduled alert at its time, once, console or not; a
reschedule, an unschedule or a cancel leaves the old job harmless; a job Redis lost is caught by
the reconciler and the safety net. "Due" is tested by calling the job's work with a clock, and
scheduled jobs are moved to their queue by hand (a burst worker runs no scheduler)."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any

from rq.job import Job
from rq.registry import ScheduledJobRegistry
from rq.serializers import JSONSerializer
from sqlalchemy import delete, select

from alerting import launching
from alerting.models import Alert, AuditEntry, Delivery, Recipient
from ops import jobs, reconcile
from ops.queues import QUEUE_NAMES, queue
from tests.conftest import System, ThreadWorker
from tests.helpers import people_csv

PEOPLE = 5


def _in(minutes: float) -> datetime:
    return (datetime.now(timezone.utc) + timedelta(minutes=minutes)).replace(microsecond=0)


async def _people(system: System) -> None:
    await system.call("POST", "/api/v1/groups", json={"name": "Everyone"}, expect=201)
    await system.call("POST", "/api/v1/recipients/import", data=people_csv(PEOPLE), expect=200)


async def _draft(system: System, **extra: Any) -> int:
    alert = await system.call("POST", "/api/v1/alerts", expect=201, json={
        "title": "Water off", "message": "Water is off in Hall B tomorrow 08:00-10:00.", "channels": ["sms"],
        "target": {"groups": ["Everyone"]}, "severity": "minor", "policy": None, **extra})
    return alert["id"]


def scheduled_jobs(system: System) -> dict[str, datetime]:
    found = {}
    for name in QUEUE_NAMES:
        registry = ScheduledJobRegistry(queue=queue(system.runtime.redis, name))
        for job_id in registry.get_job_ids():
            if not job_id.startswith("sweep-"):  # the periodic sweep (ops/sweep.py), always armed
                found[job_id] = registry.get_scheduled_time(job_id)
    return found


async def release(system: System, job_id: str) -> None:
    """Move a scheduled job to its queue now (what the worker's scheduler does when it is due) and drain."""
    for name in QUEUE_NAMES:
        q = queue(system.runtime.redis, name)
        registry = ScheduledJobRegistry(queue=q)
        if job_id in registry.get_job_ids():
            q.enqueue_job(Job.fetch(job_id, connection=system.runtime.redis, serializer=JSONSerializer))
            registry.remove(job_id)
            await system.drain()
            return
    raise AssertionError(f"{job_id} is not scheduled")


def messages(system: System, alert_id: int) -> int:
    with system.runtime.sessions() as session:
        return len(session.scalars(select(Delivery.id).where(Delivery.alert_id == alert_id)).all())


def status(system: System, alert_id: int) -> str:
    with system.runtime.sessions() as session:
        return session.get(Alert, alert_id).status


def actions(system: System, alert_id: int) -> list[str]:
    with system.runtime.sessions() as session:
        return list(session.scalars(select(AuditEntry.action).where(
            AuditEntry.subject_type == "alert", AuditEntry.subject_id == str(alert_id)).order_by(AuditEntry.id)))


async def test_a_scheduled_alert_waits_then_the_job_sends_it_once(system: System) -> None:
    await _people(system)
    alert_id = await _draft(system)
    at = _in(30)
    body = await system.call("POST", f"/api/v1/alerts/{alert_id}/send", json={"scheduled_for": at.isoformat()},
                             expect=202)
    assert body["state"] == "scheduled" and body["status"] == "scheduled" and body["started"]
    assert body["scheduled_for"] == at.isoformat().replace("+00:00", "Z") and body["audience"] == PEOPLE
    job_id = jobs.scheduled_send_job_id(alert_id, at)
    assert scheduled_jobs(system) == {job_id: at}, "one job, at the alert's time"
    again = await system.call("POST", f"/api/v1/alerts/{alert_id}/send", json={"scheduled_for": at.isoformat()},
                              expect=202)
    assert again["state"] == "scheduled" and not again["started"], "a double press schedules once"
    await system.drain()
    assert messages(system, alert_id) == 0 and status(system, alert_id) == "scheduled"

    # Before its time the job's work does nothing; at its time it sends; run again, nothing more.
    assert not jobs.start_scheduled(system.runtime, alert_id, at, now=at - timedelta(minutes=1))
    assert status(system, alert_id) == "scheduled"
    assert jobs.start_scheduled(system.runtime, alert_id, at, now=at)
    assert not jobs.start_scheduled(system.runtime, alert_id, at, now=at + timedelta(seconds=1))
    await system.drain()
    assert messages(system, alert_id) == PEOPLE and status(system, alert_id) == "sent"
    # The job itself, when RQ's scheduler releases it, finds it sent: nothing more.
    await release(system, job_id)
    assert messages(system, alert_id) == PEOPLE
    assert actions(system, alert_id) == ["alert.create", "alert.schedule", "alert.send"]


async def test_the_worker_scheduler_sends_it_on_time_without_the_console(system: System) -> None:
    """The real path: RQ's scheduler in a worker (as `tocsin worker` runs it) releases the job when due."""
    await _people(system)
    alert_id = await _draft(system)
    at = (datetime.now(timezone.utc) + timedelta(seconds=2)).replace(microsecond=0) + timedelta(seconds=1)
    await system.call("POST", f"/api/v1/alerts/{alert_id}/send", json={"scheduled_for": at.isoformat()}, expect=202)
    await asyncio.to_thread(scheduler_worker_burst, system)
    assert messages(system, alert_id) == 0, "not before its time"
    await asyncio.sleep(max(0.0, (at - datetime.now(timezone.utc)).total_seconds()) + 0.2)
    await asyncio.to_thread(scheduler_worker_burst, system)  # releases the due job and runs it
    await system.drain()
    assert messages(system, alert_id) == PEOPLE and status(system, alert_id) == "sent"
    assert scheduled_jobs(system) == {}


def scheduler_worker_burst(system: System) -> None:
    worker = ThreadWorker([queue(system.runtime.redis, n) for n in QUEUE_NAMES], connection=system.runtime.redis,
                          serializer=JSONSerializer)
    worker.work(burst=True, with_scheduler=True, logging_level="WARNING")


async def test_a_reschedule_leaves_the_old_job_harmless(system: System) -> None:
    await _people(system)
    alert_id = await _draft(system)
    first, second = _in(30), _in(90)
    await system.call("POST", f"/api/v1/alerts/{alert_id}/send", json={"scheduled_for": first.isoformat()}, expect=202)
    body = await system.call("POST", f"/api/v1/alerts/{alert_id}/reschedule",
                             json={"scheduled_for": second.isoformat()}, expect=200)
    assert body["state"] == "scheduled" and body["scheduled_for"].startswith(second.strftime("%Y-%m-%dT%H:%M"))
    assert set(scheduled_jobs(system)) == {jobs.scheduled_send_job_id(alert_id, first),
                                           jobs.scheduled_send_job_id(alert_id, second)}
    # The old job, at (or after) its time: nothing.
    assert not jobs.start_scheduled(system.runtime, alert_id, first, now=first)
    await release(system, jobs.scheduled_send_job_id(alert_id, first))
    assert messages(system, alert_id) == 0 and status(system, alert_id) == "scheduled"
    assert jobs.start_scheduled(system.runtime, alert_id, second, now=second)
    await system.drain()
    assert messages(system, alert_id) == PEOPLE
    assert "alert.reschedule" in actions(system, alert_id)


async def test_unschedule_goes_back_to_draft_and_cancel_sends_nothing(system: System) -> None:
    await _people(system)
    editing, cancelled = await _draft(system), await _draft(system)
    at = _in(10)
    for alert_id in (editing, cancelled):
        await system.call("POST", f"/api/v1/alerts/{alert_id}/send", json={"scheduled_for": at.isoformat()},
                          expect=202)
    body = await system.call("POST", f"/api/v1/alerts/{editing}/unschedule", expect=200)
    assert body["status"] == "draft" and body["scheduled_for"] is None
    body = await system.call("POST", f"/api/v1/alerts/{cancelled}/cancel-schedule", expect=200)
    assert body["status"] == "cancelled"
    for alert_id in (editing, cancelled):
        assert not jobs.start_scheduled(system.runtime, alert_id, at, now=at)
        await release(system, jobs.scheduled_send_job_id(alert_id, at))
        assert messages(system, alert_id) == 0
    assert status(system, editing) == "draft" and status(system, cancelled) == "cancelled"
    assert "alert.unschedule" in actions(system, editing) and "alert.cancel" in actions(system, cancelled)
    # The draft can be scheduled again, at the very same time: a new job, and it sends.
    await system.call("POST", f"/api/v1/alerts/{editing}/send", json={"scheduled_for": at.isoformat()}, expect=202)
    assert jobs.start_scheduled(system.runtime, editing, at, now=at)


async def test_a_job_lost_with_redis_is_caught_by_the_reconciler(system: System) -> None:
    await _people(system)
    due_soon, later = await _draft(system), await _draft(system)
    at, at_later = _in(1), _in(60)
    await system.call("POST", f"/api/v1/alerts/{due_soon}/send", json={"scheduled_for": at.isoformat()}, expect=202)
    await system.call("POST", f"/api/v1/alerts/{later}/send", json={"scheduled_for": at_later.isoformat()}, expect=202)
    system.runtime.redis.flushall()  # Redis restarted without its data
    assert scheduled_jobs(system) == {}
    # Time passes: the first alert is now overdue. Its job is gone; the database still says scheduled.
    with system.runtime.sessions.begin() as session:
        session.execute(Alert.__table__.update().where(Alert.id == due_soon)
                        .values(scheduled_for=datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=2)))
        overdue = launching.utc(session.get(Alert, due_soon).scheduled_for)
    reconcile.reconcile(system.runtime)
    assert set(scheduled_jobs(system)) == {jobs.scheduled_send_job_id(due_soon, overdue),
                                           jobs.scheduled_send_job_id(later, at_later)}
    assert jobs.ensure_scheduled_jobs(system.runtime) == 0, "the safety net finds nothing more to do"
    await release(system, jobs.scheduled_send_job_id(due_soon, overdue))
    assert messages(system, due_soon) == PEOPLE, "an overdue alert goes out at once"
    assert messages(system, later) == 0 and status(system, later) == "scheduled"


async def test_bad_times_are_refused_on_the_field(system: System) -> None:
    await _people(system)
    alert_id = await _draft(system)
    for value, words in ((_in(-5).isoformat(), "future"), ((_in(60 * 24 * 400)).isoformat(), "a year"),
                         ("tomorrow at eight", "date and time"), ("2031-01-01T08:00:00", "offset"), (42, "date")):
        body = await system.call("POST", f"/api/v1/alerts/{alert_id}/send", json={"scheduled_for": value}, expect=422)
        assert body["error"]["field"] == "scheduled_for" and words in body["error"]["message"], body
    assert status(system, alert_id) == "draft" and scheduled_jobs(system) == {}


async def test_a_scheduled_alert_whose_target_empties_goes_back_to_draft(system: System) -> None:
    await _people(system)
    alert_id = await _draft(system, target={"recipients": ["P00000"]})
    at = _in(5)
    await system.call("POST", f"/api/v1/alerts/{alert_id}/send", json={"scheduled_for": at.isoformat()}, expect=202)
    with system.runtime.sessions.begin() as session:
        session.execute(delete(Recipient).where(Recipient.external_id == "P00000"))  # they left
    assert not jobs.start_scheduled(system.runtime, alert_id, at, now=at)
    assert status(system, alert_id) == "draft" and "alert.schedule_failed" in actions(system, alert_id)


def test_parse_time_reads_offsets_and_trims_to_seconds() -> None:
    now = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)
    assert launching.parse_time("2030-01-01T14:30:15.9+02:00", now=now) == datetime(2030, 1, 1, 12, 30, 15,
                                                                                     tzinfo=timezone.utc)
    assert launching.parse_time("2030-01-02T00:00:00Z", now=now) == datetime(2030, 1, 2, tzinfo=timezone.utc)
    assert launching.parse_time("2030-01-01T13:00", now=now, naive_is_utc=True).hour == 13
