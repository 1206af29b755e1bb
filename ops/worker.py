"""RQ workers: `tocsin worker` on any machine, and the supervised pool `tocsin serve` starts."""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time

from rq import SimpleWorker
from rq.serializers import JSONSerializer
from rq.worker import DequeueStrategy

from ops import jobs
from ops.queues import QUEUE_NAMES, queue
from ops.reconcile import reconcile_if_redis_lost
from ops.recovery import recover_dead_workers
from ops.runtime import Runtime
from ops.settings import Settings

log = logging.getLogger(__name__)

#: How often a worker's command listener (RQ's pub/sub thread: stop and kill commands) wakes up
#: between messages. RQ waits 60 s; since redis-py 8.2 stopping the listener waits for it to wake,
#: so every worker's shutdown took up to a minute (and each test's burst worker as long).
COMMAND_POLL_S = 0.2


class TocsinWorker(SimpleWorker):
    """RQ's SimpleWorker with a command listener that stops within COMMAND_POLL_S."""

    def subscribe(self) -> None:
        self.log.info("Worker %s: subscribing to channel %s", self.name, self.pubsub_channel_name)
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(
            sleep_time=COMMAND_POLL_S, daemon=True, exception_handler=self._pubsub_exception_handler)


def run_worker(settings: Settings, *, burst: bool = False) -> bool:
    """Work the queues in strict priority order (ops/queues.py: urgent first, bulk last). SimpleWorker:
    jobs run in this process and reuse its database pool; a batch sends hundreds of messages, so
    forking per job would buy nothing."""
    runtime = Runtime.build(settings)
    jobs.use_runtime(runtime)
    try:
        recover_dead_workers(runtime.redis)  # jobs a killed worker held (ops/recovery.py)
        reconcile_if_redis_lost(runtime)  # a worker restarting after Redis came back empty
        try:
            runtime.sender.prepare(runtime.available_channels)  # ready before the first alert arrives
        except Exception:  # the first send job will meet (and report) the same trouble
            log.exception("could not prepare the channel adapters at start-up")
        worker = TocsinWorker([queue(runtime.redis, n) for n in QUEUE_NAMES], connection=runtime.redis,
                              serializer=JSONSerializer)
        # DEFAULT: always the first non-empty queue in the order given (not round robin, not random).
        return worker.work(burst=burst, with_scheduler=True, logging_level=settings.log_level,
                           dequeue_strategy=DequeueStrategy.DEFAULT)
    finally:
        jobs.use_runtime(None)
        runtime.close()


class WorkerPool:
    """Starts N `tocsin worker` processes and restarts any that die, until stopped."""

    RESTART_DELAY_S = 1.0

    def __init__(self, settings: Settings, count: int):
        self.env = {**os.environ, **settings.to_env()}
        self.count = count
        self.processes: list[subprocess.Popen[bytes]] = []
        self.restarts = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._supervise, name="tocsin-worker-pool", daemon=True)

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "ops.cli", "worker"], env=self.env,
                                stdin=subprocess.DEVNULL)

    def start(self) -> None:
        self.processes = [self._spawn() for _ in range(self.count)]
        self._thread.start()

    def _supervise(self) -> None:
        while not self._stopping.wait(self.RESTART_DELAY_S):
            for index, process in enumerate(self.processes):
                if process.poll() is not None and not self._stopping.is_set():
                    log.warning("worker pid %s exited with %s; starting a new one", process.pid, process.returncode)
                    self.processes[index] = self._spawn()
                    self.restarts += 1

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in self.processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
