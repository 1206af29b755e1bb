"""End-to-end send benchmarks: a fresh `tocsin serve` against a separate `tocsin sandbox` process.

Each run starts `tocsin serve` (embedded SQLite and Redis, its workers) pointed at a separately
running `tocsin sandbox` whose API answers after `latency_ms` (real providers take about 100 ms),
imports N recipients, sends one alert to all of them and reports:

- time to first message: from the send request to the sandbox receiving its first message;
- handed over: from the send request to the sandbox receiving the last one, and messages/s;
- all recorded (SMS): until Tocsin shows every message delivered (status callbacks processed);
- per channel: messages and messages/s between the sandbox's first and last arrival;
- peak memory (VmHWM) of the worker processes.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from ops.embedded_redis import free_port
from ops.polling import poll
from ops.settings import SANDBOX_ACCOUNT_SID

OUT = Path("var/bench")


def _http(url: str, data: bytes | dict | None = None, token: str | None = None, timeout: float = 600) -> Any:
    body = json.dumps(data).encode() if isinstance(data, dict) else data
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, data=body, headers=headers), timeout=timeout) as r:
        return json.loads(r.read())


def _wait(predicate, timeout: float, interval: float = 0.05, *, alive: tuple = ()) -> Any:  # type: ignore[no-untyped-def]
    def still_running() -> None:
        for process in alive:
            if process.poll() is not None:
                raise RuntimeError(f"{' '.join(process.args[2:5])} exited with {process.returncode}; see its log")

    return poll(predicate, timeout=timeout, interval=interval, alive=still_running, what="a benchmark step")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def _peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _processes(server: subprocess.Popen, sandbox: subprocess.Popen) -> dict[str, list[int]]:
    """The benchmark's processes by role: the web process, its workers, Redis, the sandbox."""
    roles: dict[str, list[int]] = {"web": [server.pid], "workers": [], "redis": [], "sandbox": [sandbox.pid]}
    for pid in _children(server.pid):
        try:
            role = "redis" if "redis" in Path(f"/proc/{pid}/cmdline").read_text() else "workers"
        except OSError:
            continue
        roles[role].append(pid)
        roles[role].extend(_children(pid))  # a worker's work-horse or scheduler, if any
    return roles


def _cpu_by_role(roles: dict[str, list[int]]) -> dict[str, float]:
    return {role: sum(_cpu_s(p) for p in pids) for role, pids in roles.items()}


#: US area codes used to build distinct, valid numbers: 10,000 per area code (400,000 in all).
_AREAS = [202, 212, 213, 214, 215, 216, 217, 218, 219, 224, 225, 228, 229, 231, 234, 239, 240, 248, 251, 252,
          253, 254, 256, 260, 262, 267, 269, 270, 276, 281, 301, 302, 303, 304, 305, 307, 308, 309, 310, 312]


def _csv(n: int) -> bytes:
    rows = ["external_id,name,phone,email,groups"]
    rows += [f"B{i:07d},Person {i},+1{_AREAS[i // 10_000]}555{i % 10_000:04d},b{i}@example.org,Everyone"
             for i in range(n)]
    return ("\n".join(rows) + "\n").encode()


#: Of the people in a push benchmark, one in this many has a browser subscribed.
PUSH_SHARE = 10


def _subscribe_browsers(base: str, sbase: str, token: str, n: int) -> int:
    """Subscribe every PUSH_SHARE-th person's (simulated) browser, as the recipient page would."""
    key = _http(f"{base}/push/vapid-public-key")["public_key"]
    count = 0
    for i in range(0, n, PUSH_SHARE):
        sub = _http(f"{sbase}/sandbox/push/subscriptions", {"application_server_key": key})
        _http(f"{base}/api/v1/recipients/B{i:07d}/push-subscriptions",
              {"endpoint": sub["endpoint"], "keys": sub["keys"]}, token)
        count += 1
    return count


#: How long after the last hand-over to wait for every status callback to be recorded. On a busy
#: machine the web process may take many minutes for 300,000 callbacks: the figure is then left out.
RECORD_WAIT_S = 180


