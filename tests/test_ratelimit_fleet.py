"""A provider's rate limit holds across a fleet (ops/ratelimit.py): two real `tocsin worker` processes
share one limit through Redis, and the sandbox never sees more than it allows.

Only upper bounds are asserted (at most so many messages in any one-second window, and on average):
a slow or loaded machine makes sends later and sparser, never denser, so these cannot fail for
lack of speed. Both workers must have sent part of the alert, or the test proves nothing."""
from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

import pytest
from rq import Worker
from rq.job import Job
from rq.serializers import JSONSerializer

from ops.queues import QUEUE_NAMES, queue
from tests.conftest import System
from tests.helpers import people_csv

LIMIT = 20  # SMS per second for the Twilio account, fleet-wide
PEOPLE = 80  # four seconds' worth at the limit
#: Slots are absolute times, but a process may wake a little late and bunch with the next slot.
BUNCHING = 3


async def _start_workers(system: System, count: int) -> list[asyncio.subprocess.Process]:
    env = {**os.environ, **system.runtime.settings.to_env(), "TOCSIN_LOG_LEVEL": "WARNING"}
    workers = [await asyncio.create_subprocess_exec(sys.executable, "-m", "ops.cli", "worker", env=env)
               for _ in range(count)]
    deadline = time.monotonic() + 60
    while len(Worker.all(connection=system.runtime.redis)) < count:
        assert time.monotonic() < deadline, "the workers did not start"
        assert all(w.returncode is None for w in workers), "a worker exited"
        await asyncio.sleep(0.2)
    return workers


async def _stop(workers: list[asyncio.subprocess.Process]) -> None:
    for worker in workers:
        if worker.returncode is None:
            worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            await asyncio.wait_for(worker.wait(), 30)
        except TimeoutError:
            worker.kill()
            await worker.wait()


@pytest.mark.settings(twilio_rate_limit=float(LIMIT), batch_size=10)
async def test_two_worker_processes_share_one_rate_limit(system: System) -> None:
    await system.call("POST", "/api/v1/groups", json={"name": "Everyone"}, expect=201)
    await system.call("POST", "/api/v1/recipients/import", data=people_csv(PEOPLE), expect=200)
    workers = await _start_workers(system, 2)
    try:
        alert = await system.call("POST", "/api/v1/alerts", expect=201, json={
            "title": "Gas leak", "message": "Leave the building.", "channels": ["sms"],
            "target": {"groups": ["Everyone"]}})
        await system.call("POST", f"/api/v1/alerts/{alert['id']}/send", expect=202)
        deadline = time.monotonic() + 120
        while (await system.call("GET", "/sandbox/stats")).get("sms", {}).get("count", 0) < PEOPLE:
            assert time.monotonic() < deadline, "the alert was not sent"
            await asyncio.sleep(0.2)
    finally:
        await _stop(workers)

    times = sorted(m["at"] for m in await system.call("GET", "/sandbox/messages") if m["channel"] == "sms")
    assert len(times) == PEOPLE
    busiest = max(sum(1 for t in times[i:] if t < start + 1.0) for i, start in enumerate(times))
    assert busiest <= LIMIT + BUNCHING, f"{busiest} SMS within one second; the limit is {LIMIT}/s"
    span = times[-1] - times[0]
    assert (PEOPLE - 1) / span <= LIMIT, f"{PEOPLE} SMS in {span:.2f} s: over {LIMIT}/s on average"

    senders: set[str] = set()
    for name in QUEUE_NAMES:
        registry = queue(system.runtime.redis, name).finished_job_registry
        for job in Job.fetch_many(registry.get_job_ids(), connection=system.runtime.redis,
                                  serializer=JSONSerializer):
            if job is not None and job.func_name == "ops.jobs.send_batch":
                senders.add(job.worker_name or "")
    assert len(senders) == 2, f"both workers should have sent part of the alert, got {senders}"
