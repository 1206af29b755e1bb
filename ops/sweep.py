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
   them are looked up through the official Twilio client (`messages(sid).fetch_async()`,
   `calls(sid).fetch_async()`), at most STATUS_QUERIES_PER_SWEEP a run, STATUS_QUERY_CONCURRENCY at
   a time and STATUS_QUERY_RATE a second, and the answers applied as callbacks are
   (`deliveries.apply_statuses`: forward only). A message whose status the provider still does not
   confirm after STATUS_QUERIES_MAX queries (or that it does not know) is marked `status-unknown`
   with the reason, and not asked about again.

Every step is idempotent: a claim decides who sends, so a batch enqueued twice is sent once. Runs
do not overlap (a Redis lock), and each period has one job id, so however many processes arm the
sweep (each run arms the next; start-up and the web process's safety net arm it through
`ops.jobs.ensure_scheduled_jobs`, which also heals a chain Redis or the scheduler lost), it runs
once per period. While RQ's scheduler fails over, the sweep waits with everything else scheduled.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import aiohttp
from redis import Redis
from redis.exceptions import LockError
from rq.exceptions import DeserializationError, DuplicateJobError
from rq.job import Job, parse_job_id
from rq.registry import DeferredJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from rq.serializers import JSONSerializer
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from alerting import sweep as stuck
from alerting.deliveries import TWILIO_STATUS, StatusReport
from alerting.statuses import DELIVERY_RANK, Channel
from channels.twilio_http import RebasedAsyncTwilioHttpClient
from ops import jobs
from ops.queues import QUEUE_NAMES, SEND_JOB_TIMEOUT_S, URGENT, queue
from ops.recovery import recover_dead_workers
from ops.runtime import Runtime
from ops.settings import Settings

log = logging.getLogger(__name__)

