"""`make fleet-test`: Tocsin as a fleet of four hosts on this machine, an alert sent end to end.

Each host is a Linux network namespace joined to one bridge by a veth pair; the hosts share nothing
but that network and the settings every process of a fleet must share (database and Redis URLs, the
secret key, the VAPID key, the public URL). Each process has its own data directory.

    10.77.0.1    the bridge: this script, standing for an operator's workstation
    10.77.0.2    data      PostgreSQL (ops/local_postgres.py) and Redis (with a password)
    10.77.0.10   console   nginx (ops/deploy/nginx-compose.conf) before two `tocsin serve --workers 0`,
                           and the provider sandbox (`tocsin sandbox`)
    10.77.0.21   worker1   `tocsin worker`
    10.77.0.22   worker2   `tocsin worker`

TOCSIN_PUBLIC_URL is the proxy's: the operator's API calls and the sandbox's signed status
callbacks go through nginx to either console process. The script migrates the database once,
creates an admin token with `tocsin token create`, imports people through the API, sends an alert
(SMS and email) and checks that the sandbox got every message exactly once, that every status
callback was accepted, and that both workers sent some (each RQ job records its worker, and each
worker the address it reaches Redis from). Then it kills the worker1 host and one console process,
sends a second alert, checks that worker2 alone sends all of it, through the other console, and
that a user made with `tocsin user create`, signed in through the proxy, gets the alert's live view
(server-sent events, which a buffering proxy would hold back).

Needs root (namespaces, veth pairs), `ip` and `nsenter` (iproute2, util-linux), and Debian's
postgresql and redis-server (`make install` adds them).
Every namespace, link and process it made is removed on exit, on failure and on Ctrl-C too.
Exit status: 0 when every check passed, 1 when one failed, 2 when the fleet could not be set up.
"""
from __future__ import annotations

import csv
import http.cookiejar
import io
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ops.polling import poll

PREFIX = "tfleet"
BRIDGE = f"{PREFIX}0"
SUBNET_BITS = 24
BRIDGE_IP = "10.77.0.1"
#: host name -> address; each host is the namespace `tfleet-<name>`, its veth `tfleet-<name>` too.
HOSTS = {"data": "10.77.0.2", "console": "10.77.0.10", "worker1": "10.77.0.21", "worker2": "10.77.0.22"}
REDIS_PORT, POSTGRES_PORT, PROXY_PORT, SANDBOX_PORT, SMTP_PORT = 6379, 5432, 8080, 8090, 8025
#: The console processes behind the proxy, on the console host's loopback.
CONSOLE_PORTS = (8081, 8082)
NGINX_CONF = Path(__file__).resolve().parent / "deploy" / "nginx-compose.conf"
PEOPLE = 200
#: Small batches, so one alert is many jobs and both workers take some.
BATCH_SIZE = 10
#: The sandbox answers each provider call after this long (real providers take ~100 ms), so that a
#: job lasts long enough for the other worker to pick up the next one.
SANDBOX_LATENCY_MS = 20
START_TIMEOUT_S = 60
#: Generous: a send job retried (a transient failure) waits for RQ's scheduler, and when the worker
#: running it is lost, another takes the scheduler over only after up to ~3 minutes.
SEND_TIMEOUT_S = 240
SANDBOX_SID = "AC" + "7" * 32
SANDBOX_FROM = "+15005550006"


class SetupError(RuntimeError):
    """The fleet could not be built or started (exit status 2)."""


class CheckFailed(AssertionError):
    """The fleet ran but did something wrong (exit status 1)."""


def namespace(host: str) -> str:
    return f"{PREFIX}-{host}"


def on_host(host: str) -> list[str]:
    """The prefix that runs a command on a host. nsenter execs the command (`ip netns exec` forks it),
    so the process we hold is the program itself: a signal we send reaches it."""
    return ["nsenter", f"--net=/run/netns/{namespace(host)}", "--"]


def say(text: str) -> None:
    print(text, flush=True)


