"""JSON API: provider health (errors and delivery latency per provider)."""
from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from alerting.errors import ValidationError
from alerting.provider_health import provider_health
from alerting.statuses import Role
from console.auth import require
from console.db import in_transaction


async def health(request: web.Request) -> web.Response:
    """`?minutes=60`: per channel and provider, messages, failures, delivery p50/p95, lagging."""
    require(request, Role.VIEWER)
    raw = request.query.get("minutes", "60")
    if not raw.isdigit() or not 1 <= int(raw) <= 7 * 24 * 60:
        raise ValidationError("minutes must be a whole number from 1 to 10080", field="minutes")
    window = timedelta(minutes=int(raw))
    return web.json_response({"providers": await in_transaction(request, lambda s: provider_health(s, window=window))})
