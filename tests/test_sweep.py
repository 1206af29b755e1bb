"""The periodic sweep (ops/sweep.py): a message whose job was lost, whose worker is gone, or whose
status callbacks never came is found and moved on without a restart, once, and never backwards."""
from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest
from rq.job import Job, JobStatus
from rq.registry import ScheduledJobRegistry, StartedJobRegistry
from rq.serializers import JSONSerializer
from sqlalchemy import select, update

from alerting import dispatch, sending
from alerting.models import Alert, Delivery, utcnow
from alerting.statuses import DeliveryStatus
from alerting.sweep import STATUS_UNKNOWN
from ops import jobs, status_queries, sweep
from ops.queues import QUEUE_NAMES, URGENT, URGENT_SLOW, queue
from ops.runtime import Runtime
from ops.settings import SANDBOX_ACCOUNT_SID, Settings, SettingsError
from ops.worker import TocsinWorker
from tests.conftest import System, run_worker_burst
from tests.helpers import people_csv, phone


async def _alert(system: System, count: int, channels: tuple[str, ...] = ("sms",)) -> int:
    await system.call("POST", "/api/v1/groups", json={"name": "Everyone"}, expect=201)
    await system.call("POST", "/api/v1/recipients/import", data=people_csv(count), expect=200)
    alert = await system.call("POST", "/api/v1/alerts", expect=201, json={
        "title": "Flood", "message": "Move to higher ground.", "channels": list(channels),
        "target": {"groups": ["Everyone"]}, "policy": None})
    return alert["id"]


async def _pending(system: System, count: int) -> tuple[int, list[int]]:
    """An alert dispatched (every message `pending`), then Redis lost every job it had."""
    alert_id = await _alert(system, count)
    with system.runtime.sessions.begin() as session:
        dispatch.request_send(session, alert_id, actor="test")
    jobs.dispatch_alert(alert_id)
    _forget_jobs(system)
    with system.runtime.sessions() as session:
        ids = list(session.scalars(select(Delivery.id).where(Delivery.alert_id == alert_id).order_by(Delivery.id)))
    return alert_id, ids


def _forget_jobs(system: System) -> None:
    for name in QUEUE_NAMES:
        queue(system.runtime.redis, name).empty()


def _age(system: System, ids: list[int], **ago: timedelta) -> None:
    """Move the rows' `updated_at` (or another column) into the past: time passes."""
    with system.runtime.sessions.begin() as session:
        for column, delta in ago.items():
            session.execute(update(Delivery).where(Delivery.id.in_(ids)).values({column: utcnow() - delta}))


def _queued_sends(system: System) -> list[list[int]]:
    found = []
    for name in QUEUE_NAMES:
        q = queue(system.runtime.redis, name)
        for job in Job.fetch_many(q.job_ids, connection=system.runtime.redis, serializer=JSONSerializer):
            if job is not None and job.func_name == "ops.jobs.send_batch":
                found.append(list(job.args[2]))
    return found


def _inbox_sizes(system: System, count: int) -> list[int]:
    return [len(system.sandbox.inbox(phone(n))) for n in range(count)]


def _rows(system: System, ids: list[int]) -> list[Delivery]:
    with system.runtime.sessions() as session:
        rows = session.scalars(select(Delivery).where(Delivery.id.in_(ids)).order_by(Delivery.id)).all()
        session.expunge_all()
        return list(rows)


def _alert_status(system: System, alert_id: int) -> str:
    with system.runtime.sessions() as session:
        return session.get(Alert, alert_id).status


def _sweep(system: System) -> dict[str, int]:
    done = sweep.run_sweep(system.runtime)
    assert done is not None
    return done


async def test_a_pending_message_whose_job_was_lost_is_sent_by_the_sweep(system: System) -> None:
    alert_id, ids = await _pending(system, 6)
    # Two messages still have their job in RQ; the last one was written a moment ago.
    queue(system.runtime.redis, URGENT).enqueue("ops.jobs.send_batch", alert_id, "sms", ids[:2])
    _age(system, ids[:5], updated_at=timedelta(minutes=2))
    done = await asyncio.to_thread(_sweep, system)
    assert done["requeued"] == 3
    assert sorted(_queued_sends(system)) == [ids[:2], ids[2:5]], "only the messages no job holds"
    assert (await asyncio.to_thread(_sweep, system))["requeued"] == 0, "enqueued now: not lost"
    await system.drain()
    assert _inbox_sizes(system, 6) == [1, 1, 1, 1, 1, 0]
    assert _alert_status(system, alert_id) == "sending", "one message still waits"

    _age(system, ids[5:], updated_at=timedelta(minutes=2))  # time passes; its job never came
    assert (await asyncio.to_thread(_sweep, system))["requeued"] == 1
    await system.drain()
    assert _inbox_sizes(system, 6) == [1] * 6
    assert _alert_status(system, alert_id) == "sent"