def run(*argv: str, check: bool = True, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    if "input" not in kwargs:
        kwargs["stdin"] = subprocess.DEVNULL
    result = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    if check and result.returncode != 0:
        raise SetupError(f"`{' '.join(argv)}` failed ({result.returncode}): {result.stderr.strip()[-1500:]}")
    return result


def wait_for(what: str, ready: Callable[[], bool], timeout: float = START_TIMEOUT_S,
             alive: Callable[[], None] | None = None) -> None:
    """Poll `ready` until it is true; `alive` raises if what we wait for has died meanwhile. Any
    error meanwhile (refused, reset, 503...) means "not up yet" and explains a time-out."""
    try:
        poll(ready, timeout=timeout, tolerate=(Exception,), alive=alive, what=what)
    except TimeoutError as exc:
        raise SetupError(str(exc)) from None


# --- the network ---------------------------------------------------------------------------------

def kill_host(host: str) -> int:
    """SIGKILL every process in a host's namespace (all of them ours); how many there were."""
    pids = run("ip", "netns", "pids", namespace(host), check=False).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass
    return len(pids)


def remove_network() -> None:
    """Delete our namespaces (ending any process left in them by an earlier run), links and bridge."""
    existing = run("ip", "netns", "list", check=False).stdout.split()
    for host in HOSTS:
        ns = namespace(host)
        if ns in existing:
            kill_host(host)
            run("ip", "netns", "del", ns, check=False)
        run("ip", "link", "del", namespace(host), check=False)
    run("ip", "link", "del", BRIDGE, check=False)


def build_network() -> None:
    run("ip", "link", "add", BRIDGE, "type", "bridge")
    run("ip", "addr", "add", f"{BRIDGE_IP}/{SUBNET_BITS}", "dev", BRIDGE)
    run("ip", "link", "set", BRIDGE, "up")
    for host, address in HOSTS.items():
        ns = link = namespace(host)
        run("ip", "netns", "add", ns)
        run("ip", "link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", ns)
        run("ip", "link", "set", link, "master", BRIDGE, "up")
        run("ip", "-n", ns, "addr", "add", f"{address}/{SUBNET_BITS}", "dev", "eth0")
        run("ip", "-n", ns, "link", "set", "eth0", "up")
        run("ip", "-n", ns, "link", "set", "lo", "up")


# --- processes -----------------------------------------------------------------------------------

@dataclass
class Process:
    name: str
    host: str
    popen: subprocess.Popen[bytes]
    log: Path

    def check_alive(self) -> None:
        if self.popen.poll() is not None:
            raise SetupError(f"{self.name} on {self.host} exited with {self.popen.returncode}:\n{self.tail()}")

    def tail(self, lines: int = 25) -> str:
        try:
            return "\n".join("    " + line for line in self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "    (no log)"

    def stop(self, timeout: float = 10.0) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


@dataclass
class Fleet:
    root: Path
    env: dict[str, str] = field(default_factory=dict)
    processes: list[Process] = field(default_factory=list)
    postgres_helper: subprocess.Popen[str] | None = None

    def spawn(self, name: str, host: str, argv: list[str], *, env: dict[str, str] | None = None) -> Process:
        log = self.root / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "wb") as out:
            popen = subprocess.Popen([*on_host(host), *argv], stdout=out,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=env if env is not None else self.env, cwd=self.root)
        process = Process(name, host, popen, log)
        self.processes.append(process)
        return process

    def tocsin(self, host: str, *args: str, data_dir: str, stdin: str | None = None) -> str:
        """Run a short `tocsin` command on a host; its standard output."""
        env = {**self.env, "TOCSIN_DATA_DIR": str(self.root / data_dir)}
        result = run(*on_host(host), sys.executable, "-m", "ops.cli", *args, env=env,
                     cwd=self.root, timeout=120, **({"input": stdin} if stdin is not None else {}))
        return result.stdout.strip()

    def start_postgres(self) -> str:
        """PostgreSQL on the data host: LocalPostgres started by a helper process inside the namespace,
        which stops the cluster when its standard input closes (when this script ends, however it ends)."""
        directory = tempfile.mkdtemp(prefix="tocsin-fleet-pg-")  # LocalPostgres hands it to the postgres user
        code = ("import sys; from pathlib import Path; from ops.local_postgres import LocalPostgres\n"
                "pg = LocalPostgres(Path(sys.argv[1]), host=sys.argv[2], port=int(sys.argv[3]))\n"
                "print(pg.start(), flush=True)\n"
                "try:\n    sys.stdin.read()\nfinally:\n    pg.stop('immediate')\n")
        self.postgres_helper = subprocess.Popen(
            [*on_host("data"), sys.executable, "-c", code, directory, HOSTS["data"],
             str(POSTGRES_PORT)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            cwd=Path(__file__).resolve().parent.parent)
        self._postgres_dir = directory
        url = self.postgres_helper.stdout.readline().strip() if self.postgres_helper.stdout else ""
        if not url.startswith("postgresql"):
            self.postgres_helper.wait(30)
            raise SetupError(f"PostgreSQL did not start: {self.postgres_helper.stderr.read()[-2000:]}")  # type: ignore[union-attr]
        return url

    def nginx_config(self, address: str, port: int) -> Path:
        """nginx's main configuration around the shipped proxy configuration (ops/deploy/
        nginx-compose.conf), its upstreams pointed at this host's console processes."""
        prefix = self.root / "nginx"
        prefix.mkdir(exist_ok=True)
        site = NGINX_CONF.read_text().replace("web1:8080", f"127.0.0.1:{CONSOLE_PORTS[0]}") \
            .replace("web2:8080", f"127.0.0.1:{CONSOLE_PORTS[1]}").replace("listen 8080;", f"listen {address}:{port};")
        (prefix / "tocsin.conf").write_text(site)
        temp = " ".join(f"{kind}_temp_path {prefix / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        main = (f"user root;\nworker_processes 1;\npid {prefix / 'nginx.pid'};\n"
                f"error_log {self.root / 'logs' / 'nginx-error.log'} warn;\n"
                f"events {{ worker_connections 1024; }}\n"
                f"http {{\n  access_log off;\n  {temp}\n  include {prefix / 'tocsin.conf'};\n}}\n")
        (prefix / "nginx.conf").write_text(main)
        return prefix / "nginx.conf"

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        if self.postgres_helper is not None:
            try:
                self.postgres_helper.stdin.close()  # type: ignore[union-attr]
                self.postgres_helper.wait(60)
            except (OSError, subprocess.TimeoutExpired):
                self.postgres_helper.kill()
            shutil.rmtree(self._postgres_dir, ignore_errors=True)


# --- talking to the fleet as an operator would -------------------------------------------------------

class Api:
    def __init__(self, base: str, token: str | None = None):
        self.base, self.token = base, token

    def call(self, method: str, path: str, body: Any = None, *, content_type: str = "application/json",
             expect: int | None = 200) -> Any:
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.base}{path}", data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", content_type)
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        if expect is not None and status != expect:
            raise CheckFailed(f"{method} {path}: expected {expect}, got {status}: {raw[:500]!r}")
        return json.loads(raw) if raw[:1] in (b"{", b"[") else raw.decode(errors="replace")


