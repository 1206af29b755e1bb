"""JSON API for escalation and accountability: policies, the report, cancel, close, on-behalf status."""
from __future__ import annotations

from aiohttp import web

from alerting import dispatch
from alerting.alerts import get_alert
from alerting.errors import ValidationError
from alerting.statuses import Role
from console.auth import require
from console import live
from console.db import in_thread, in_transaction
from console.errors import read_json
from console.keys import RUNTIME
from console.paths import path_id
from escalation import accountability, engine, policies, report
from ops.jobs import RQStepScheduler, publisher


def _alert_id(request: web.Request) -> int:
    return path_id(request, "alert_id")


async def create_policy(request: web.Request) -> web.Response:
    actor = require(request, Role.ADMIN)
    data = await read_json(request)
    channels = request.app[RUNTIME].available_channels
    body = await in_transaction(request, lambda s: policies.describe(
        policies.create_policy(s, data, actor=actor, available_channels=channels)))
    return web.json_response(body, status=201)


async def list_policies(request: web.Request) -> web.Response:
    require(request, Role.VIEWER)
    return web.json_response(await in_transaction(request, policies.list_policies))


async def schedule_escalation(request: web.Request, alert_id: int) -> int:
    """After a send starts: schedule the runs of the alert's policy (nothing if it names none)."""
    runtime = request.app[RUNTIME]
    return await in_thread(request, engine.schedule_alert, runtime.sessions, RQStepScheduler(runtime.redis), alert_id)


async def get_report(request: web.Request) -> web.StreamResponse:
    """The accountability report; `?format=csv` for a spreadsheet."""
    require(request, Role.VIEWER)
    alert_id = _alert_id(request)
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "csv"):
        raise ValidationError("format must be json or csv", field="format")
    body = await in_transaction(request, lambda s: report.build(s, get_alert(s, alert_id)))
    if fmt == "csv":
        return web.Response(text=report.to_csv(body), content_type="text/csv", charset="utf-8", headers={
            "Content-Disposition": f'attachment; filename="alert-{alert_id}-report.csv"'})
    return web.json_response(body)


async def _optional_json(request: web.Request) -> object:
    return await read_json(request) if request.can_read_body and (await request.read()).strip() else None


async def cancel_alert(request: web.Request) -> web.Response:
    """Stop sending and escalating; `{"message": ...}` also sends an all-clear to the same people."""
    actor = require(request, Role.OPERATOR)
    alert_id = _alert_id(request)
    runtime = request.app[RUNTIME]
    data = await _optional_json(request)
    alert, follow_up = await in_transaction(request, lambda s: accountability.cancel(
        s, alert_id, data, actor=actor, available_channels=runtime.available_channels))
    if follow_up is not None:
        runtime.enqueuer.enqueue_dispatch(follow_up.id, urgent=dispatch.is_urgent(follow_up))
    return web.json_response({"id": alert.id, "status": alert.status,
                              "all_clear_alert_id": follow_up.id if follow_up else None})


async def close_alert(request: web.Request) -> web.Response:
    actor = require(request, Role.OPERATOR)
    alert_id = _alert_id(request)
    alert = await in_transaction(request, lambda s: accountability.close(s, alert_id, actor=actor))
    return web.json_response({"id": alert.id, "status": alert.status})


async def recipient_status(request: web.Request) -> web.Response:
    """An operator records a person as safe or needing help, on their behalf."""
    actor = require(request, Role.OPERATOR)
    alert_id = _alert_id(request)
    external_id = request.match_info["external_id"]
    data = await read_json(request)
    body = await in_transaction(request, lambda s: accountability.record_on_behalf(
        s, alert_id, external_id, data, actor=actor))
    await live.announce(request, alert_id, {"type": "response", **body})
    return web.json_response(body, status=201)


async def run_next_step_now(request: web.Request, alert_id: int, *, actor: str) -> dict:
    """Escalate now (console button and API alike): the alert's next policy run, at once."""
    runtime = request.app[RUNTIME]
    run, result = await in_thread(request, lambda: engine.run_next_now(
        runtime.sessions, runtime.enqueuer, alert_id, actor=actor, batch_size=runtime.settings.batch_size,
        public_url=runtime.settings.effective_public_url, publish=publisher(runtime.redis)))
    return {"alert_id": alert_id, "step": run.step_index, "round": run.round,
            "final": result.notice_alert_id is not None, "people": result.people, "messages": result.messages,
            "notice_alert_id": result.notice_alert_id}


async def escalate_now(request: web.Request) -> web.Response:
    """`POST /api/v1/alerts/{id}/escalate`: run the next escalation step now (operator)."""
    actor = require(request, Role.OPERATOR)
    return web.json_response(await run_next_step_now(request, _alert_id(request), actor=actor))
