"""RQ queues: names, priorities, and the Enqueuer the core uses to hand work to workers.

Queues are separated by priority so an emergency alert never waits behind a drill: workers always
take from `urgent` first, then `default`, then `bulk`. Jobs carry ids only (JSON serializer); the
database holds every piece of state they need.
"""
from __future__ import annotations

from typing import Sequence

from redis import Redis
from rq import Queue, Retry
from rq.serializers import JSONSerializer

from ops import defaults

URGENT, DEFAULT, BULK = "tocsin-urgent", "tocsin-default", "tocsin-bulk"
#: The order every worker listens in.
QUEUE_NAMES = (URGENT, DEFAULT, BULK)
#: Longest a send job may run before RQ considers it stuck (a batch at 100 ms per call takes ~1 s).
SEND_JOB_TIMEOUT_S = 600
DISPATCH_JOB_TIMEOUT_S = 3600


def queue(redis: Redis, name: str) -> Queue:
    return Queue(name, connection=redis, serializer=JSONSerializer)


class RQEnqueuer:
    """The core's `alerting.dispatch.Enqueuer`, on RQ."""

    def __init__(self, redis: Redis, *, retry_intervals: Sequence[int] = defaults.SEND_RETRY_INTERVALS):
        self._redis = redis
        self._retry_intervals = list(retry_intervals)

    @property
    def max_tries(self) -> int:
        """Provider calls allowed per message: the first plus one per retry."""
        return len(self._retry_intervals) + 1

    def _queue(self, urgent: bool) -> Queue:
        return queue(self._redis, URGENT if urgent else DEFAULT)

    def enqueue_dispatch(self, alert_id: int, *, urgent: bool) -> None:
        self._queue(urgent).enqueue("ops.jobs.dispatch_alert", alert_id, job_timeout=DISPATCH_JOB_TIMEOUT_S,
                                    retry=Retry(max=3, interval=[1, 5, 15]),
                                    description=f"dispatch alert {alert_id}")

    def enqueue_sends(self, alert_id: int, channel: str, batches: Sequence[Sequence[int]], *, urgent: bool) -> None:
        if not batches:
            return
        q = self._queue(urgent)
        retry = Retry(max=len(self._retry_intervals), interval=self._retry_intervals)
        q.enqueue_many([
            Queue.prepare_data("ops.jobs.send_batch", args=(alert_id, channel, list(batch)),
                               timeout=SEND_JOB_TIMEOUT_S, retry=retry, result_ttl=300, failure_ttl=7 * 86400,
                               description=f"send alert {alert_id} {channel} x{len(batch)}")
            for batch in batches])