def sign_in(fleet: Fleet, console_url: str) -> urllib.request.OpenerDirector:
    """A console user made with `tocsin user create`, signed in through the proxy (cookie and CSRF
    token, as a browser would)."""
    email, password = "duty-officer@fleet.example.org", secrets.token_urlsafe(16)
    fleet.tocsin("console", "user", "create", email, "--role", "viewer", data_dir="console", stdin=password + "\n")
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    page = browser.open(f"{console_url}/login", timeout=10).read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    if token is None:
        raise CheckFailed("the sign-in page has no CSRF field")
    form = urllib.parse.urlencode({"email": email, "password": password, "csrf_token": token.group(1)}).encode()
    if urllib.parse.urlsplit(browser.open(f"{console_url}/login", data=form, timeout=10).url).path == "/login":
        raise CheckFailed("the console refused the sign-in")
    return browser


def first_live_state(browser: urllib.request.OpenerDirector, url: str, timeout: float = 30.0) -> dict:
    """The first `state` event of an alert's server-sent events. A proxy that buffered the stream
    would hold it back, and the read would time out."""
    deadline, event = time.monotonic() + timeout, None
    with browser.open(url, timeout=timeout) as stream:
        for raw in stream:
            line = raw.decode().rstrip("\r\n")
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event == "state":
                return json.loads(line.removeprefix("data: "))
            if time.monotonic() > deadline:
                break
    raise CheckFailed(f"no live state from {url} within {timeout:.0f} s")


def phone(n: int) -> str:
    return f"+1202555{n:04d}"


