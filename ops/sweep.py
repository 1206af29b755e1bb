"""The periodic sweep: a stuck message never waits for the next restart.

What recovers a message otherwise runs only at start-up (ops/recovery.py, ops/reconcile.py) or
relies on an event that can be lost: RQ's scheduler can drop a job it was moving, Redis can come
back empty, a scheduler failover takes minutes, and a status callback posted while the database was
down is gone for good. So every TOCSIN_SWEEP_INTERVAL_S one job, `sweep`, compares what the
database says is unfinished with what RQ still holds, and asks the provider about the rest:

1. jobs of this host's dead workers are handed back (`recover_dead_workers`, as at start-up);
2. messages claimed (`sending`) longer than any send job may run go back to `pending`
   (`sending.requeue_stale`) and their alerts' pending messages are enqueued again;
3. messages `pending` for PENDING_GRACE with no send job for them anywhere in RQ (queued, being
   dequeued, running, scheduled for a retry) are enqueued again; so is the dispatch of an alert
   still resolving its recipients whose dispatch job is gone;
4. an alert `sending` with nothing left waiting is marked `sent`;
5. SMS and calls still `queued`/`sent` TOCSIN_STATUS_QUERY_AFTER_S after anything last happened to
   them are looked up at the provider and the answers applied as callbacks are, forward only
   (ops/status_queries.py).

Every step is idempotent: a claim decides who sends, so a batch enqueued twice is sent once. Runs
do not overlap (a Redis lock), and each period has one job id, so however many processes arm the
sweep (each run arms the next; start-up and the web process's safety net arm it through
`ops.jobs.ensure_scheduled_jobs`, which also heals a chain Redis or the scheduler lost), it runs
once per period. While RQ's scheduler fails over, the sweep waits with everything else scheduled.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from redis import Redis
from redis.exceptions import LockError
from rq.exceptions import DeserializationError, DuplicateJobError
from rq.job import Job, parse_job_id
from rq.registry import DeferredJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from rq.serializers import JSONSerializer
from rq.utils import current_timestamp

from alerting import sweep as stuck
from ops import jobs, status_queries
from ops.queues import QUEUE_NAMES, SEND_JOB_TIMEOUT_S, URGENT, queue
from ops.recovery import recover_dead_workers
from ops.runtime import Runtime

log = logging.getLogger(__name__)

#: A pending message untouched this long and in no RQ job is enqueued again. Longer than a
#: dispatch takes between committing a chunk and enqueuing its jobs (milliseconds), so a sweep
#: never races a dispatch; short enough that a lost job costs a minute or two.
PENDING_GRACE = timedelta(seconds=60)
#: A claim older than this has no job behind it any more: RQ stops a send job after
#: SEND_JOB_TIMEOUT_S; the extra minute lets a job that was just stopped finish dying.
STALE_CLAIM = timedelta(seconds=SEND_JOB_TIMEOUT_S + 60)
#: Longest a run may take; also how long its lock lives if its worker dies.
SWEEP_JOB_TIMEOUT_S = 300
#: Kept past the run, so the period's id stays taken while a process whose clock runs behind
#: might still arm that period; only future periods are ever armed, so minutes are plenty.
SWEEP_RESULT_TTL_S = 600
LOCK_KEY = "tocsin:sweep:running"

#: RQ jobs that send the deliveries listed in their third argument, and the dispatch job.
SEND_JOBS = frozenset({"ops.jobs.send_batch", "ops.jobs.resend_abandoned"})
DISPATCH_JOB = "ops.jobs.dispatch_alert"
FETCH_CHUNK = 500


# --- Arming: one job per period ---------------------------------------------------------------

def sweep_job_id(at: datetime) -> str:
    """The one job of the period starting at `at`: arming it again changes nothing."""
    return f"sweep-{int(at.timestamp())}"


def next_period(interval_s: int, now: datetime) -> datetime:
    """The start of the next period, counted from the Unix epoch, so every process agrees on it."""
    if interval_s < 1:
        raise ValueError(f"the sweep interval must be at least 1 second, got {interval_s!r}")
    start = (int(now.timestamp()) // interval_s + 1) * interval_s
    return datetime.fromtimestamp(start, UTC)


def schedule_sweep(redis: Redis, interval_s: int, *, now: datetime | None = None) -> bool:
    """Arm the sweep of the next period after `now`; False if that period's job already exists."""
    at = next_period(interval_s, now or datetime.now(UTC))
    try:
        queue(redis, URGENT).enqueue_at(at, "ops.sweep.sweep", int(at.timestamp()), job_id=sweep_job_id(at),
                                        unique=True, job_timeout=SWEEP_JOB_TIMEOUT_S, result_ttl=SWEEP_RESULT_TTL_S,
                                        failure_ttl=86400, description=f"sweep {at:%H:%M:%S}")
        return True
    except DuplicateJobError:
        return False


