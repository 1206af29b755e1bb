"""RQ queues: names, priorities, and the Enqueuer the core uses to hand work to workers.

Every worker listens to every queue, in one strict order (`QUEUE_NAMES`): a free worker always
takes the first job of the first non-empty queue, so an emergency alert never waits behind a drill
or a bulk run. Running jobs are not interrupted; priority decides what starts next.

    tocsin-urgent        live alerts: dispatch, SMS and push sends, escalation steps, scheduled
                         sends coming due, CAP feed polls (a followed feed may send a live alert)
    tocsin-urgent-slow   live alerts' voice and email sends: a batch of calls under a provider's
                         calls-per-second limit takes minutes, and must not hold up the texts of
                         the same alert (SMS and push reach people in seconds)
    tocsin-default       drills, every channel (a drill is real traffic, but never first)
    tocsin-bulk          work that can wait hours: the daily retention run, imports, exports

Queue names are stable across releases: jobs already in Redis at an upgrade still run. Jobs carry
ids only (JSON serializer); the database holds every piece of state they need.
"""
from __future__ import annotations

from typing import Sequence

from redis import Redis
from rq import Queue, Retry
from rq.serializers import JSONSerializer

from alerting.statuses import Channel
from ops import defaults

URGENT, URGENT_SLOW, DEFAULT, BULK = "tocsin-urgent", "tocsin-urgent-slow", "tocsin-default", "tocsin-bulk"
#: The order every worker listens in: strictly first to last.
QUEUE_NAMES = (URGENT, URGENT_SLOW, DEFAULT, BULK)
#: Channels whose send batches go to `URGENT_SLOW` for a live alert (voice calls and email).
SLOW_CHANNELS = frozenset({Channel.VOICE, Channel.EMAIL})
#: Longest a send job may run before RQ considers it stuck (a batch at 100 ms per call takes ~1 s).
SEND_JOB_TIMEOUT_S = 600
DISPATCH_JOB_TIMEOUT_S = 3600


def queue(redis: Redis, name: str) -> Queue:
    return Queue(name, connection=redis, serializer=JSONSerializer)


def alert_queue_name(*, urgent: bool) -> str:
    """Where an alert's own work goes (dispatch, escalation, a scheduled send): live or drill."""
    return URGENT if urgent else DEFAULT


def send_queue_name(channel: str, *, urgent: bool) -> str:
    """Where an alert's send batches on `channel` go: a live alert's SMS and push first."""
    if not urgent:
        return DEFAULT
    return URGENT_SLOW if channel in SLOW_CHANNELS else URGENT


class RQEnqueuer:
    """The core's `alerting.dispatch.Enqueuer`, on RQ."""

    def __init__(self, redis: Redis, *, retry_intervals: Sequence[int] = defaults.SEND_RETRY_INTERVALS):
        self._redis = redis
        self._retry_intervals = list(retry_intervals)

    @property
    def max_tries(self) -> int:
        """Provider calls allowed per message: the first plus one per retry."""
        return len(self._retry_intervals) + 1

    def enqueue_dispatch(self, alert_id: int, *, urgent: bool) -> None:
        queue(self._redis, alert_queue_name(urgent=urgent)).enqueue(
            "ops.jobs.dispatch_alert", alert_id, job_timeout=DISPATCH_JOB_TIMEOUT_S,
            retry=Retry(max=3, interval=[1, 5, 15]), description=f"dispatch alert {alert_id}")

    def enqueue_sends(self, alert_id: int, channel: str, batches: Sequence[Sequence[int]], *, urgent: bool) -> None:
        if not batches:
            return
        q = queue(self._redis, send_queue_name(channel, urgent=urgent))
        retry = Retry(max=len(self._retry_intervals), interval=self._retry_intervals)
        q.enqueue_many([
            Queue.prepare_data("ops.jobs.send_batch", args=(alert_id, channel, list(batch)),
                               timeout=SEND_JOB_TIMEOUT_S, retry=retry, result_ttl=300, failure_ttl=7 * 86400,
                               description=f"send alert {alert_id} {channel} x{len(batch)}")
            for batch in batches])
