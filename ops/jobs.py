"""RQ job entry points. RQ calls them by import path with ids; they call the core with live objects.

A worker process builds its `Runtime` once, from the environment `tocsin serve` or the operator gave
it, on its first job (RQ offers no other hook to hand objects to module-level job functions).
"""
from __future__ import annotations

import json
import logging
import time
from datetime import datetime

from redis import Redis
from redis.exceptions import RedisError
from rq import Retry
from rq.exceptions import DuplicateJobError
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from alerting import dispatch, launching, sending
from alerting.models import utcnow
from escalation import engine
from ops import defaults
from ops.queues import BULK, alert_queue_name, queue
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


def resend_abandoned(alert_id: int, channel: str, delivery_ids: list[int], died_by: str,
                     grace_s: float = 0) -> dict[str, int]:
    """A send job whose worker died (ops/recovery.py): once `grace_s` after the death has passed (the
    provider's callbacks move on what it did take), its claims older than the death go back to
    `pending`, then the batch is sent as usual."""
    died = datetime.fromisoformat(died_by)
    wait = grace_s - (utcnow() - died).total_seconds()
    if wait > 0:
        time.sleep(min(wait, grace_s))
    rt = runtime()
    with rt.sessions.begin() as session:
        released = sending.release_claims(session, delivery_ids, died)
    if released:
        log.warning("alert %s: %d %s message(s) of a dead worker sent again", alert_id, released, channel)
    return sending.send_batch(rt.sessions, rt.sender, rt.send_options, alert_id, channel, delivery_ids)


# --- Escalation (escalation/engine.py): the scheduled run of a policy step, and its scheduler. ---

#: States of a job that will not run again by itself.
ENDED_JOB_STATUSES = (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED)
#: Longest one escalation run may take (it writes a delivery per silent person and channel).
ESCALATE_JOB_TIMEOUT_S = 600


def schedule_once(redis: Redis, queue_name: str, at: datetime, func: str, *args: object, job_id: str,
                  job_timeout: int, description: str) -> bool:
    """Schedule `func(*args)` at `at` under the deterministic `job_id`, once. False if that job is
    already scheduled, queued or running; one that ended (failed for good, say) while its work is
    still not recorded, which is why we are asked again, is replaced."""
    q = queue(redis, queue_name)
    for _ in range(2):
        try:
            q.enqueue_at(at, func, *args, job_id=job_id, unique=True, job_timeout=job_timeout,
                         retry=Retry(max=3, interval=[5, 30, 120]), result_ttl=86400, failure_ttl=7 * 86400,
                         description=description)
            return True
        except DuplicateJobError:
            old = Job.fetch(job_id, connection=redis, serializer=JSONSerializer)
            if old.get_status(refresh=True) not in ENDED_JOB_STATUSES:
                return False
            old.delete()
    return False


class RQStepScheduler:
    """`escalation.engine.StepScheduler` on RQ: one scheduled job per run, with a deterministic id."""

    def __init__(self, redis: Redis):
        self._redis = redis

    def schedule_step(self, alert_id: int, step_index: int, round: int, at: datetime, *, urgent: bool) -> bool:
        return schedule_once(self._redis, alert_queue_name(urgent=urgent), at, "ops.jobs.escalate",
                             alert_id, step_index, round, job_id=engine.step_job_id(alert_id, step_index, round),
                             job_timeout=ESCALATE_JOB_TIMEOUT_S,
                             description=f"escalate alert {alert_id} step {step_index} round {round}")


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


# --- Scheduled sends (alerting/launching.py): one job per (alert, time), and the safety net. ---

#: Longest the job that starts a scheduled send may take (it only marks the alert and enqueues dispatch).
SEND_SCHEDULED_JOB_TIMEOUT_S = 120


def scheduled_send_job_id(alert_id: int, at: datetime) -> str:
    """The one job id of an alert's send at a time; a reschedule gets a new id, the old job goes stale."""
    return f"send-scheduled-{alert_id}-{int(launching.utc(at).timestamp())}"


class RQSendScheduler:
    """Schedules the job that sends a scheduled alert at its time (workers run RQ's scheduler)."""

    def __init__(self, redis: Redis):
        self._redis = redis

    def schedule_send(self, alert_id: int, at: datetime, *, urgent: bool) -> bool:
        """Schedule the job (a time already past: due at once). False if it is already scheduled,
        queued or running; a job that ended while the alert is still scheduled is replaced."""
        at = launching.utc(at)
        return schedule_once(self._redis, alert_queue_name(urgent=urgent), at, "ops.jobs.send_scheduled",
                             alert_id, at.isoformat(), job_id=scheduled_send_job_id(alert_id, at),
                             job_timeout=SEND_SCHEDULED_JOB_TIMEOUT_S,
                             description=f"send scheduled alert {alert_id} at {at.isoformat()}")