def sweep(period: int) -> dict[str, int]:
    """The RQ job of the period starting at `period` (Unix seconds). It arms the next period first,
    so a run that fails still has a successor; counted from its own period, not the clock, so a run
    released early (clocks differ between hosts) does not re-arm itself."""
    rt = jobs.runtime()
    own = datetime.fromtimestamp(period, UTC)
    schedule_sweep(rt.redis, rt.settings.sweep_interval_s, now=max(own, datetime.now(UTC)))
    return run_sweep(rt) or {"skipped": 1}


# --- One run ----------------------------------------------------------------------------------

def run_sweep(rt: Runtime) -> dict[str, int] | None:
    """One sweep; returns what it did, or None if another run holds the lock."""
    lock = rt.redis.lock(LOCK_KEY, timeout=SWEEP_JOB_TIMEOUT_S, blocking=False)
    if not lock.acquire():
        return None
    try:
        done = {"workers": recover_dead_workers(rt.redis)}
        with rt.sessions.begin() as session:
            released = stuck.release_stale_claims(session, STALE_CLAIM, rt.settings.batch_size)
        done["released"] = _enqueue(rt, released)
        # RQ first, then the database: a job that starts, fails or is enqueued in between touches
        # its rows, which are then too young to be taken for lost.
        in_rq = work_in_rq(rt.redis)
        with rt.sessions() as session:
            stale = stuck.stale_pending(session, PENDING_GRACE)
            resolving = stuck.undispatched(session, PENDING_GRACE)
        lost = [stuck.Waiting(w.alert_id, w.channel, w.urgent, ids) for w in stale
                if (ids := [i for i in w.delivery_ids if i not in in_rq.delivery_ids])]
        done["requeued"] = _enqueue(rt, lost)
        redispatched = [(alert_id, urgent) for alert_id, urgent in resolving if alert_id not in in_rq.dispatching]
        for alert_id, urgent in redispatched:
            rt.enqueuer.enqueue_dispatch(alert_id, urgent=urgent)
        done["redispatched"] = len(redispatched)
        done["finished"] = len(stuck.finish_idle(rt.sessions))
        done.update(status_queries.query_unconfirmed(rt))
    finally:
        try:
            lock.release()
        except LockError:  # it expired during a very long run; the next run takes it anew
            pass
    if any(done.values()):
        log.warning("sweep: %s", ", ".join(f"{k} {v}" for k, v in done.items() if v))
    return done


def _enqueue(rt: Runtime, waiting: Iterable[stuck.Waiting]) -> int:
    size, count = rt.settings.batch_size, 0
    for w in waiting:
        rt.enqueuer.enqueue_sends(w.alert_id, w.channel, [w.delivery_ids[i:i + size]
                                                          for i in range(0, len(w.delivery_ids), size)],
                                  urgent=w.urgent)
        count += len(w.delivery_ids)
        log.info("alert %s: %d %s message(s) had no send job; enqueued again", w.alert_id,
                 len(w.delivery_ids), w.channel, extra={"alert_id": w.alert_id})
    return count


@dataclass(frozen=True)
class WorkInRQ:
    """What RQ will still run: the deliveries of its send jobs, the alerts of its dispatch jobs."""
    delivery_ids: frozenset[int]
    dispatching: frozenset[int]


def work_in_rq(redis: Redis) -> WorkInRQ:
    """Every job waiting, being dequeued, running, scheduled (a retry) or deferred, on every queue.

    The lists and registries are read in one MULTI/EXEC, so a job moving from one to the next at
    that moment is seen in one of them. Finished and failed jobs do not count: they will not run;
    nor does a running job whose worker stopped renewing it (its entry expired: the worker is dead,
    RQ's own cleanup just has not noticed yet)."""
    with redis.pipeline(transaction=True) as pipe:
        for name in QUEUE_NAMES:
            q = queue(redis, name)
            pipe.lrange(q.key, 0, -1)
            pipe.lrange(q.intermediate_queue_key, 0, -1)
            pipe.zrangebyscore(StartedJobRegistry(queue=q).key, current_timestamp(), "+inf")
            pipe.zrange(ScheduledJobRegistry(queue=q).key, 0, -1)
            pipe.zrange(DeferredJobRegistry(queue=q).key, 0, -1)
        found = pipe.execute()
    ids = sorted({parse_job_id(e.decode() if isinstance(e, bytes) else e) for entries in found for e in entries})
    deliveries: set[int] = set()
    dispatching: set[int] = set()
    for start in range(0, len(ids), FETCH_CHUNK):
        for job in Job.fetch_many(ids[start:start + FETCH_CHUNK], connection=redis, serializer=JSONSerializer):
            if job is None:
                continue
            try:
                func, args = job.func_name, job.args
            except (DeserializationError, ValueError, TypeError):
                continue  # not a job of ours
            if func in SEND_JOBS and len(args) >= 3:
                deliveries.update(int(i) for i in args[2])
            elif func == DISPATCH_JOB and args:
                dispatching.add(int(args[0]))
    return WorkInRQ(frozenset(deliveries), frozenset(dispatching))
