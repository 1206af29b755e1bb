"""A worker killed mid-job: the next worker to start hands its job back (ops/recovery.py) instead of
leaving it in RQ's started registry until the job's timeout, and the messages it had claimed are
sent once, after the grace for callbacks, while those a callback already moved on are not."""
from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import timedelta

from rq.job import Job
from rq.serializers import JSONSerializer
from sqlalchemy import select, update

from alerting import dispatch, sending
from alerting.models import Delivery, utcnow
from alerting.statuses import DeliveryStatus
from ops import jobs
from ops.queues import QUEUE_NAMES, URGENT, queue
from ops.recovery import recover_dead_workers
from ops.worker import TocsinWorker
from tests.conftest import System
from tests.helpers import people_csv


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


async def _pending(system: System, count: int) -> tuple[int, list[int]]:
    await system.call("POST", "/api/v1/groups", json={"name": "Everyone"}, expect=201)
    await system.call("POST", "/api/v1/recipients/import", data=people_csv(count), expect=200)
    alert = await system.call("POST", "/api/v1/alerts", expect=201, json={
        "title": "Flood", "message": "Move to higher ground.", "channels": ["sms"],
        "target": {"groups": ["Everyone"]}, "policy": None})
    with system.runtime.sessions.begin() as session:
        dispatch.request_send(session, alert["id"], actor="test")
    jobs.dispatch_alert(alert["id"])
    for name in QUEUE_NAMES:
        queue(system.runtime.redis, name).empty()  # the test plays the workers
    with system.runtime.sessions() as session:
        ids = list(session.scalars(select(Delivery.id).where(Delivery.alert_id == alert["id"]).order_by(Delivery.id)))
    return alert["id"], ids


async def test_a_dead_workers_send_job_is_handed_back_and_its_claims_sent_once(system: System) -> None:
    alert_id, ids = await _pending(system, 6)
    redis = system.runtime.redis
    q = queue(redis, URGENT)
    job = q.enqueue("ops.jobs.send_batch", alert_id, "sms", ids)
    # A worker took the job, claimed its rows, sent some; then it was killed.
    worker = TocsinWorker([q], connection=redis, serializer=JSONSerializer)
    worker.pid = _dead_pid()
    worker.register_birth()
    q.remove(job.id)  # dequeued
    worker.prepare_execution(job)
    with system.runtime.sessions.begin() as session:
        sending.claim(session, ids)
        # The provider's callback for the first message came in: it was sent.
        session.execute(update(Delivery).where(Delivery.id == ids[0]).values(
            status=DeliveryStatus.SENT, status_rank=3, provider_message_id="SMx"))
    assert recover_dead_workers(redis) == 1
    assert recover_dead_workers(redis) == 0  # once
    handed = [Job.fetch(i, connection=redis, serializer=JSONSerializer) for i in q.job_ids]
    assert [j.func_name for j in handed] == ["ops.jobs.resend_abandoned"]
    args = handed[0].args
    assert args[:3] == [alert_id, "sms", ids] or args[:3] == (alert_id, "sms", ids)
    q.empty()
    await asyncio.to_thread(jobs.resend_abandoned, *args[:4], 0)
    await system.callbacks_settled()
    inbox = {i: len(system.sandbox.inbox(f"+1202555{n:04d}")) for n, i in enumerate(ids)}
    assert inbox[ids[0]] == 0 and all(inbox[i] == 1 for i in ids[1:]), inbox


async def test_claims_made_after_the_death_are_not_released(system: System) -> None:
    _, ids = await _pending(system, 3)
    died = utcnow()
    with system.runtime.sessions.begin() as session:
        sending.claim(session, ids[:2])
        session.execute(update(Delivery).where(Delivery.id == ids[0]).values(claimed_at=died - timedelta(seconds=5)))
        session.execute(update(Delivery).where(Delivery.id == ids[1]).values(claimed_at=died + timedelta(seconds=5)))
        assert sending.release_claims(session, ids, died) == 1
        states = dict(session.execute(select(Delivery.id, Delivery.status).where(Delivery.id.in_(ids))).all())
    assert [states[i] for i in ids] == [DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.PENDING]