#: A pending message untouched this long and in no RQ job is enqueued again. Longer than a
#: dispatch takes between committing a chunk and enqueuing its jobs (milliseconds), so a sweep
#: never races a dispatch; short enough that a lost job costs a minute or two.
PENDING_GRACE = timedelta(seconds=60)
#: A claim older than this has no job behind it any more: RQ stops a send job after
#: SEND_JOB_TIMEOUT_S; the extra minute lets a job that was just stopped finish dying.
STALE_CLAIM = timedelta(seconds=SEND_JOB_TIMEOUT_S + 60)
#: Status queries per message before the sweep stops asking (spaced by the query limit).
STATUS_QUERIES_MAX = 3
#: At most this many status queries a run, so a run stays short (it holds an urgent worker):
#: 200 at 50/s is 4 s; a backlog after a long outage is worked through run by run.
STATUS_QUERIES_PER_SWEEP = 200
STATUS_QUERY_RATE = 50.0
STATUS_QUERY_CONCURRENCY = 10
#: How long a message's query count is kept (far longer than its queries are spaced).
STATUS_QUERY_COUNT_TTL_S = 7 * 86400
#: Longest a run may take; also how long its lock lives if its worker dies.
SWEEP_JOB_TIMEOUT_S = 300
#: Kept past the run, so the period's id stays taken while anyone might still arm that period.
SWEEP_RESULT_TTL_S = 3600
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
        done.update(query_unconfirmed(rt))
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
    that moment is seen in one of them. Finished and failed jobs do not count: they will not run."""
    keys: list[tuple[str, str]] = []
    for name in QUEUE_NAMES:
        q = queue(redis, name)
        keys += [("list", q.key), ("list", q.intermediate_queue_key)]
        keys += [("zset", r.key) for r in (StartedJobRegistry(queue=q), ScheduledJobRegistry(queue=q),
                                            DeferredJobRegistry(queue=q))]
    with redis.pipeline(transaction=True) as pipe:
        for kind, key in keys:
            pipe.lrange(key, 0, -1) if kind == "list" else pipe.zrange(key, 0, -1)
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


# --- Asking the provider ------------------------------------------------------------------------

@dataclass(frozen=True)
class Answer:
    """What one status query found. Neither a status nor `unknown`: no answer this time (network,
    5xx, 429, credentials); the message is asked about again after the limit, uncounted."""
    status: str | None = None      # the provider's own status word ("delivered", "completed", ...)
    error_code: str | None = None
    unknown: bool = False          # the provider has no such message (404)


def twilio_accounts(settings: Settings) -> dict[str, tuple[str, str, str | None]]:
    """Each Twilio account (SID, token, API base) by the provider name its receipts carry
    (ops/runtime.py names them "twilio" and "twilio-secondary")."""
    accounts = {}
    if settings.twilio_account_sid and settings.twilio_auth_token:
        accounts["twilio"] = (settings.twilio_account_sid, settings.twilio_auth_token, settings.twilio_api_base)
    if settings.twilio_secondary_account_sid and settings.twilio_secondary_auth_token:
        accounts["twilio-secondary"] = (settings.twilio_secondary_account_sid, settings.twilio_secondary_auth_token,
                                        settings.twilio_secondary_api_base)
    return accounts


class _Pace:
    """Spaces calls `1/rate` seconds apart, across every task of one run."""

    def __init__(self, rate: float):
        self._interval = 1 / rate if rate > 0 else 0.0
        self._next = 0.0

    async def wait(self) -> None:
        now = asyncio.get_running_loop().time()
        at = max(now, self._next)
        self._next = at + self._interval
        if at > now:
            await asyncio.sleep(at - now)


async def fetch_statuses(accounts: dict[str, tuple[str, str, str | None]], rows: list[stuck.Unconfirmed], *,
                         concurrency: int = STATUS_QUERY_CONCURRENCY, rate: float = STATUS_QUERY_RATE) -> list[Answer]:
    """Fetch each row's Message or Call resource through the official client; answers in row order.
    Rows whose provider account is not configured get no answer (the caller gives up on them)."""
    clients: dict[str, Client] = {}
    for name in sorted({r.provider for r in rows} & set(accounts)):
        sid, token, base = accounts[name]
        clients[name] = Client(sid, token, http_client=RebasedAsyncTwilioHttpClient(base, max_connections=concurrency))
    gate, pace = asyncio.Semaphore(concurrency), _Pace(rate)

    async def one(row: stuck.Unconfirmed) -> Answer:
        client = clients.get(row.provider)
        if client is None:
            return Answer()
        context = (client.calls if row.channel == Channel.VOICE else client.messages)(row.provider_message_id)
        async with gate:
            await pace.wait()
            try:
                found = await context.fetch_async()
            except TwilioRestException as exc:
                return Answer(unknown=exc.status == 404)
            except (TimeoutError, aiohttp.ClientError, OSError, TwilioException, ValueError, KeyError):
                return Answer()
        code = getattr(found, "error_code", None)
        return Answer(status=str(found.status) if found.status else None, error_code=str(code) if code else None)

    try:
        return list(await asyncio.gather(*(one(r) for r in rows)))
    finally:
        for client in clients.values():
            await client.http_client.close()  # type: ignore[attr-defined]


def status_queries_key(delivery_id: int) -> str:
    """How many times the sweep asked the provider about this delivery without learning anything."""
    return f"tocsin:status-queries:{delivery_id}"


def query_unconfirmed(rt: Runtime) -> dict[str, int]:
    """Step 5: ask the provider about messages left `queued`/`sent`, and record what it says."""
    with rt.sessions() as session:
        rows = stuck.unconfirmed(session, timedelta(seconds=rt.settings.status_query_after_s),
                                 STATUS_QUERIES_PER_SWEEP)
    if not rows:
        return {}
    accounts = twilio_accounts(rt.settings)
    loop = asyncio.new_event_loop()  # its own loop: the worker's sending loop is not running now
    try:
        answers = loop.run_until_complete(fetch_statuses(accounts, rows))
    finally:
        loop.close()
    reports: list[StatusReport] = []
    give_up: dict[int, str] = {}
    uncounted = 0
    counted: list[tuple[stuck.Unconfirmed, Answer]] = []
    for row, answer in zip(rows, answers):
        if row.provider not in accounts:
            give_up[row.delivery_id] = f"no provider account named {row.provider!r} is configured to ask"
        elif answer.status is not None:
            reports.append(StatusReport(row.delivery_id, row.provider_message_id, answer.status, answer.error_code))
            status = TWILIO_STATUS.get(answer.status.lower())
            if not status or DELIVERY_RANK[status] <= row.rank:  # nothing new: this query counts
                counted.append((row, answer))
        elif answer.unknown:
            counted.append((row, answer))
        else:
            uncounted += 1
    if counted:
        with rt.redis.pipeline(transaction=False) as pipe:
            for row, _ in counted:
                pipe.incr(status_queries_key(row.delivery_id))
                pipe.expire(status_queries_key(row.delivery_id), STATUS_QUERY_COUNT_TTL_S)
            asked = pipe.execute()[::2]
        for (row, answer), times in zip(counted, asked):
            if int(times) >= STATUS_QUERIES_MAX:
                give_up[row.delivery_id] = (
                    f"the provider does not know message {row.provider_message_id}" if answer.unknown else
                    f"the provider still reported {answer.status!r} after {times} status queries")
    with rt.sessions.begin() as session:
        moved = stuck.record_status_queries(session, rows, reports, give_up)
    if uncounted:
        log.warning("sweep: %d of %d status queries got no answer; asked again later", uncounted, len(rows))
    return {"queried": len(rows), "confirmed": moved, "gave_up": len(give_up)}