async def test_a_claim_older_than_any_send_job_is_sent_again_exactly_once(system: System) -> None:
    alert_id, ids = await _pending(system, 3)
    with system.runtime.sessions.begin() as session:
        sending.claim(session, ids)  # a worker took them, then its host went away
    _age(system, ids[:2], claimed_at=sweep.STALE_CLAIM + timedelta(minutes=1))
    _age(system, ids[2:], claimed_at=timedelta(minutes=1))  # a job may still be sending this one
    # A copy of the old job is still in RQ too (it was handed back): it must not send them again.
    queue(system.runtime.redis, URGENT).enqueue("ops.jobs.send_batch", alert_id, "sms", ids)
    first = await asyncio.to_thread(_sweep, system)
    second = await asyncio.to_thread(_sweep, system)
    assert first["released"] == 2 and second["released"] == 0
    await system.drain()
    assert _inbox_sizes(system, 3) == [1, 1, 0]
    assert [r.status for r in _rows(system, ids)][2] == DeliveryStatus.SENDING, "a recent claim is left alone"


async def test_a_lost_dispatch_is_enqueued_again(system: System) -> None:
    alert_id = await _alert(system, 4)
    with system.runtime.sessions.begin() as session:
        dispatch.request_send(session, alert_id, actor="test")
    assert _alert_status(system, alert_id) == "sending"
    _forget_jobs(system)  # the dispatch job vanished before it ran
    assert (await asyncio.to_thread(_sweep, system))["redispatched"] == 0, "just pressed: not yet"
    with system.runtime.sessions.begin() as session:
        session.execute(update(Alert).where(Alert.id == alert_id).values(send_requested_at=utcnow() - timedelta(minutes=2)))
    assert (await asyncio.to_thread(_sweep, system))["redispatched"] == 1
    assert (await asyncio.to_thread(_sweep, system))["redispatched"] == 0, "its dispatch is in RQ now"
    await system.drain()
    assert _inbox_sizes(system, 4) == [1] * 4
    assert _alert_status(system, alert_id) == "sent"


async def _sent_without_callbacks(system: System, count: int, channels: tuple[str, ...] = ("sms",),
                                  **config: object) -> tuple[int, list[int]]:
    """An alert sent while every status callback is lost (the sandbox sends none)."""
    await system.call("POST", "/sandbox/config", json={"callbacks": False, **config}, expect=200)
    alert_id = await _alert(system, count, channels)
    await system.call("POST", f"/api/v1/alerts/{alert_id}/send", expect=202)
    if config.get("delivery_delay_ms"):  # the sandbox holds its delivery reports: drain() would wait for them
        await asyncio.to_thread(run_worker_burst, system.runtime)
    else:
        await system.drain()
    with system.runtime.sessions() as session:
        ids = list(session.scalars(select(Delivery.id).where(Delivery.alert_id == alert_id).order_by(Delivery.id)))
    assert {r.status for r in _rows(system, ids)} == {DeliveryStatus.QUEUED}
    return alert_id, ids


def _long_ago(system: System) -> timedelta:
    return timedelta(seconds=system.runtime.settings.status_query_after_s + 5)


async def test_an_sms_whose_callbacks_were_lost_is_delivered_after_a_status_query(system: System) -> None:
    alert_id, ids = await _sent_without_callbacks(system, 4)
    assert _alert_status(system, alert_id) == "sent", "accepted by the provider: nothing waits"
    assert (await asyncio.to_thread(_sweep, system)).get("queried", 0) == 0, "callbacks may still come"
    _age(system, ids[:3], updated_at=_long_ago(system))
    done = await asyncio.to_thread(_sweep, system)
    assert done["queried"] == 3 and done["confirmed"] == 3 and done["gave_up"] == 0
    rows = _rows(system, ids)
    assert [r.status for r in rows] == [DeliveryStatus.DELIVERED] * 3 + [DeliveryStatus.QUEUED]
    assert all(r.delivered_at is not None and r.error_code is None for r in rows[:3])
    assert (await asyncio.to_thread(_sweep, system)).get("queried", 0) == 0, "delivered: never asked again"


