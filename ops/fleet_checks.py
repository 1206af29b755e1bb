"""What `make fleet-test` (ops/fleet_test.py) checks, and how: talking to the fleet as an operator
would (the API through the proxy, a console user signed in, the sandbox's inboxes and stats) and
counting what each worker host sent (RQ's finished jobs). A check that fails raises CheckFailed
(exit status 1).
"""
from __future__ import annotations

import csv
import http.cookiejar
import io
import json
import re
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from typing import Any

from ops.fleet_setup import Fleet, Process, say

#: People imported (phone(n), email(n), in the group "Everyone"); each alert goes to all of them.
PEOPLE = 200
#: Generous: a send job retried (a transient failure) waits for RQ's scheduler, and when the worker
#: running it is lost, another takes the scheduler over only after up to ~3 minutes.
SEND_TIMEOUT_S = 240


class CheckFailed(AssertionError):
    """The fleet ran but did something wrong (exit status 1)."""


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


# --- the checks ----------------------------------------------------------------------------------

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

