"""Shared fixtures: a real Redis server, a fresh database per test, the real app and sandbox on a
real port, and an in-process RQ worker. Nothing here mocks a provider or Redis."""
from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Callable, Iterator

import aiohttp
import psycopg
import pytest
from hypothesis import settings as hypothesis_settings
from aiohttp import web
from redis import Redis
from rq.serializers import JSONSerializer
from rq.timeouts import TimerDeathPenalty

from alerting import tokens
from console.app import create_app
from ops import database, jobs
from ops.embedded_redis import EmbeddedRedis, free_port
from ops.local_postgres import LocalPostgres
from ops.queues import QUEUE_NAMES, queue
from ops.runtime import Runtime
from ops.sandbox import SANDBOX_STATE, create_sandbox_app
from ops.settings import SANDBOX_ACCOUNT_SID, SANDBOX_FROM_NUMBER, Settings
from ops.worker import TocsinWorker

SANDBOX_TOKEN = "sandbox-test-token"

# Property tests: no per-example deadline (a loaded 2-core CI machine is slow, not wrong), and in
# CI the same examples every run, so a red build always reproduces; locally, fresh examples.
hypothesis_settings.register_profile("tocsin", deadline=None)
hypothesis_settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
hypothesis_settings.load_profile("ci" if os.environ.get("CI") else "tocsin")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: EmbeddedRedis) -> Iterator[str]:
    client = Redis.from_url(redis_server.url)
    client.flushall()
    yield redis_server.url
    client.flushall()
    client.close()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--database", choices=("sqlite", "postgresql"),
                     default=os.environ.get("TOCSIN_TEST_DATABASE", "sqlite"),
                     help="database the tests run on (default: $TOCSIN_TEST_DATABASE, else sqlite); "
                          "postgresql starts a private cluster (ops/local_postgres.py) for the session")


def pytest_report_header(config: pytest.Config) -> str:
    return f"tocsin database: {config.getoption('--database')}"


POSTGRES_TEMPLATE = "tocsin_template"


@pytest.fixture(scope="session")
def postgres_server(request: pytest.FixtureRequest) -> Iterator[LocalPostgres]:
    """A private PostgreSQL cluster for the session, with a migrated template database to copy per test.

    Its directory comes from mkdtemp (under /tmp) because, as root, the cluster runs as the postgres
    user, who cannot enter pytest's own temporary directories."""
    directory = Path(tempfile.mkdtemp(prefix="tocsin-test-pg-"))
    server = LocalPostgres(directory)
    server.start()
    try:
        with psycopg.connect(_psycopg_dsn(server.url()), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {POSTGRES_TEMPLATE}")
        database.upgrade(server.url(POSTGRES_TEMPLATE))
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


def _psycopg_dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated once, copied for each test (a copy costs far less than migrating)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "tocsin.db"
    database.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database for one test: a SQLite file, or a copy of the PostgreSQL template."""
    if request.config.getoption("--database") == "sqlite":
        path = tmp_path / "tocsin.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    server: LocalPostgres = request.getfixturevalue("postgres_server")
    name = f"test_{next(_database_numbers)}"
    with psycopg.connect(_psycopg_dsn(server.url()), autocommit=True) as conn:
        # FILE_COPY (PostgreSQL 15+; before, the only way) copies a small database ~8x faster than WAL_LOG.
        strategy = " STRATEGY FILE_COPY" if conn.info.server_version >= 150000 else ""
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {POSTGRES_TEMPLATE}{strategy}")
    yield server.url(name)
    with psycopg.connect(_psycopg_dsn(server.url()), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


_database_numbers = itertools.count(1)


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path, database_url: str, redis_url: str) -> Settings:
    """Settings for a test system; `@pytest.mark.settings(name=value, ...)` changes some of them."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    marker = request.node.get_closest_marker("settings")
    overrides = {k: (v.format(base=base) if isinstance(v, str) else v) for k, v in (marker.kwargs if marker else {}).items()}
    return replace(Settings(data_dir=tmp_path, port=port, database_url=database_url, redis_url=redis_url,
                    public_url=base, twilio_account_sid=SANDBOX_ACCOUNT_SID, twilio_auth_token=SANDBOX_TOKEN,
                    twilio_from=SANDBOX_FROM_NUMBER, twilio_api_base=f"{base}/sandbox/twilio",
                    smtp_url=f"smtp://127.0.0.1:{free_port()}", smtp_from="alerts@campus.example.edu",
                    org_name="Test University", org_contact="campus police 555-0100"), **overrides)


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    rt = Runtime.build(settings, retry_intervals=(0, 0, 0))
    jobs.use_runtime(rt)
    yield rt
    jobs.use_runtime(None)
    rt.close()


class ThreadWorker(TocsinWorker):
    """Tocsin's worker, able to run in a thread (no signal handlers, timer-based timeouts)."""
    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self) -> None:
        pass


