"""The worker's own CPU per SMS, in one process: what the end-to-end benchmark cannot isolate.

    python -m ops.bench_worker --n 5000            CPU µs per message of claim, compose, send, record

The end-to-end figures (ops/bench_send.py) share two cores between the web process, the workers, Redis
and the sandbox, so one part's cost moves with the others' load. This runs the worker's job body
(`alerting.sending.send_batch`, the same function an RQ job calls, minus RQ's own per-job cost)
in this process against a `tocsin sandbox` process at 0 ms with no callbacks, and reports this
process's CPU time per message (`time.process_time`). Under `valgrind --tool=callgrind`, two runs
of different N differenced give instructions per message, which no other load on the machine moves.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from ops.settings import SANDBOX_ACCOUNT_SID


def run(n: int, *, batch_size: int, twilio_base: str, workdir: Path, redis_url: str) -> dict[str, float]:
    from alerting import dispatch, sending
    from alerting.alerts import create_alert
    from alerting.directory import upsert_recipients
    from alerting.recipient_input import parse_csv
    from ops.bench_send import _csv
    from ops.database import upgrade
    from ops.runtime import Runtime
    from ops.settings import Settings

    env = {"TOCSIN_DATA_DIR": str(workdir), "TOCSIN_REDIS_URL": redis_url, "TOCSIN_LOG_LEVEL": "WARNING",
           "TOCSIN_TWILIO_ACCOUNT_SID": SANDBOX_ACCOUNT_SID, "TOCSIN_TWILIO_AUTH_TOKEN": "bench-token",
           "TOCSIN_TWILIO_FROM": "+15005550006", "TOCSIN_TWILIO_API_BASE": twilio_base,
           "TOCSIN_BATCH_SIZE": str(batch_size)}
    settings = Settings.from_env(env)
    upgrade(settings.effective_database_url)
    runtime = Runtime.build(settings)
    batches: list[list[int]] = []

    class Collect:
        def enqueue_dispatch(self, alert_id: int, *, urgent: bool) -> None: ...

        def enqueue_sends(self, alert_id: int, channel: str, chunk, *, urgent: bool) -> None:  # type: ignore[no-untyped-def]
            batches.extend(list(b) for b in chunk)

    try:
        with runtime.sessions.begin() as session:
            rows, errors = parse_csv(_csv(n))
            upsert_recipients(session, rows, actor="bench", create_groups=True, errors=errors)
            alert = create_alert(session, {"title": "Benchmark", "message": "Benchmark alert: shelter in place.",
                                           "channels": ["sms"], "target": {"groups": ["Everyone"]}},
                                 actor="bench", available_channels=runtime.available_channels)
            alert_id = alert.id
        with runtime.sessions.begin() as session:
            dispatch.request_send(session, alert_id, actor="bench")
        dispatch.dispatch_alert(runtime.sessions, Collect(), alert_id, chunk_size=2000, batch_size=batch_size)
        sender = runtime.sender
        # One batch first: connections, caches and lazy imports are not a per-message cost.
        sending.send_batch(runtime.sessions, sender, runtime.send_options, alert_id, "sms", batches[0])
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for batch in batches[1:]:
            sending.send_batch(runtime.sessions, sender, runtime.send_options, alert_id, "sms", batch)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        sent = sum(len(b) for b in batches[1:])
        return {"messages": sent, "cpu_s": round(cpu, 3), "wall_s": round(wall, 3),
                "cpu_us_per_message": round(cpu * 1e6 / max(sent, 1), 1)}
    finally:
        runtime.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.bench_worker", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=5000, help="recipients (one SMS each)")
    parser.add_argument("--batch-size", type=int, default=250)
    parser.add_argument("--twilio-base", help="a running sandbox's Twilio base URL (default: start one)")
    parser.add_argument("--redis-url", help="a running Redis (default: start one)")
    args = parser.parse_args(argv)
    from ops.bench_baselines import Sandbox
    from ops.embedded_redis import EmbeddedRedis
    with tempfile.TemporaryDirectory(prefix="tocsin-bench-worker-") as tmp:
        workdir = Path(tmp)
        redis = None if args.redis_url else EmbeddedRedis(workdir / "redis")
        sandbox = None if args.twilio_base else Sandbox(workdir / "sandbox.log")
        try:
            if redis is not None:
                (workdir / "redis").mkdir()
                redis.start()
            if sandbox is not None:
                sandbox.__enter__()
                sandbox.configure(0)
            result = run(args.n, batch_size=args.batch_size, workdir=workdir / "data",
                         twilio_base=args.twilio_base or sandbox.twilio_base,  # type: ignore[union-attr]
                         redis_url=args.redis_url or redis.url)  # type: ignore[union-attr]
        finally:
            if sandbox is not None:
                sandbox.__exit__(None, None, None)
            if redis is not None:
                redis.stop()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
