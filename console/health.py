"""Health for load balancers, orchestrators and `make run`.

`/healthz` is liveness: 200 `{"status": "ok"}` whenever the process answers (restart it if not).
`/readyz` is readiness: 200 only while this process can do its work: the database and Redis
answer, the schema is at the migrations' head (a process newer or older than its database must not
take traffic), and, under `tocsin serve` with workers, at least one of its workers is running.
Otherwise 503 with `problems` naming each failed check and why. Neither needs a login; neither
says anything about people.
"""
from __future__ import annotations

from functools import cache
from typing import Callable

from aiohttp import web
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from console.db import in_thread
from console.keys import RUNTIME
from ops.database import alembic_config

#: Set by `tocsin serve` when it supervises workers: gives (running, started) worker processes.
WORKER_PROCESSES = web.AppKey("worker_processes", Callable[[], tuple[int, int]])


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@cache
def _migration_heads() -> frozenset[str]:
    return frozenset(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


async def readyz(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    checks: dict[str, str] = {}
    problems: dict[str, str] = {}

    def check_database() -> str:
        with runtime.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            current = frozenset(MigrationContext.configure(connection).get_current_heads())
        if current != _migration_heads():
            raise RuntimeError(f"schema at {', '.join(sorted(current)) or 'nothing'}, migrations at "
                               f"{', '.join(sorted(_migration_heads()))}: run `tocsin db upgrade`")
        return "ok"

    def check_redis() -> str:
        runtime.redis.ping()
        return "ok"

    for name, check in (("database", check_database), ("redis", check_redis)):
        try:
            checks[name] = await in_thread(request, check)
        except Exception as exc:  # any failure means "not ready"; say which part and why
            problems[name] = f"{type(exc).__name__}: {exc}"[:300]
    workers = request.app.get(WORKER_PROCESSES)
    if workers is not None:
        running, started = workers()
        checks["workers"] = f"{running} of {started} running"
        if started and not running:
            problems["workers"] = f"none of the {started} worker processes is running"
    if problems:
        return web.json_response({"status": "unavailable", "checks": checks, "problems": problems}, status=503)
    return web.json_response({"status": "ok", "checks": checks})
