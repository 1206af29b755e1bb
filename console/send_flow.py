"""Pressing send, wherever it is pressed (console, API, quick launch): one path.

`submit` asks the core to start the send and, when it starts, enqueues the dispatch and schedules
escalation. A second press (two operators at once, a double click, a stale page) starts nothing.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from alerting import alerts, dispatch
from alerting.errors import ValidationError
from console import api_escalation
from console.db import in_transaction
from console.keys import RUNTIME


async def submit(request: web.Request, alert_id: int, *, actor: str,
                 scheduled_for: datetime | None = None) -> dict[str, Any]:
    """Start sending alert `alert_id` (or schedule it); returns its summary with `started` (False
    on a repeat)."""
    if scheduled_for is not None:
        raise ValidationError("scheduling is not available yet", field="scheduled_for")
    runtime = request.app[RUNTIME]
    alert, started = await in_transaction(request, lambda s: dispatch.request_send(s, alert_id, actor=actor))
    if started:
        runtime.enqueuer.enqueue_dispatch(alert_id, urgent=dispatch.is_urgent(alert))
        await api_escalation.schedule_escalation(request, alert_id)
    body = await in_transaction(request, lambda s: alerts.summary(s, alerts.get_alert(s, alert_id)))
    body["started"] = started
    return body