def email(n: int) -> str:
    return f"p{n}@fleet.example.org"


def people_csv(count: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["external_id", "name", "phone", "email", "groups", "locale"])
    for n in range(count):
        writer.writerow([f"F{n:05d}", f"Person {n}", phone(n), email(n), "Everyone", "en"])
    return out.getvalue().encode()


# --- the test ------------------------------------------------------------------------------------

class Checks:
    def __init__(self) -> None:
        self.passed = 0

    def __call__(self, ok: bool, what: str, detail: str = "") -> None:
        if not ok:
            raise CheckFailed(f"{what}{': ' + detail if detail else ''}")
        self.passed += 1
        say(f"  ok   {what}")


def send_alert(api: Api, title: str) -> int:
    alert = api.call("POST", "/api/v1/alerts", {
        "title": title, "message": f"{title}: this is the fleet test, no action needed.",
        "channels": ["sms", "email"], "target": {"groups": ["Everyone"]}}, expect=201)
    started = api.call("POST", f"/api/v1/alerts/{alert['id']}/send", expect=202)
    if not started.get("started"):
        raise CheckFailed(f"alert {alert['id']} did not start: {started}")
    return int(alert["id"])


def queue_report(redis: Any) -> str:
    """Each queue's waiting, running and failed jobs: what a stuck send is waiting for."""
    from ops.queues import QUEUE_NAMES, queue
    parts = []
    for name in QUEUE_NAMES:
        q = queue(redis, name)
        parts.append(f"{name}: {q.count} waiting, {q.started_job_registry.count} running, "
                     f"{q.failed_job_registry.count} failed, {q.scheduled_job_registry.count} scheduled")
    return "; ".join(parts)


def wait_until_sent(api: Api, sandbox: Api, redis: Any, alert_id: int, watch: list[Process]) -> dict:
    deadline = time.monotonic() + SEND_TIMEOUT_S
    while time.monotonic() < deadline:
        for process in watch:
            process.check_alive()
        summary = api.call("GET", f"/api/v1/alerts/{alert_id}")
        pending = sandbox.call("GET", "/sandbox/stats")["callbacks"]["pending"]
        if summary["status"] == "sent" and pending == 0:
            return summary
        time.sleep(0.25)
    raise CheckFailed(f"alert {alert_id} still {summary['status']} after {SEND_TIMEOUT_S} s: "
                      f"{json.dumps(summary['deliveries'])}; queues: {queue_report(redis)}")


def jobs_by_host(redis: Any, alert_id: int, worker_hosts: dict[str, str]) -> dict[str, Counter[str]]:
    """Messages of an alert each host's worker sent, by channel: from RQ's finished jobs, each of
    which records the worker that ran it."""
    from rq.job import Job
    from rq.serializers import JSONSerializer

    from ops.queues import QUEUE_NAMES, queue
    sent: dict[str, Counter[str]] = {}
    for name in QUEUE_NAMES:
        ids = queue(redis, name).finished_job_registry.get_job_ids()
        for job in Job.fetch_many(ids, connection=redis, serializer=JSONSerializer):
            if job is None or job.func_name != "ops.jobs.send_batch" or job.args[0] != alert_id:
                continue
            host = worker_hosts.get(job.worker_name or "", f"unknown worker {job.worker_name}")
            sent.setdefault(host, Counter())[job.args[1]] += len(job.args[2])
    return sent


def check_inboxes(check: Checks, sandbox: Api, title: str) -> None:
    messages = [m for m in sandbox.call("GET", "/sandbox/messages") if title in m["body"]]
    got = Counter((m["channel"], m["to"]) for m in messages)
    want = {("sms", phone(n)) for n in range(PEOPLE)} | {("email", email(n)) for n in range(PEOPLE)}
    check(set(got) == want, f"the sandbox got {title!r} on SMS and email for each of the {PEOPLE} people",
          f"missing {len(want - set(got))}, unexpected {len(set(got) - want)}")
    doubled = {k: v for k, v in got.items() if v != 1}
    check(not doubled, f"each of the {len(want)} messages exactly once", f"{len(doubled)} more than once")


