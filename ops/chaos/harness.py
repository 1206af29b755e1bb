"""The stack a chaos scenario breaks: its own Redis, database, sandbox and `tocsin serve`, all real.

    Stack.start()   redis-server on a private port (so a scenario can kill it and wipe its data),
                    PostgreSQL when ops/local_postgres.py is there (else SQLite in the data dir),
                    `tocsin sandbox` as its own process (Twilio API, SMTP, Web Push) and
                    `tocsin serve` pointed at all three, with two Twilio accounts (primary and
                    secondary, both the sandbox) so SMS can fail over.
    stack.people(n) imports n people (phone and email; every `push_share`-th a subscribed browser)
    stack.send(...) creates and sends an alert whose text carries a unique marker
    stack.wait_done(...) waits until no message of the alert is pending or in flight
    stack.count(...) what the sandbox received per address, against what was expected

Only loopback addresses are used. Every process is stopped by its pid.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ops.embedded_redis import EmbeddedRedis, free_port
from ops.polling import poll

PRIMARY_SID, PRIMARY_TOKEN = "AC" + "c1" * 16, "chaos-primary-token"
SECONDARY_SID, SECONDARY_TOKEN = "AC" + "c2" * 16, "chaos-secondary-token"
FROM_NUMBER = "+15005550006"
CHANNELS = ("sms", "voice", "push", "email")


@dataclass
class Result:
    """One line of the `make chaos` table."""
    scenario: str
    expected: int
    delivered: int
    missing: int
    duplicated: int
    seconds: float
    notes: str = ""

    @property
    def ok(self) -> bool:
        return self.missing == 0


def http(url: str, data: bytes | dict | None = None, token: str | None = None, timeout: float = 120,
         method: str | None = None) -> Any:
    body = json.dumps(data).encode() if isinstance(data, dict) else data
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    with urllib.request.urlopen(request, timeout=timeout) as r:
        raw = r.read()
    return json.loads(raw) if raw else None


def wait_for(predicate: Callable[[], Any], timeout: float, interval: float = 0.2, what: str = "") -> Any:
    return poll(predicate, timeout=timeout, interval=interval, tolerate=(OSError, ValueError),
                what=what or "a condition")


def _areas() -> list[int]:
    return [202, 212, 213, 214, 215, 216, 217, 218, 219, 224, 225, 228, 229, 231, 234, 239, 240, 248, 251, 252]


def phone_of(i: int) -> str:
    return f"+1{_areas()[i // 10_000]}555{i % 10_000:04d}"


def postgres_available() -> bool:
    try:
        import ops.local_postgres  # noqa: F401  (written for issue 8; used when it is there)
    except ImportError:
        return False
    return True


@dataclass
class Stack:
    workers: int = 2
    database: str = "sqlite"  # or "postgresql"
    extra_env: dict[str, str] = field(default_factory=dict)
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="tocsin-chaos-")))

    def __post_init__(self) -> None:
        self.port, self.sandbox_port, self.smtp_port = free_port(), free_port(), free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.sbase = f"http://127.0.0.1:{self.sandbox_port}"
        self.redis = EmbeddedRedis(self.root / "redis")
        self.postgres: Any = None
        self.database_url: str | None = None
        self.sandbox: subprocess.Popen[bytes] | None = None
        self.server: subprocess.Popen[bytes] | None = None
        self.token = ""
        self.n = 0
        self.push_ids: list[str] = []
        self._logs: list[Any] = []

    # ---- processes ----------------------------------------------------------------------
    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")}
        env.update({
            "TOCSIN_DATA_DIR": str(self.root / "var"),
            "TOCSIN_REDIS_URL": self.redis.url,
            "TOCSIN_TWILIO_ACCOUNT_SID": PRIMARY_SID, "TOCSIN_TWILIO_AUTH_TOKEN": PRIMARY_TOKEN,
            "TOCSIN_TWILIO_FROM": FROM_NUMBER,
            "TOCSIN_TWILIO_API_BASE": f"{self.sbase}/sandbox/twilio",
            "TOCSIN_TWILIO_SECONDARY_ACCOUNT_SID": SECONDARY_SID,
            "TOCSIN_TWILIO_SECONDARY_AUTH_TOKEN": SECONDARY_TOKEN,
            "TOCSIN_TWILIO_SECONDARY_FROM": FROM_NUMBER,
            "TOCSIN_TWILIO_SECONDARY_API_BASE": f"{self.sbase}/sandbox/twilio",
            "TOCSIN_SMTP_URL": f"smtp://127.0.0.1:{self.smtp_port}",
            "TOCSIN_LOG_LEVEL": "WARNING",
            "TOCSIN_SECRET_KEY": "chaos-secret-key-not-for-production",
        })
        if self.database_url:
            env["TOCSIN_DATABASE_URL"] = self.database_url
        env.update(self.extra_env)
        return env

    def _log(self, name: str) -> Any:
        handle = (self.root / f"{name}.log").open("a")
        self._logs.append(handle)
        return handle

    def start(self) -> Stack:
        self.redis.start()
        if self.database == "postgresql":
            from ops.local_postgres import LocalPostgres
            # Its own fresh directory: the `postgres` user must reach it (root's 0700 tree is closed to it).
            self.pg_dir = Path(tempfile.mkdtemp(prefix="tocsin-chaos-pg-"))
            self.postgres = LocalPostgres(self.pg_dir)
            self.database_url = self.postgres.start()
        self.sandbox = subprocess.Popen(
            [sys.executable, "-m", "ops.cli", "sandbox", "--port", str(self.sandbox_port), "--smtp-port",
             str(self.smtp_port), "--inbound-sms-url", f"{self.base}/hooks/twilio/sms"],
            stdout=self._log("sandbox"), stderr=subprocess.STDOUT, env=self.env)
        wait_for(lambda: http(f"{self.sbase}/sandbox/stats") is not None, 30, what="the sandbox")
        http(f"{self.sbase}/sandbox/config", {"default_account": {"sid": PRIMARY_SID, "token": PRIMARY_TOKEN},
                                              "default_from": FROM_NUMBER})
        self.start_server()
        self.token = subprocess.run([sys.executable, "-m", "ops.cli", "token", "create", "--role", "admin"],
                                    capture_output=True, text=True, env=self.env, check=True).stdout.strip()
        return self

    def start_server(self) -> None:
        self.server = subprocess.Popen(
            [sys.executable, "-m", "ops.cli", "serve", "--port", str(self.port), "--workers", str(self.workers)],
            stdout=self._log("serve"), stderr=subprocess.STDOUT, env=self.env)
        wait_for(lambda: self.server.poll() is None and http(f"{self.base}/healthz")["status"] == "ok", 90,
                 what="tocsin serve")

    def worker_pids(self) -> list[int]:
        """The RQ worker processes `serve` supervises (its children running `ops.cli worker`)."""
        assert self.server is not None
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                cmd = (entry / "cmdline").read_bytes().split(b"\0")
            except (OSError, IndexError, ValueError):
                continue
            if ppid == self.server.pid and b"worker" in cmd:
                found.append(int(entry.name))
        return found

    def stop(self) -> None:
        for process in (self.server, self.sandbox):
            if process and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in (self.server, self.sandbox):
            if process:
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self.redis.stop()
        if self.postgres is not None:
            self.postgres.stop()
            if not os.environ.get("TOCSIN_CHAOS_KEEP"):
                shutil.rmtree(self.pg_dir, ignore_errors=True)
        for handle in self._logs:
            handle.close()
        if not os.environ.get("TOCSIN_CHAOS_KEEP"):
            shutil.rmtree(self.root, ignore_errors=True)

    def wipe_redis(self, down_s: float = 1.0) -> None:
        """Redis dies and comes back empty on the same port."""
        assert self.redis.process is not None
        self.redis.process.kill()
        self.redis.process.wait()
        self.redis.process = None
        for item in self.redis.directory.glob("*.rdb"):
            item.unlink()
        time.sleep(down_s)
        self.redis.start()

    # ---- data ---------------------------------------------------------------------------
    def api(self, path: str, data: bytes | dict | None = None, method: str | None = None) -> Any:
        return http(f"{self.base}/api/v1{path}", data, self.token, method=method)

    def people(self, n: int, *, push_share: int = 10) -> None:
        """n people with a phone and an email; every `push_share`-th also a subscribed browser."""
        self.n = n
        self.api("/groups", {"name": "Everyone"})
        rows = ["external_id,name,phone,email,groups"]
        rows += [f"C{i:07d},Person {i},{phone_of(i)},c{i}@example.org,Everyone" for i in range(n)]
        imported = self.api("/recipients/import", ("\n".join(rows) + "\n").encode())
        assert imported["created"] == n, imported
        key = http(f"{self.base}/push/vapid-public-key")["public_key"]
        self.push_ids = []
        for i in range(0, n, push_share) if push_share else ():
            sub = http(f"{self.sbase}/sandbox/push/subscriptions", {"application_server_key": key})
            self.api(f"/recipients/C{i:07d}/push-subscriptions", {"endpoint": sub["endpoint"], "keys": sub["keys"]})
            self.push_ids.append(sub["endpoint"].rstrip("/").rsplit("/", 1)[1])  # .../push/send/<id>

    def expected(self, channel: str) -> set[str]:
        if channel in ("sms", "voice"):
            return {phone_of(i) for i in range(self.n)}
        if channel == "email":
            return {f"c{i}@example.org" for i in range(self.n)}
        return {f"push:{s}" for s in self.push_ids}

    def send(self, channels: tuple[str, ...], *, title: str = "Chaos") -> tuple[int, str]:
        """Create and send an alert to everyone; returns its id and the marker its text carries."""
        marker = f"CHAOS{uuid.uuid4().hex[:8]}"
        alert = self.api("/alerts", {"title": f"{title} {marker}", "message": f"{marker}: shelter in place now.",
                                     "channels": list(channels), "target": {"groups": ["Everyone"]},
                                     "policy": None})
        self.api(f"/alerts/{alert['id']}/send", {})
        return alert["id"], marker

    def alert(self, alert_id: int) -> dict[str, Any]:
        return self.api(f"/alerts/{alert_id}")

    def in_flight(self, alert_id: int) -> int:
        body = self.alert(alert_id)
        return sum(c.get("pending", 0) + c.get("sending", 0) for c in body["deliveries"].values())

    def states(self, alert_id: int) -> str:
        """The alert's SMS rows by status once callbacks settle (lost callbacks show as `queued`)."""
        time.sleep(2.0)
        sms = self.alert(alert_id)["deliveries"].get("sms", {})
        return "sms rows " + ", ".join(f"{n} {s}" for s, n in sorted(sms.items()) if n)

    def providers(self, alert_id: int) -> str:
        """How the alert's messages split between providers (failover shows here)."""
        from sqlalchemy import create_engine, text
        engine = create_engine(self.database_url or f"sqlite:///{self.root / 'var' / 'tocsin.db'}")
        try:
            with engine.connect() as conn:
                rows = conn.execute(text("SELECT channel, provider, count(*) FROM deliveries WHERE alert_id = :a "
                                         "GROUP BY channel, provider ORDER BY 1, 2"), {"a": alert_id}).all()
        finally:
            engine.dispose()
        return ", ".join(f"{c} via {p}: {n}" for c, p, n in rows)

    def wait_done(self, alert_id: int, timeout: float) -> None:
        wait_for(lambda: self.alert(alert_id)["status"] == "sent" and self.in_flight(alert_id) == 0, timeout,
                 0.5, what=f"alert {alert_id} to finish")

    def tally(self, channel: str, marker: str) -> dict[str, int]:
        # A call's body is what it said once answered; counting calls needs no marker.
        contains = "" if channel == "voice" else marker
        return http(f"{self.sbase}/sandbox/tally?channel={channel}&contains={contains}")

    def count(self, channels: tuple[str, ...], marker: str) -> tuple[int, int, int, int]:
        """(expected, delivered, missing, duplicated) over the channels, from the sandbox's inboxes."""
        expected = delivered = duplicated = 0
        for channel in channels:
            want = self.expected(channel)
            got = self.tally(channel, marker)
            expected += len(want)
            delivered += sum(1 for a in want if got.get(a, 0) >= 1)
            duplicated += sum(max(0, n - 1) for a, n in got.items() if a in want)
        return expected, delivered, expected - delivered, duplicated

    def wait_arrivals(self, channels: tuple[str, ...], marker: str, timeout: float) -> None:
        """The sandbox has every expected message (callbacks and calls finish after the hand-off)."""
        wait_for(lambda: self.count(channels, marker)[2] == 0, timeout, 1.0, what="every message to arrive")
