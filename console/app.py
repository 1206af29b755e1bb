"""The application factory: `create_app(runtime)` gives the whole web app, ready to run."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import AsyncIterator

from aiohttp import web

from console import render
from console.auth import bearer_auth_middleware
from console.errors import errors_middleware
from alerting.deliveries import apply_statuses
from console.group_commit import GroupCommitter
from console.keys import DB_EXECUTOR, RUNTIME, STATUS_WRITER, TWILIO_TOKENS
from console.routes import setup_routes
from console.session import session_middleware
from ops import defaults
from ops.runtime import Runtime

#: Threads running database work for the web process; SQLite serialises writers anyway.
DB_THREADS = 8


def create_app(runtime: Runtime, *, extra_twilio_tokens: tuple[str, ...] = ()) -> web.Application:
    app = web.Application(client_max_size=defaults.MAX_BODY_BYTES,
                          middlewares=[errors_middleware, session_middleware, bearer_auth_middleware])
    app[RUNTIME] = runtime
    tokens = tuple(t for t in (*runtime.settings.webhook_tokens, *extra_twilio_tokens) if t)
    app[TWILIO_TOKENS] = tokens
    app.cleanup_ctx.append(_db_executor)
    render.setup(app)
    setup_routes(app)
    return app


async def _db_executor(app: web.Application) -> AsyncIterator[None]:
    executor = ThreadPoolExecutor(DB_THREADS, thread_name_prefix="tocsin-db")
    app[DB_EXECUTOR] = executor
    writer = GroupCommitter(app[RUNTIME].sessions, executor, apply_statuses)
    app[STATUS_WRITER] = writer
    writer.start()
    yield
    await writer.stop()
    executor.shutdown(wait=True)