async def test_a_call_whose_callbacks_were_lost_is_completed_after_a_status_query(system: System) -> None:
    _, ids = await _sent_without_callbacks(system, 2, ("voice",))
    await _calls_answered(system, 2)
    _age(system, ids, updated_at=_long_ago(system))
    done = await asyncio.to_thread(_sweep, system)
    assert done["queried"] == 2 and done["confirmed"] == 2
    assert [r.status for r in _rows(system, ids)] == [DeliveryStatus.DELIVERED] * 2


async def _calls_answered(system: System, count: int, timeout: float = 30) -> None:
    """Wait until the sandbox's phones have picked up (the calls wait for a key, `in-progress`)."""
    deadline = time.monotonic() + timeout
    while True:
        calls = [system.sandbox.find(m.sid) for n in range(count) for m in system.sandbox.inbox(phone(n))]
        if len(calls) == count and all(c.status in ("in-progress", "completed") for c in calls):
            return
        assert time.monotonic() < deadline, [c.status for c in calls]
        await asyncio.sleep(0.05)


async def test_a_status_never_goes_backwards_and_an_unconfirmed_message_is_given_up(system: System) -> None:
    # Delivery reports an hour away: the provider keeps saying `sent`.
    _, ids = await _sent_without_callbacks(system, 2, delivery_delay_ms=3_600_000)
    first = _rows(system, ids[:1])[0]
    with system.runtime.sessions.begin() as session:  # a late callback had moved the first further
        session.execute(update(Delivery).where(Delivery.id == ids[0]).values(status=DeliveryStatus.SENT, status_rank=3))
    system.sandbox.find(first.provider_message_id).status = "queued"  # and the provider answers older news
    for n in range(1, status_queries.STATUS_QUERIES_MAX + 1):
        _age(system, ids, updated_at=_long_ago(system))
        done = await asyncio.to_thread(_sweep, system)
        assert done["queried"] == 2, n
        rows = _rows(system, ids)
        assert [r.status for r in rows] == [DeliveryStatus.SENT] * 2, "queued -> sent, and never back"
    assert done["gave_up"] == 1 and [r.error_code for r in rows] == [STATUS_UNKNOWN, None]
    assert "after 3 status queries" in (rows[0].error_message or "")
    _age(system, ids, updated_at=_long_ago(system))
    assert (await asyncio.to_thread(_sweep, system))["queried"] == 1, "given up: not asked again"


async def test_the_sweep_armed_twice_runs_once(system: System) -> None:
    redis, interval = system.runtime.redis, system.runtime.settings.sweep_interval_s
    now = datetime.now(UTC)
    assert sweep.schedule_sweep(redis, interval, now=now) is True
    assert sweep.schedule_sweep(redis, interval, now=now) is False
    jobs.ensure_scheduled_jobs(system.runtime)  # start-up and the web process's safety net arm it too
    registry = ScheduledJobRegistry(queue=queue(redis, URGENT))
    armed = [j for j in registry.get_job_ids() if j.startswith("sweep-")]
    assert armed == [sweep.sweep_job_id(sweep.next_period(interval, now))]
    # Its time comes (RQ's scheduler moves it to the queue); the run arms the next period once.
    job = Job.fetch(armed[0], connection=redis, serializer=JSONSerializer)
    registry.remove(job)
    queue(redis, URGENT).enqueue_job(job)
    await system.drain()
    assert Job.fetch(armed[0], connection=redis, serializer=JSONSerializer).get_status() == "finished"
    following = [j for j in registry.get_job_ids() if j.startswith("sweep-")]
    assert len(following) == 1 and following != armed
    # Two runs at once (a late one meeting the next): the second does nothing.
    lock = redis.lock(sweep.LOCK_KEY, timeout=60)
    assert lock.acquire(blocking=False)
    try:
        assert sweep.run_sweep(system.runtime) is None
    finally:
        lock.release()


