"""Prometheus exposition: what the core counts (alerting/telemetry.py), across processes, plus the
work waiting in Redis, read at scrape time.

`tocsin serve` runs a web process and N worker processes; each counts in its own memory unless
prometheus-client's multiprocess mode is on. `use_multiprocess_dir` turns it on for this process
and every child started after it (they inherit the environment): each process writes its counters
to memory-mapped files in one directory, and a scrape of the web process's `/metrics` adds them
up. The directory is emptied at start, so counts begin at zero with each `serve`; the files of a
worker that died and was restarted stay, so counters never go backwards while `serve` runs.

A `tocsin worker` on another machine has no web process beside it: with `--metrics-port` it
answers scrapes itself (`serve_worker_metrics`); point Prometheus at each worker as well as at
the web processes. Queue depths come from the web processes only (they are the fleet's, not a
worker's), so they are not counted twice.

Nothing here is imported by prometheus-client at import time, on purpose: the multiprocess mode
must be chosen before prometheus-client makes its first metric (see `use_multiprocess_dir`).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Iterator

from redis import Redis
from redis.exceptions import RedisError

from ops.queues import QUEUE_NAMES

#: The variable prometheus-client reads; set for this process and inherited by its workers.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def use_multiprocess_dir(directory: Path) -> Path:
    """Count into `directory` (created, and emptied of an earlier run's files) from now on, in this
    process and in the processes it starts. Call before anything is counted. An operator's own
    PROMETHEUS_MULTIPROC_DIR is kept (a tmpfs, say); it is emptied just the same."""
    if os.environ.get(MULTIPROC_ENV):
        directory = Path(os.environ[MULTIPROC_ENV])
    values = sys.modules.get("prometheus_client.values")
    if values is not None and not values.ValueClass.__name__.startswith("MultiProcess"):
        raise RuntimeError("prometheus_client was imported before the multiprocess directory was set; "
                           "its counts would never reach /metrics")
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROC_ENV] = str(directory.resolve())
    return directory


def multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


class QueueCollector:
    """Jobs waiting, running, scheduled and failed in each queue, and live RQ workers, read from
    Redis at each scrape (a few O(1) commands)."""

    def __init__(self, redis: Redis):
        self.redis = redis

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily
        from rq import Worker
        from rq.registry import DeferredJobRegistry, FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry

        from ops.queues import queue

        jobs = GaugeMetricFamily("tocsin_queue_jobs", "RQ jobs in each queue, by state", labels=["queue", "state"])
        workers = GaugeMetricFamily("tocsin_workers", "RQ workers registered in Redis (alive within their TTL)")
        up = GaugeMetricFamily("tocsin_redis_up", "1 if Redis answered this scrape")
        try:
            for name in QUEUE_NAMES:
                q = queue(self.redis, name)
                jobs.add_metric([name, "queued"], q.count)
                for state, registry in (("started", StartedJobRegistry), ("scheduled", ScheduledJobRegistry),
                                        ("deferred", DeferredJobRegistry), ("failed", FailedJobRegistry)):
                    # No cleanup: a scrape only reads, it never moves jobs between registries.
                    jobs.add_metric([name, state], registry(queue=q).get_job_count(cleanup=False))
            workers.add_metric([], Worker.count(connection=self.redis))
        except RedisError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield from (jobs, workers, up)


class _ThisProcess:
    """The default registry's metrics (single-process mode: tests, `tocsin worker` alone)."""

    def collect(self) -> Iterator[Any]:
        from prometheus_client import REGISTRY

        yield from REGISTRY.collect()


def exposition(redis: Redis | None, accept: str = "") -> tuple[bytes, str]:
    """The text a scrape gets, and its content type. Blocking (files, Redis): run in a thread."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.exposition import choose_encoder
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry(auto_describe=False)
    if multiprocess():
        MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())  # type: ignore[arg-type]
    if redis is not None:
        registry.register(QueueCollector(redis))  # type: ignore[arg-type]
    encoder, content_type = choose_encoder(accept)
    return encoder(registry), content_type


def serve_worker_metrics(port: int, host: str = "0.0.0.0") -> Any:
    """Answer scrapes of this worker's counts on `port`, from a daemon thread; gives the server."""
    from prometheus_client import REGISTRY, CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = REGISTRY
    if multiprocess():  # several workers of one machine sharing a directory: any one answers for all
        registry = CollectorRegistry(auto_describe=False)
        MultiProcessCollector(registry)
    server, _thread = start_http_server(port, host, registry=registry)
    return server
