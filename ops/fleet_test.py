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

This module is the scenario; the hosts and the processes on them are built by ops/fleet_setup.py,
and ops/fleet_checks.py talks to the fleet as an operator would and checks what it did.

Needs root (namespaces, veth pairs), `ip` and `nsenter` (iproute2, util-linux), and Debian's
postgresql and redis-server (`make install` adds them).
Every namespace, link and process it made is removed on exit, on failure and on Ctrl-C too.
Exit status: 0 when every check passed, 1 when one failed, 2 when the fleet could not be set up.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
import traceback
import urllib.request
from pathlib import Path

from ops.fleet_checks import (PEOPLE, Api, CheckFailed, Checks, check_callbacks, check_inboxes, check_summary,
                              first_live_state, jobs_by_host, people_csv, send_alert, show, sign_in, wait_until_sent)
from ops.fleet_setup import (CONSOLE_PORTS, HOSTS, PROXY_PORT, REDIS_PORT, SANDBOX_PORT, SMTP_PORT, Fleet, Process,
                             SetupError, build_network, kill_host, namespace, nginx_path, on_host,
                             redis_server_path, remove_network, run, say, wait_for)

#: Small batches, so one alert is many jobs and both workers take some.
BATCH_SIZE = 10
#: The sandbox answers each provider call after this long (real providers take ~100 ms), so that a
#: job lasts long enough for the other worker to pick up the next one.
SANDBOX_LATENCY_MS = 20
SANDBOX_SID = "AC" + "7" * 32
SANDBOX_FROM = "+15005550006"


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
    redis_server = fleet.spawn("redis", "data", [
        redis_server_path(), "--bind", HOSTS["data"], "--port", str(REDIS_PORT), "--requirepass", redis_password,
        "--save", "", "--appendonly", "no", "--dir", str(fleet.root / "redis")], env={})
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
    proxy = fleet.spawn("nginx", "console", [nginx_path(), "-c", str(fleet.nginx_config(HOSTS["console"], PROXY_PORT)),
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


def main(argv: list[str] | None = None) -> int:
    # No options: --help says what it does before anything is built.
    argparse.ArgumentParser(prog="python -m ops.fleet_test", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter).parse_args(argv)
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