def run_worker_burst(runtime: Runtime) -> None:
    worker = ThreadWorker([queue(runtime.redis, n) for n in QUEUE_NAMES], connection=runtime.redis,
                          serializer=JSONSerializer)
    worker.work(burst=True, logging_level="WARNING")


@dataclass
class System:
    """Tocsin and its sandbox, listening on a real port, with an API session."""
    runtime: Runtime
    base_url: str
    api: aiohttp.ClientSession
    sandbox_app: web.Application
    token: str

    @property
    def sandbox(self) -> Any:
        return self.sandbox_app[SANDBOX_STATE]

    async def drain(self, timeout: float = 60.0) -> None:
        """Run workers until every queue is empty, then wait for the sandbox's callbacks."""
        deadline = time.monotonic() + timeout
        while True:
            await asyncio.to_thread(run_worker_burst, self.runtime)
            await self.callbacks_settled(deadline - time.monotonic())
            if all(queue(self.runtime.redis, n).count == 0 for n in QUEUE_NAMES):
                return
            if time.monotonic() > deadline:
                raise TimeoutError("queues did not drain")

    async def callbacks_settled(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            stats = await (await self.api.get(f"{self.base_url}/sandbox/stats")).json()
            if stats.get("callbacks", {}).get("pending", 0) == 0:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"sandbox callbacks still pending: {stats}")
            await asyncio.sleep(0.05)

    async def call(self, method: str, path: str, *, expect: int | None = None, **kwargs: Any) -> Any:
        async with self.api.request(method, f"{self.base_url}{path}", **kwargs) as response:
            body = await (response.json() if response.content_type == "application/json" else response.text())
            if expect is not None:
                assert response.status == expect, (response.status, body)
            return body


def make_token(runtime: Runtime, role: str) -> str:
    with runtime.sessions.begin() as session:
        return tokens.create_token(session, role, actor="test")


@asynccontextmanager
async def running_system(runtime: Runtime, aiohttp_server: Any,
                         prepare: Callable[[web.Application], None] | None = None) -> AsyncIterator[System]:
    """The app (after `prepare(app)`, for a test that needs to adjust it) and the sandbox on the
    runtime's port, with an admin API session."""
    app = create_app(runtime)
    if prepare is not None:
        prepare(app)
    sandbox_app = create_sandbox_app(inbound_sms_url=f"{runtime.settings.effective_public_url}/hooks/twilio/sms",
                                     smtp_port=int(runtime.settings.smtp_url.rsplit(":", 1)[1]))
    app.add_subapp("/sandbox/", sandbox_app)
    await aiohttp_server(app, port=runtime.settings.port)
    token = make_token(runtime, "admin")
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as api:
        yield System(runtime, runtime.settings.effective_public_url, api, sandbox_app, token)


@pytest.fixture
async def system(runtime: Runtime, aiohttp_server: Any) -> AsyncIterator[System]:
    async with running_system(runtime, aiohttp_server) as running:
        yield running
