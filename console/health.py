"""Liveness for load balancers and `make run`: 200 once the database and Redis both answer."""
from __future__ import annotations

from aiohttp import web
from sqlalchemy import text

from console.db import in_thread
from console.keys import RUNTIME


async def healthz(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    problems = {}

    def check_database() -> None:
        with runtime.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    for name, check in (("database", check_database), ("redis", runtime.redis.ping)):
        try:
            await in_thread(request, check)
        except Exception as exc:  # any failure means "not ready"; say which part and why
            problems[name] = f"{type(exc).__name__}: {exc}"[:200]
    if problems:
        return web.json_response({"status": "unavailable", "problems": problems}, status=503)
    return web.json_response({"status": "ok"})