def check_callbacks(check: Checks, sandbox: Api) -> None:
    """Every status callback the sandbox signed was accepted through the proxy: the signature is
    over TOCSIN_PUBLIC_URL, the proxy's URL, which is what the consoles check it against."""
    callbacks = sandbox.call("GET", "/sandbox/stats")["callbacks"]
    check(callbacks["sent"] > 0 and callbacks["failed"] == 0,
          f"all {callbacks['sent']} signed status callbacks accepted through the proxy", json.dumps(callbacks))


def check_summary(check: Checks, summary: dict) -> None:
    totals = {channel: sum(counts.values()) for channel, counts in summary["deliveries"].items()
              if sum(counts.values())}
    failed = {channel: counts for channel, counts in summary["deliveries"].items()
              if any(n for status, n in counts.items() if status not in ("queued", "sent", "delivered"))}
    check(totals == {"sms": PEOPLE, "email": PEOPLE} and not failed,
          f"alert {summary['id']} is sent: {PEOPLE} SMS and {PEOPLE} emails, none failed", json.dumps(summary["deliveries"]))


def show(sent: dict[str, Counter[str]]) -> None:
    for host, counts in sorted(sent.items()):
        say(f"       {host:<10} sent " + ", ".join(f"{n} {channel}" for channel, n in sorted(counts.items())))


