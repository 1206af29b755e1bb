"""What Tocsin is compared with: two scripts a person would write, and the sandbox's own ceiling.

- loop: a plain loop over the official twilio client (`client.messages.create`, one at a time);
- pool: the same client in a thread pool of 32 (one client per thread, as `requests` wants);
- ceiling: how many Messages requests per second the sandbox accepts at 0 ms latency from a minimal
  concurrent aiohttp client (pre-built body and auth header, nothing parsed): no sender can hand
  messages to this sandbox faster on this machine.

Each runs in its own process (`python -m ops.bench_baselines KIND --base URL --count K`), which
prints one JSON line with its own peak RSS, so baselines and Tocsin's workers are measured alike.
At 100 ms per call a loop needs 100 s per 1,000 messages: the caller runs the baselines on a sample
and extrapolates linearly to N, and says so ("measured on").
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import resource
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Self

from ops.embedded_redis import free_port
from ops.settings import SANDBOX_ACCOUNT_SID

SANDBOX_TOKEN = "bench-token"
FROM = "+15005550006"
BODY = "Benchmark alert: shelter in place."
POOL_THREADS = 32


def _to(i: int) -> str:
    return f"+1202{5550000 + i % 4_000_000:07d}"


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _client(base: str):  # type: ignore[no-untyped-def]
    from twilio.rest import Client

    from channels.twilio_http import RebasedTwilioHttpClient
    return Client(SANDBOX_ACCOUNT_SID, SANDBOX_TOKEN, http_client=RebasedTwilioHttpClient(base))


def run_loop(base: str, count: int) -> dict[str, Any]:
    """What a script does: one official client, one message after another."""
    client = _client(base)
    t0 = time.perf_counter()
    first = None
    for i in range(count):
        client.messages.create(to=_to(i), from_=FROM, body=BODY)
        if first is None:
            first = time.perf_counter() - t0
    return {"sent": count, "seconds": time.perf_counter() - t0, "first_s": first}


def run_pool(base: str, count: int, threads: int = POOL_THREADS) -> dict[str, Any]:
    """The better script: the same client in a thread pool, one client (and connection pool) per thread."""
    local = threading.local()
    firsts: list[float] = []

    def send(i: int) -> None:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = _client(base)
        client.messages.create(to=_to(i), from_=FROM, body=BODY)
        if not firsts:
            firsts.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        for _ in pool.map(send, range(count)):
            pass
    return {"sent": count, "seconds": time.perf_counter() - t0, "first_s": firsts[0] if firsts else None}


async def _ceiling(base: str, count: int, concurrency: int) -> dict[str, Any]:
    import aiohttp
    url = f"{base}/2010-04-01/Accounts/{SANDBOX_ACCOUNT_SID}/Messages.json"
    auth = "Basic " + base64.b64encode(f"{SANDBOX_ACCOUNT_SID}:{SANDBOX_TOKEN}".encode()).decode()
    headers = {"Authorization": auth, "Content-Type": "application/x-www-form-urlencoded"}
    bodies = [f"To=%2B1202{5550000 + i:07d}&From=%2B15005550006&Body=Benchmark".encode() for i in range(1000)]
    remaining = count
    errors = 0
    first: list[float] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        async def worker() -> None:
            nonlocal remaining, errors
            while remaining > 0:
                remaining -= 1
                async with session.post(url, data=bodies[remaining % 1000], headers=headers) as response:
                    await response.read()
                    if response.status != 201:
                        errors += 1
                    elif not first:
                        first.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - t0
    return {"sent": count - errors, "errors": errors, "seconds": seconds, "first_s": first[0] if first else None}


def run_ceiling(base: str, count: int, concurrency: int = 200) -> dict[str, Any]:
    return asyncio.run(_ceiling(base, count, concurrency))


RUNNERS = {"loop": run_loop, "pool": run_pool, "ceiling": run_ceiling}


def measure(kind: str, base: str, count: int) -> dict[str, Any]:
    """Run one baseline in a fresh process; its result with that process's peak RSS."""
    out = subprocess.run([sys.executable, "-m", "ops.bench_baselines", kind, "--base", base, "--count", str(count)],
                         capture_output=True, text=True, check=True, timeout=3600)
    return json.loads(out.stdout.strip().splitlines()[-1])


class Sandbox:
    """A `tocsin sandbox` process of its own (no callbacks: nothing here receives them)."""

    def __init__(self, log: Path) -> None:
        self.port, smtp_port = free_port(), free_port()
        self._log = log.open("w")
        self.process = subprocess.Popen([sys.executable, "-m", "ops.cli", "sandbox", "--port", str(self.port),
                                         "--smtp-port", str(smtp_port)], stdout=self._log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"
        self.twilio_base = f"{self.url}/sandbox/twilio"

    def __enter__(self) -> Self:
        from ops.bench_send import _http, _wait
        _wait(lambda: _http(f"{self.url}/sandbox/stats") is not None, 30, alive=(self.process,))
        return self

    def configure(self, latency_ms: int) -> None:
        from ops.bench_send import _http
        _http(f"{self.url}/sandbox/config", {"latency_ms": latency_ms, "callbacks": False})
        _http(f"{self.url}/sandbox/reset", {})

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._log.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.bench_baselines")
    parser.add_argument("kind", choices=sorted(RUNNERS))
    parser.add_argument("--base", required=True, help="the sandbox's Twilio API base URL")
    parser.add_argument("--count", type=int, required=True)
    args = parser.parse_args(argv)
    result = RUNNERS[args.kind](args.base, args.count)
    result["peak_rss_mb"] = _peak_rss_mb()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
