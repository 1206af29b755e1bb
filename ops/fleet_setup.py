"""Building the fleet of `make fleet-test` (ops/fleet_test.py): hosts out of network namespaces
on one bridge, and the processes started on them.

Each host is a Linux network namespace `tfleet-<name>` joined to the bridge `tfleet0` by a veth
pair of the same name; a command runs on a host through `nsenter` (on_host). `Fleet` starts and
stops the processes (PostgreSQL through ops/local_postgres.py, Redis, nginx, `tocsin ...`), each
with its log under the fleet's directory. Anything that cannot be built or started raises
SetupError (exit status 2). Needs root, `ip` and `nsenter`.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
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
START_TIMEOUT_S = 60


class SetupError(RuntimeError):
    """The fleet could not be built or started (exit status 2)."""


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


def nginx_path() -> str:
    """nginx's executable; Debian's nginx-light is installed first when there is none."""
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


def redis_server_path() -> str:
    """The redis-server to run on the data host: as ops/embedded_redis.py finds one."""
    from ops.embedded_redis import find_redis_server
    return find_redis_server()

