"""Jobs a dead worker held, handed back to the queues when a worker starts.

RQ notices an abandoned job only when its started-registry entry expires: the job's timeout (600 s
for a send job), found by a later maintenance pass. Too late for an alert, and even then the re-run
would find its messages claimed (`sending`) and send nothing. So a worker starting (the pool starts
a new one a second after one dies; `serve` runs this at start too) looks for workers registered from
this host whose process is gone, and for each, once (a Redis flag), hands its current job back:

- a send job becomes `resend_abandoned`, which waits until RESEND_GRACE_S after the death: its messages still `sending` with a
  claim older than the death are returned to `pending` and sent. The grace gives the provider time
  to report, by status callback, the messages it did take (they move past `sending` and are not sent
  again): this is the duplicate window, bounded by what a worker had in flight when it died;
- any other job (dispatch, escalation step, scheduled send) is enqueued again as it was: each is
  idempotent.
"""
from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta

from redis import Redis
from rq import Retry, Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer

from alerting.models import utcnow
from ops import defaults
from ops.queues import SEND_JOB_TIMEOUT_S, queue

log = logging.getLogger(__name__)

#: How long after a worker's death its claimed messages wait for the provider's callbacks before
#: they are sent again (a Twilio `sent` callback usually comes within seconds).
RESEND_GRACE_S = 10
#: How long the "already recovered" flag of a dead worker is kept (longer than a worker key lives).
RECOVERED_FLAG_TTL_S = 3600


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover_dead_workers(redis: Redis) -> int:
    """Hand back the jobs of this host's dead workers; returns how many jobs were handed back."""
    host, handed = socket.gethostname(), 0
    for worker in Worker.all(connection=redis, serializer=JSONSerializer):
        if worker.hostname != host or not worker.pid or worker.pid == os.getpid() or _alive(worker.pid):
            continue
        if not redis.set(f"tocsin:recovered-worker:{worker.name}", 1, nx=True, ex=RECOVERED_FLAG_TTL_S):
            continue  # another worker starting at the same moment took it
        job_id = worker.get_current_job_id()
        worker.register_death()
        try:
            if job_id and _hand_back(redis, job_id):
                handed += 1
                log.warning("worker %s (pid %s) died holding job %s; handed back", worker.name, worker.pid, job_id)
        except Exception:  # never keep a worker from starting; RQ's own cleanup remains, much later
            log.exception("could not hand back job %s of dead worker %s", job_id, worker.name)
    return handed


def _hand_back(redis: Redis, job_id: str) -> bool:
    try:
        job = Job.fetch(job_id, connection=redis, serializer=JSONSerializer)
    except NoSuchJobError:
        return False
    q = queue(redis, job.origin)
    StartedJobRegistry(job.origin, connection=redis, serializer=JSONSerializer).remove_executions(job)
    if job.func_name == "ops.jobs.send_batch":
        alert_id, channel, delivery_ids = job.args
        # Enqueued now, not with enqueue_in: RQ's scheduler lock may be held by the dead worker for a
        # minute. The job itself waits out what is left of the grace (ops/jobs.py resend_abandoned).
        died_by = (utcnow() + timedelta(seconds=1)).isoformat()
        q.enqueue("ops.jobs.resend_abandoned", alert_id, channel, delivery_ids, died_by, RESEND_GRACE_S,
                  job_timeout=SEND_JOB_TIMEOUT_S,
                  retry=Retry(max=len(defaults.SEND_RETRY_INTERVALS), interval=list(defaults.SEND_RETRY_INTERVALS)),
                  result_ttl=300, failure_ttl=7 * 86400,
                  description=f"resend abandoned alert {alert_id} {channel} x{len(delivery_ids)}")
    else:
        q.enqueue_job(job)
    return True
