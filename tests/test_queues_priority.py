"""Priority queues (ops/queues.py): an emergency alert never waits behind a drill or a bulk run, and
a live alert's texts never wait behind its own calls and emails. Ordering is checked by what
happened in which order, never by how long anything took."""
from __future__ import annotations

import asyncio
import os
import sys

import pytest
from redis import Redis
from rq.job import Job
from rq.serializers import JSONSerializer

from ops.queues import BULK, DEFAULT, QUEUE_NAMES, URGENT, URGENT_SLOW, RQEnqueuer, queue
from tests.conftest import System
from tests.helpers import people_csv


def _counts(redis: Redis) -> dict[str, int]:
    return {name: queue(redis, name).count for name in QUEUE_NAMES}


def test_workers_listen_urgent_first_and_bulk_last() -> None:
    assert QUEUE_NAMES == (URGENT, URGENT_SLOW, DEFAULT, BULK)


def test_live_texts_and_pushes_go_first_then_live_calls_and_emails_then_drills(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    enqueuer = RQEnqueuer(redis)
    for channel in ("sms", "push", "voice", "email"):
        enqueuer.enqueue_sends(1, channel, [[1, 2], [3]], urgent=True)
    assert _counts(redis) == {URGENT: 4, URGENT_SLOW: 4, DEFAULT: 0, BULK: 0}

    for channel in ("sms", "voice"):
        enqueuer.enqueue_sends(2, channel, [[4]], urgent=False)
    enqueuer.enqueue_dispatch(2, urgent=False)
    assert _counts(redis)[DEFAULT] == 3, "a drill's dispatch and every one of its sends wait behind live work"

    enqueuer.enqueue_dispatch(3, urgent=True)
    assert _counts(redis)[URGENT] == 5
    redis.close()


def test_the_daily_retention_run_is_bulk_work(redis_url: str) -> None:
    from ops import jobs
    redis = Redis.from_url(redis_url)
    assert jobs.schedule_retention(redis)
    job = Job.fetch(redis.zrange(f"rq:scheduled:{BULK}", 0, -1)[0].decode(), connection=redis,
                    serializer=JSONSerializer)
    assert job.func_name == "ops.jobs.retention" and job.origin == BULK
    redis.close()


def test_cap_polls_are_urgent_since_a_followed_feed_may_send_a_live_alert(redis_url: str) -> None:
    from ops import cap_poll
    redis = Redis.from_url(redis_url)
    cap_poll.start(redis, 7)
    assert _counts(redis) == {URGENT: 1, URGENT_SLOW: 0, DEFAULT: 0, BULK: 0}
    redis.close()


async def _alert(system: System, title: str, *, drill: bool) -> int:
    alert = await system.call("POST", "/api/v1/alerts", expect=201, json={
        "title": title, "message": f"{title}: take shelter now.", "channels": ["sms", "email"],
        "target": {"groups": ["Everyone"]}, "drill": drill})
    await system.call("POST", f"/api/v1/alerts/{alert['id']}/send", expect=202)
    return alert["id"]


async def _run_real_worker(system: System) -> None:
    """`tocsin worker --burst` in its own process: the real worker, its real queue order."""
    env = {**os.environ, **system.runtime.settings.to_env(), "TOCSIN_LOG_LEVEL": "WARNING"}
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "ops.cli", "worker", "--burst", env=env)
    assert await asyncio.wait_for(process.wait(), 120) == 0


@pytest.mark.settings(batch_size=5)
async def test_a_live_alert_sent_after_a_drill_and_a_bulk_job_goes_out_first(system: System) -> None:
    await system.call("POST", "/api/v1/groups", json={"name": "Everyone"}, expect=201)
    await system.call("POST", "/api/v1/recipients/import", data=people_csv(12), expect=200)
    # Queued first: a bulk job and a drill. Then the emergency.
    queue(system.runtime.redis, BULK).enqueue("ops.jobs.retention", description="retention run (test)")
    drill_id = await _alert(system, "Tornado DRILL", drill=True)
    live_id = await _alert(system, "Tornado WARNING", drill=False)

    await _run_real_worker(system)
    await system.callbacks_settled()

    # The sandbox lists what it accepted, oldest first.
    received = [(m["channel"], "WARNING" if "Tornado WARNING" in m["body"] else "DRILL")
                for m in await system.call("GET", "/sandbox/messages", expect=200)]
    assert len(received) == 12 * 4
    assert received[:12] == [("sms", "WARNING")] * 12, "the live alert's texts first"
    assert received[12:24] == [("email", "WARNING")] * 12, "then its emails, before any drill message"
    assert {kind for _, kind in received[24:]} == {"DRILL"}

    def finished(name: str) -> list[Job]:
        registry = queue(system.runtime.redis, name).finished_job_registry
        return Job.fetch_many(registry.get_job_ids(), connection=system.runtime.redis, serializer=JSONSerializer)

    [bulk] = finished(BULK)
    drill_jobs = finished(DEFAULT)
    assert bulk.func_name == "ops.jobs.retention" and drill_jobs
    assert all(j.ended_at <= bulk.started_at for j in drill_jobs), "the bulk job ran last"
    for alert_id in (live_id, drill_id):
        assert (await system.call("GET", f"/api/v1/alerts/{alert_id}"))["status"] == "sent"
