"""`/metrics` for Prometheus: every process's counts (ops/metrics.py) and the queues in Redis.

Unauthenticated, like `/healthz`: it carries counts by channel, provider and status and nothing
about people. A deployment that exposes the console to the internet should let only its
Prometheus reach this path (a rule at the proxy).
"""
from __future__ import annotations

from aiohttp import web

from console.db import in_thread
from console.keys import RUNTIME
from ops import metrics as exposition


async def metrics(request: web.Request) -> web.Response:
    redis = request.app[RUNTIME].redis
    body, content_type = await in_thread(request, exposition.exposition, redis, request.headers.get("Accept", ""))
    response = web.Response(body=body)
    response.headers["Content-Type"] = content_type  # carries the exposition format's version
    return response


def setup(app: web.Application) -> None:
    app.router.add_get("/metrics", metrics)