def start_scheduled(rt: Runtime, alert_id: int, at: datetime, *, now: datetime | None = None) -> bool:
    """Send a scheduled alert if it is still scheduled for `at` and due; True if this call started it."""
    with rt.sessions.begin() as session:
        outcome = launching.start_due(session, alert_id, at, now=now)
        urgent = dispatch.is_urgent(outcome.alert)
    if outcome.changed:
        rt.enqueuer.enqueue_dispatch(alert_id, urgent=urgent)
        engine.schedule_alert(rt.sessions, RQStepScheduler(rt.redis), alert_id)
        log.info("alert %s: scheduled send started", alert_id)
    return outcome.changed


def send_scheduled(alert_id: int, at: str) -> dict:
    return {"started": start_scheduled(runtime(), alert_id, datetime.fromisoformat(at))}


def ensure_scheduled_jobs(rt: Runtime) -> int:
    """Make sure every scheduled alert has its job (Redis may have lost it); one already past its
    time is due at once. Returns how many jobs were (re)created. Idempotent: job ids are
    deterministic and a job sends only an alert still scheduled for its time. The periodic sweep
    (ops/sweep.py) is armed here too: at start-up, and by the web process's safety net should Redis
    or RQ's scheduler lose its chain."""
    from ops import sweep
    sweep.schedule_sweep(rt.redis, rt.settings.sweep_interval_s)
    with rt.sessions.begin() as session:
        pending = launching.scheduled(session)
    made = sum(RQSendScheduler(rt.redis).schedule_send(alert_id, at, urgent=not drill)
               for alert_id, at, drill in pending)
    if made:
        log.info("scheduled %d lost scheduled-send job(s) again", made)
    return made


# --- CAP feeds (ops/cap_poll.py): each followed feed is polled by a chain of self-re-arming jobs. ---

def poll_cap_feed(feed_id: int, token: str) -> dict:
    from ops import cap_poll
    return cap_poll.poll_chain(runtime(), feed_id, token)


# --- Retention (alerting/privacy.py): once a day, old deliveries and reply texts go. ---

#: When the daily retention run happens (UTC hour): a quiet time.
RETENTION_HOUR_UTC = 3


def retention_job_id(day: datetime) -> str:
    """One job per day: scheduling it again the same day changes nothing."""
    return f"retention-{day:%Y%m%d}"


def schedule_retention(redis: Redis, *, now: datetime | None = None) -> bool:
    """Schedule the next daily retention run (call at start-up; each run schedules the next)."""
    from datetime import timedelta, timezone
    now = now or datetime.now(timezone.utc)
    at = now.replace(hour=RETENTION_HOUR_UTC, minute=0, second=0, microsecond=0)
    if at <= now:
        at += timedelta(days=1)
    try:
        queue(redis, BULK).enqueue_at(at, "ops.jobs.retention", job_id=retention_job_id(at), unique=True,
                                      result_ttl=7 * 86400, failure_ttl=7 * 86400,
                                      retry=Retry(max=3, interval=[60, 600, 3600]),
                                      description=f"retention run {at:%Y-%m-%d}")
        return True
    except DuplicateJobError:
        return False


def retention() -> dict[str, int]:
    """Apply TOCSIN_RETENTION_DAYS_DELIVERIES and TOCSIN_RETENTION_DAYS_BODIES, then schedule tomorrow's run."""
    from alerting import privacy
    rt = runtime()
    with rt.sessions.begin() as session:
        counts = privacy.apply_retention(session, delivery_days=rt.settings.retention_days_deliveries,
                                         body_days=rt.settings.retention_days_bodies)
    schedule_retention(rt.redis)
    log.info("retention: %s", counts)
    return counts


# --- People imports (alerting/imports.py): a CSV from the console, imported on the bulk queue. ---

#: Longest one import job may run: 100,000 rows take about a minute; a slow disk, much more.
IMPORT_JOB_TIMEOUT_S = 3600


def import_job_id(import_id: int) -> str:
    """One job per import: asking again while it is queued or running changes nothing."""
    return f"import-{import_id}"


def enqueue_import(redis: Redis, import_id: int) -> bool:
    """Queue the import's job on the bulk queue (it never delays an alert). False if it is already
    queued or running; a job that ended with the import unfinished (it failed) is replaced, and the
    new run goes on from the import's last committed chunk."""
    q = queue(redis, BULK)
    for _ in range(2):
        try:
            q.enqueue("ops.jobs.import_people", import_id, job_id=import_job_id(import_id), unique=True,
                      job_timeout=IMPORT_JOB_TIMEOUT_S, retry=Retry(max=3, interval=[10, 60, 300]),
                      result_ttl=86400, failure_ttl=7 * 86400, description=f"import people (import {import_id})")
            return True
        except DuplicateJobError:
            old = Job.fetch(import_job_id(import_id), connection=redis, serializer=JSONSerializer)
            if old.get_status(refresh=True) not in ENDED_JOB_STATUSES:
                return False
            old.delete()
    return False


def import_people(import_id: int) -> dict:
    from alerting import imports
    return imports.run(runtime().sessions, import_id)