def fleet_test(fleet: Fleet, check: Checks) -> None:
    from redis import Redis
    from rq import Worker

    from ops.vapid_keys import generate_private_key

    say("1. network: a bridge and four namespaces")
    remove_network()
    build_network()
    for host, address in HOSTS.items():
        say(f"       {namespace(host):<16} {address}")

    say("2. data host: PostgreSQL and Redis")
    database_url = fleet.start_postgres()
    redis_password = secrets.token_urlsafe(16)
    (fleet.root / "redis").mkdir()
    redis_server = fleet.spawn("redis", "data", [_redis_server(), "--bind", HOSTS["data"], "--port", str(REDIS_PORT),
                                                 "--requirepass", redis_password, "--save", "", "--appendonly", "no",
                                                 "--dir", str(fleet.root / "redis")], env={})
    redis_url = f"redis://:{redis_password}@{HOSTS['data']}:{REDIS_PORT}/0"
    redis = Redis.from_url(redis_url)
    wait_for("Redis", lambda: bool(redis.ping()), alive=redis_server.check_alive)
    say(f"       {database_url}\n       redis://:***@{HOSTS['data']}:{REDIS_PORT}/0")

    console_url = f"http://{HOSTS['console']}:{PROXY_PORT}"  # the proxy: TOCSIN_PUBLIC_URL
    sandbox_url = f"http://{HOSTS['console']}:{SANDBOX_PORT}"
    fleet.env = {**{k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")},
                 "TOCSIN_DATABASE_URL": database_url, "TOCSIN_REDIS_URL": redis_url,
                 "TOCSIN_PUBLIC_URL": console_url, "TOCSIN_SECRET_KEY": secrets.token_urlsafe(32),
                 "TOCSIN_VAPID_PRIVATE_KEY": generate_private_key(),
                 "TOCSIN_TWILIO_ACCOUNT_SID": SANDBOX_SID, "TOCSIN_TWILIO_AUTH_TOKEN": secrets.token_hex(16),
                 "TOCSIN_TWILIO_FROM": SANDBOX_FROM, "TOCSIN_TWILIO_API_BASE": f"{sandbox_url}/sandbox/twilio",
                 "TOCSIN_SMTP_URL": f"smtp://{HOSTS['console']}:{SMTP_PORT}",
                 "TOCSIN_SMTP_FROM": "alerts@fleet.example.org", "TOCSIN_BATCH_SIZE": str(BATCH_SIZE),
                 "TOCSIN_LOG_LEVEL": "INFO"}

    say("3. console host: `tocsin db upgrade` once, the sandbox, two `tocsin serve --workers 0`, nginx")
    fleet.tocsin("console", "db", "upgrade", data_dir="console")
    sandbox_process = fleet.spawn("sandbox", "console", [
        sys.executable, "-m", "ops.cli", "sandbox", "--host", "0.0.0.0", "--port", str(SANDBOX_PORT),
        "--smtp-port", str(SMTP_PORT), "--inbound-sms-url", f"{console_url}/hooks/twilio/sms"])
    sandbox = Api(sandbox_url)
    wait_for("the sandbox", lambda: "callbacks" in sandbox.call("GET", "/sandbox/stats"), alive=sandbox_process.check_alive)
    sandbox.call("POST", "/sandbox/config", {"latency_ms": SANDBOX_LATENCY_MS})
    def start_console(n: int, port: int, name: str = "") -> Process:
        return fleet.spawn(name or f"web{n}", "console", [
            sys.executable, "-m", "ops.cli", "serve", "--workers", "0", "--host", "127.0.0.1", "--port", str(port)],
            env={**fleet.env, "TOCSIN_DATA_DIR": str(fleet.root / f"web{n}")})

    # Started together, as a fleet's units are at boot.
    consoles = [start_console(n, port) for n, port in enumerate(CONSOLE_PORTS, 1)]
    for index, port in enumerate(CONSOLE_PORTS):
        probe = [*on_host("console"), sys.executable, "-c",
                 f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}/healthz', timeout=5)"]
        try:
            wait_for(f"console process web{index + 1}", lambda probe=probe: run(*probe, check=False).returncode == 0,
                     alive=consoles[index].check_alive)
        except SetupError:
            if consoles[index].popen.poll() is None:
                raise
            # Restarted once, as systemd's Restart= would, and said: a start-up race is a bug to fix.
            reason = next((line.strip() for line in reversed(consoles[index].tail(60).splitlines())
                           if "Error" in line or "Exception" in line), "see its log")
            say(f"  WARN web{index + 1} exited at start-up ({reason[:200]}); starting it again")
            consoles[index] = start_console(index + 1, port, name=f"web{index + 1}-restarted")
            wait_for(f"console process web{index + 1}", lambda probe=probe: run(*probe, check=False).returncode == 0,
                     alive=consoles[index].check_alive)
    proxy = fleet.spawn("nginx", "console", [_nginx(), "-c", str(fleet.nginx_config(HOSTS["console"], PROXY_PORT)),
                                             "-p", str(fleet.root / "nginx"), "-g", "daemon off;"], env={})
    wait_for("the proxy", lambda: urllib.request.urlopen(f"{console_url}/healthz", timeout=5).status == 200,
             alive=proxy.check_alive)
    say(f"       proxy {console_url} -> 127.0.0.1:{CONSOLE_PORTS[0]}, 127.0.0.1:{CONSOLE_PORTS[1]}; "
        f"sandbox {sandbox_url}")
    console = consoles[0]
    Api(console_url).call("GET", "/metrics", expect=404)  # raises CheckFailed otherwise
    check(True, "the proxy hides /metrics (404)")

    say("4. worker hosts: `tocsin worker` on each")
    workers = {host: fleet.spawn(host, host, [sys.executable, "-m", "ops.cli", "worker"],
                                 env={**fleet.env, "TOCSIN_DATA_DIR": str(fleet.root / host)})
               for host in ("worker1", "worker2")}
    worker_hosts: dict[str, str] = {}  # RQ worker name -> our host name, from the address it reaches Redis from

    def both_registered() -> bool:
        by_address = {address: host for host, address in HOSTS.items()}
        for worker in Worker.all(connection=redis):
            host = by_address.get((worker.ip_address or "").rsplit(":", 1)[0])
            if host:
                worker_hosts[worker.name] = host
        return set(worker_hosts.values()) == {"worker1", "worker2"}

    def workers_alive() -> None:
        for worker in workers.values():
            worker.check_alive()

    wait_for("both workers to register with Redis", both_registered, alive=workers_alive)
    for name, host in sorted(worker_hosts.items(), key=lambda item: item[1]):
        say(f"       {host}: RQ worker {name[:12]}... from {HOSTS[host]}")

    say("5. an operator: `tocsin token create`, people imported through the API")
    token = fleet.tocsin("console", "token", "create", "--role", "admin", "--label", "fleet test", data_dir="console")
    api = Api(console_url, token.splitlines()[-1])
    api.call("POST", "/api/v1/groups", {"name": "Everyone"}, expect=201)
    imported = api.call("POST", "/api/v1/recipients/import", people_csv(PEOPLE), content_type="text/csv")
    check(imported.get("created") == PEOPLE, f"{PEOPLE} people imported", json.dumps(imported))

    say("6. an alert (SMS and email), both workers up")
    first = send_alert(api, "Fleet check one")
    check_summary(check, wait_until_sent(api, sandbox, redis, first, [proxy, *consoles, *workers.values()]))
    check_callbacks(check, sandbox)
    check_inboxes(check, sandbox, "Fleet check one")
    sent = jobs_by_host(redis, first, worker_hosts)
    show(sent)
    check(set(sent) == {"worker1", "worker2"}, "both workers sent part of it", f"senders: {sorted(sent)}")
    check(sum(sum(c.values()) for c in sent.values()) == 2 * PEOPLE,
          f"the workers' jobs account for all {2 * PEOPLE} messages")

    say("7. the worker1 host is lost (SIGKILL to every process on it), and console process web1; "
        "a second alert")
    # Every process, not only `tocsin worker`: RQ's scheduler runs in a child process that holds
    # copies of the worker's Redis connections, and would keep taking jobs it can never run.
    killed = kill_host("worker1")
    workers["worker1"].popen.wait()
    console.popen.kill()
    console.popen.wait()
    say(f"       killed {killed} process(es) on worker1, and web1")
    second = send_alert(api, "Fleet check two")
    check_summary(check, wait_until_sent(api, sandbox, redis, second, [proxy, consoles[1], workers["worker2"]]))
    check_callbacks(check, sandbox)
    check_inboxes(check, sandbox, "Fleet check two")
    sent = jobs_by_host(redis, second, worker_hosts)
    show(sent)
    check(set(sent) == {"worker2"} and sum(sent["worker2"].values()) == 2 * PEOPLE,
          "worker2 alone sent all of it")
    state = first_live_state(sign_in(fleet, console_url), f"{console_url}/alerts/{second}/events")
    check(isinstance(state, dict) and bool(state), f"a duty officer signed in through the proxy sees alert {second}'s "
          f"live view (server-sent events, unbuffered)", json.dumps(state)[:300])
    redis.close()


def _nginx() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if found is None:
        say("       installing Debian's nginx-light")
        run("apt-get", "install", "-y", "-qq", "nginx-light", check=False)
        if run("sh", "-c", "command -v nginx || test -x /usr/sbin/nginx", check=False).returncode != 0:
            run("apt-get", "update", "-qq")
            run("apt-get", "install", "-y", "-qq", "nginx-light")
        found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if found is None:
        raise SetupError("nginx is not installed and could not be (apt-get install nginx-light)")
    return found


def _redis_server() -> str:
    from ops.embedded_redis import find_redis_server
    return find_redis_server()


def main() -> int:
    if os.geteuid() != 0 or not (shutil.which("ip") and shutil.which("nsenter")):
        print("fleet-test: needs root, `ip` and `nsenter` (network namespaces and veth pairs)", file=sys.stderr)
        return 2
    # Ctrl-C, a terminal closing or `kill` still run the clean-up below.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda number, _frame: sys.exit(128 + number))
    started = time.monotonic()
    fleet = Fleet(Path(tempfile.mkdtemp(prefix="tocsin-fleet-")))
    check = Checks()
    status = 2
    try:
        fleet_test(fleet, check)
        status = 0
    except CheckFailed as exc:
        status = 1
        say(f"  FAIL {exc}")
    except SetupError as exc:
        say(f"  ERROR {exc}")
    except KeyboardInterrupt:
        status = 130
        say("  interrupted")
    except Exception:
        say(f"  ERROR the fleet test itself failed:\n{traceback.format_exc()}")
    finally:
        if status:
            for process in fleet.processes:
                say(f"--- last lines of {process.name} ({process.host}) ---\n{process.tail()}")
            kept = Path(os.environ.get("TOCSIN_FLEET_LOGS", "var/fleet-test")) / time.strftime("%Y%m%dT%H%M%S")
            shutil.copytree(fleet.root / "logs", kept, dirs_exist_ok=True)
            say(f"every process's whole log: {kept}/")
        say("8. clean-up: processes, PostgreSQL, namespaces, links")
        fleet.stop()
        remove_network()
        shutil.rmtree(fleet.root, ignore_errors=True)
    failed = 1 if status else 0
    say(f"fleet-test: {check.passed} passed, {failed} failed in {time.monotonic() - started:.0f} s")
    return status


if __name__ == "__main__":
    sys.exit(main())