def test_the_sweep_settings_are_checked_and_passed_to_workers() -> None:
    settings = Settings.from_env({"TOCSIN_SWEEP_INTERVAL_S": "15", "TOCSIN_STATUS_QUERY_AFTER_S": "900"})
    assert (settings.sweep_interval_s, settings.status_query_after_s) == (15, 900)
    assert Settings.from_env(settings.to_env()).sweep_interval_s == 15
    with pytest.raises(SettingsError, match="TOCSIN_SWEEP_INTERVAL_S must be at least 1"):
        Settings.from_env({"TOCSIN_SWEEP_INTERVAL_S": "0"})
    with pytest.raises(SettingsError, match="TOCSIN_STATUS_QUERY_AFTER_S must be a whole number"):
        Settings.from_env({"TOCSIN_STATUS_QUERY_AFTER_S": "ten minutes"})


def test_what_rq_still_holds_is_read_from_every_queue_and_registry(runtime: Runtime) -> None:
    redis = runtime.redis
    urgent, slow = queue(redis, URGENT), queue(redis, URGENT_SLOW)
    urgent.enqueue("ops.jobs.send_batch", 1, "sms", [1, 2])
    slow.enqueue_in(timedelta(seconds=60), "ops.jobs.send_batch", 1, "voice", [3])  # a retry, waiting
    urgent.enqueue("ops.jobs.resend_abandoned", 1, "sms", [4], utcnow().isoformat(), 10)
    urgent.enqueue("ops.jobs.dispatch_alert", 7)
    running = urgent.enqueue("ops.jobs.send_batch", 2, "sms", [5])
    worker = TocsinWorker([urgent], connection=redis, serializer=JSONSerializer)
    urgent.remove(running.id)
    worker.prepare_execution(running)  # a worker is sending it now
    ended = urgent.enqueue("ops.jobs.send_batch", 3, "sms", [6])
    urgent.remove(ended.id)
    ended.set_status(JobStatus.FAILED)  # failed for good: it will not run again
    orphan = urgent.enqueue("ops.jobs.send_batch", 4, "sms", [7])
    urgent.remove(orphan.id)
    worker.prepare_execution(orphan)  # taken by a worker that died: its entry is no longer renewed
    registry = StartedJobRegistry(queue=urgent)
    entry = next(e for e in redis.zrange(registry.key, 0, -1) if e.decode().startswith(orphan.id))
    redis.zadd(registry.key, {entry: time.time() - 1})
    held = sweep.work_in_rq(redis)
    assert held.delivery_ids == {1, 2, 3, 4, 5} and held.dispatching == {7}


async def test_a_provider_without_an_answer_is_asked_again_later_and_an_unknown_message_given_up(
        system: System) -> None:
    _, ids = await _sent_without_callbacks(system, 2)
    await system.call("POST", "/sandbox/config", expect=200,
                      json={"accounts": {SANDBOX_ACCOUNT_SID: {"fail_status": 503}}})
    _age(system, ids, updated_at=_long_ago(system))
    done = await asyncio.to_thread(_sweep, system)
    assert done["queried"] == 2 and done["confirmed"] == 0 and done["gave_up"] == 0
    assert system.runtime.redis.get(status_queries.status_queries_key(ids[0])) is None, "no answer: not counted"
    assert (await asyncio.to_thread(_sweep, system)).get("queried", 0) == 0, "asked again only after the limit"

    # The fault is over; and one message carries an id the provider never issued.
    await system.call("POST", "/sandbox/config", expect=200, json={"accounts": {SANDBOX_ACCOUNT_SID: None}})
    with system.runtime.sessions.begin() as session:
        session.execute(update(Delivery).where(Delivery.id == ids[0]).values(provider_message_id="SM" + "0" * 32))
    for _ in range(status_queries.STATUS_QUERIES_MAX):
        _age(system, ids[:1], updated_at=_long_ago(system))
        done = await asyncio.to_thread(_sweep, system)
    rows = _rows(system, ids)
    assert rows[0].status == DeliveryStatus.QUEUED and rows[0].error_code == STATUS_UNKNOWN
    assert "does not know" in (rows[0].error_message or "")
    _age(system, ids, updated_at=_long_ago(system))
    done = await asyncio.to_thread(_sweep, system)
    assert done["queried"] == 1 and done["confirmed"] == 1
    assert [r.status for r in _rows(system, ids)] == [DeliveryStatus.QUEUED, DeliveryStatus.DELIVERED]