def run_alert(n: int, *, latency_ms: int, workers: int, root: Path, callbacks: bool = True,
              channels: tuple[str, ...] = ("sms",), record_wait_s: float = RECORD_WAIT_S,
              settings: dict[str, str] | None = None) -> dict[str, Any]:
    """One alert to N people through a fresh `tocsin serve`; `settings` are extra TOCSIN_* values
    for it (e.g. {"BATCH_SIZE": "500"}), recorded in the result."""
    name = "-".join(channels)
    data_dir = root / f"{name}-{n}"
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    sandbox_port, port, smtp_port = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")}
    env.update({"TOCSIN_TWILIO_ACCOUNT_SID": SANDBOX_ACCOUNT_SID, "TOCSIN_TWILIO_AUTH_TOKEN": "bench-token",
                "TOCSIN_TWILIO_FROM": "+15005550006", "TOCSIN_LOG_LEVEL": "WARNING",
                "TOCSIN_TWILIO_API_BASE": f"http://127.0.0.1:{sandbox_port}/sandbox/twilio",
                "TOCSIN_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}"})
    env.update({f"TOCSIN_{k}": v for k, v in (settings or {}).items()})
    logs = (data_dir / "sandbox.log").open("w"), (data_dir / "serve.log").open("w")
    sandbox = subprocess.Popen([sys.executable, "-m", "ops.cli", "sandbox", "--port", str(sandbox_port),
                                "--smtp-port", str(smtp_port)],
                               stdout=logs[0], stderr=subprocess.STDOUT, env=env)
    server = subprocess.Popen([sys.executable, "-m", "ops.cli", "serve", "--data-dir", str(data_dir / "var"),
                               "--port", str(port), "--workers", str(workers)],
                              stdout=logs[1], stderr=subprocess.STDOUT, env=env)
    base, sbase = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{sandbox_port}"
    try:
        _wait(lambda: _http(f"{base}/healthz")["status"] == "ok", 60, alive=(server, sandbox))
        _wait(lambda: _http(f"{sbase}/sandbox/stats") is not None, 30, alive=(sandbox,))
        _http(f"{sbase}/sandbox/config", {"latency_ms": latency_ms, "callbacks": callbacks})
        token = subprocess.run([sys.executable, "-m", "ops.cli", "token", "create", "--role", "admin",
                                "--data-dir", str(data_dir / "var")], capture_output=True, text=True, env=env,
                               check=True).stdout.strip()
        _http(f"{base}/api/v1/groups", {"name": "Everyone"}, token)
        started = time.monotonic()
        imported = _http(f"{base}/api/v1/recipients/import", _csv(n), token)
        import_s = time.monotonic() - started
        assert imported["created"] == n, imported
        expected = {c: n for c in channels}
        if "push" in channels:
            expected["push"] = _subscribe_browsers(base, sbase, token, n)
        alert = _http(f"{base}/api/v1/alerts", {"title": "Benchmark", "message": "Benchmark alert: shelter in place.",
                                                "channels": list(channels), "target": {"groups": ["Everyone"]}}, token)
        roles = _processes(server, sandbox)
        cpu_before = _cpu_by_role(roles)
        wall_at_send = time.time()
        t0 = time.monotonic()
        _http(f"{base}/api/v1/alerts/{alert['id']}/send", {}, token)

        def arrived() -> dict[str, Any]:
            return _http(f"{sbase}/sandbox/stats")

        def first_arrival() -> float | None:
            stats = arrived()
            times = [stats[c]["first_at"] for c in channels if (stats.get(c) or {}).get("first_at")]
            return min(times) if times else None

        first = _wait(first_arrival, 600, 0.01)
        _wait(lambda: all((arrived().get(c) or {}).get("count", 0) >= expected[c] for c in channels), 3600, 0.2)
        handed_s = time.monotonic() - t0
        cpu_used = {role: round(cpu - cpu_before[role], 2) for role, cpu in _cpu_by_role(roles).items()}
        stats = arrived()
        recorded_s = None
        if channels == ("sms",):
            done = "delivered" if callbacks else "queued"
            try:
                _wait(lambda: _http(f"{base}/api/v1/alerts/{alert['id']}", token=token)["deliveries"]["sms"][done] >= n,
                      record_wait_s, 0.5)
                recorded_s = round(time.monotonic() - t0, 2)
            except TimeoutError:
                recorded_s = None
        worker_pids = [p for p in _children(server.pid) if "redis" not in Path(f"/proc/{p}/cmdline").read_text()]
        per_channel = {c: {"count": stats[c]["count"],
                           "per_s": round(stats[c]["count"] / max(stats[c]["last_at"] - stats[c]["first_at"], 1e-3), 1)}
                       for c in channels}
        return {
            "benchmark": name, "recipients": n, "latency_ms": latency_ms, "workers": workers,
            "settings": settings or {},
            "import_s": round(import_s, 2),
            "time_to_first_message_s": round(first - wall_at_send, 3),
            "handed_over_s": round(handed_s, 2),
            "messages_per_s": round(sum(expected.values()) / handed_s, 1),
            "all_recorded_s": recorded_s, "callbacks": callbacks,
            "duplicates": sum(stats[c]["count"] for c in channels) - sum(expected.values()),
            "per_channel": per_channel,
            # CPU seconds each part used from the send request until the last message was handed over.
            "cpu_s_until_handed_over": cpu_used,
            "cpu_us_per_message": {role: round(cpu * 1e6 / max(sum(expected.values()), 1))
                                   for role, cpu in cpu_used.items()},
            "peak_worker_rss_mb": round(max((_peak_rss_mb(p) for p in worker_pids), default=0), 1),
            "machine": f"{os.cpu_count()} cores, {os.uname().machine}, Python {sys.version.split()[0]}",
        }
    finally:
        for process in (server, sandbox):
            process.send_signal(signal.SIGTERM)
        for process in (server, sandbox):
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        for log in logs:
            log.close()


