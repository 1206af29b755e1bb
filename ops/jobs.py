"""RQ job entry points. RQ calls them by import path with ids; they call the core with live objects.

A worker process builds its `Runtime` once, from the environment `tocsin serve` or the operator gave
it, on its first job (RQ offers no other hook to hand objects to module-level job functions).
"""
from __future__ import annotations

import json
import logging
from datetime import datetime

from redis import Redis
from redis.exceptions import RedisError
from rq import Retry
from rq.exceptions import DuplicateJobError
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from alerting import dispatch, sending
from escalation import engine
from ops import defaults
from ops.queues import DEFAULT, URGENT, queue
from ops.runtime import Runtime
from ops.settings import Settings

log = logging.getLogger(__name__)

_runtime: Runtime | None = None


def use_runtime(runtime: Runtime | None) -> None:
    """Set the runtime jobs in this process use (workers started in-process, tests)."""
    global _runtime
    _runtime = runtime


def runtime() -> Runtime:
    global _runtime
    if _runtime is None:
        _runtime = Runtime.build(Settings.from_env())
    return _runtime


def dispatch_alert(alert_id: int) -> int:
    rt = runtime()
    return dispatch.dispatch_alert(rt.sessions, rt.enqueuer, alert_id, chunk_size=defaults.RESOLVE_CHUNK,
                                   batch_size=rt.settings.batch_size)


def send_batch(alert_id: int, channel: str, delivery_ids: list[int]) -> dict[str, int]:
    rt = runtime()
    return sending.send_batch(rt.sessions, rt.sender, rt.send_options, alert_id, channel, delivery_ids)


# --- Escalation (escalation/engine.py): the scheduled run of a policy step, and its scheduler. ---

#: States of a job that will not run again by itself.
ENDED_JOB_STATUSES = (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED)
#: Longest one escalation run may take (it writes a delivery per silent person and channel).
ESCALATE_JOB_TIMEOUT_S = 600


class RQStepScheduler:
    """`escalation.engine.StepScheduler` on RQ: one scheduled job per run, with a deterministic id."""

    def __init__(self, redis: Redis):
        self._redis = redis

    def schedule_step(self, alert_id: int, step_index: int, round: int, at: datetime, *, urgent: bool) -> bool:
        q = queue(self._redis, URGENT if urgent else DEFAULT)
        job_id = engine.step_job_id(alert_id, step_index, round)
        for _ in range(2):
            try:
                q.enqueue_at(at, "ops.jobs.escalate", alert_id, step_index, round, job_id=job_id, unique=True,
                             job_timeout=ESCALATE_JOB_TIMEOUT_S, retry=Retry(max=3, interval=[5, 30, 120]),
                             result_ttl=86400, failure_ttl=7 * 86400,
                             description=f"escalate alert {alert_id} step {step_index} round {round}")
                return True
            except DuplicateJobError:
                # Scheduled, queued or running: leave it. Ended (failed for good, say) and yet the run
                # is not recorded, which is why we are asked again: replace it.
                old = Job.fetch(job_id, connection=self._redis, serializer=JSONSerializer)
                if old.get_status(refresh=True) not in ENDED_JOB_STATUSES:
                    return False
                old.delete()
        return False


def publisher(redis: Redis) -> engine.Publish:
    """Announce live changes on Redis pub/sub; a failed publish never fails the work it reports."""
    def publish(channel: str, message: dict) -> None:
        try:
            redis.publish(channel, json.dumps(message))
        except RedisError:
            log.warning("could not publish on %s", channel)
    return publish


def escalate(alert_id: int, step_index: int, round: int) -> dict:
    rt = runtime()
    result = engine.run_step(rt.sessions, rt.enqueuer, alert_id, step_index, round,
                             batch_size=rt.settings.batch_size, public_url=rt.settings.effective_public_url,
                             publish=publisher(rt.redis))
    return {"ran": result.ran, "people": result.people, "messages": result.messages,
            "notice_alert_id": result.notice_alert_id}
