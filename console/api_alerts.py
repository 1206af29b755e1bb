"""JSON API: composing, sending and following alerts."""
from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from alerting import alerts, incidents
from alerting.errors import ValidationError
from alerting.models import Alert
from alerting.statuses import NO_RESPONSE, ResponseKind, Role
from console import send_flow
from console.auth import require
from console.db import in_transaction
from console.errors import read_json
from console.keys import RUNTIME
from console.paths import path_id


def _alert_id(request: web.Request) -> int:
    return path_id(request, "alert_id")


async def create_alert(request: web.Request) -> web.Response:
    actor = require(request, Role.OPERATOR)
    data = await read_json(request)
    channels = request.app[RUNTIME].available_channels
    org_name = request.app[RUNTIME].settings.org_name
    warnings: list[str] = []
    body = await in_transaction(request, lambda s: alerts.summary(
        s, alerts.create_alert(s, data, actor=actor, available_channels=channels, warnings=warnings),
        org_name=org_name))
    body["warnings"] = warnings
    if "warning" in body.get("sms", {}):
        body["warnings"].append(body["sms"]["warning"])
    if body["recipients"] == 0:
        body["warnings"].append("the target reaches no one yet")
    return web.json_response(body, status=201)


async def _optional_object(request: web.Request) -> dict:
    """A JSON object body, or {} for an empty body."""
    if not request.can_read_body or not (await request.read()).strip():
        return {}
    data = await read_json(request)
    if not isinstance(data, dict):
        raise ValidationError("the body must be a JSON object")
    return data


async def send_alert(request: web.Request) -> web.Response:
    """Start sending, or schedule with `{"scheduled_for": "<ISO 8601 with offset>"}`; under the
    two-person rule it waits for approval instead. Answers 202 with `state`: sending, scheduled or
    awaiting_approval. Pressing send twice (or two operators at once) sends once."""
    actor = require(request, Role.OPERATOR)
    data = await _optional_object(request)
    body = await send_flow.submit(request, _alert_id(request), actor=actor, scheduled_for=data.get("scheduled_for"))
    return web.json_response(body, status=202)


async def approve_alert(request: web.Request) -> web.Response:
    """Two-person rule: another operator than the submitter approves; it sends (or is scheduled)."""
    actor = require(request, Role.OPERATOR)
    body = await send_flow.approve(request, _alert_id(request), actor=actor)
    return web.json_response(body, status=202)


async def reject_alert(request: web.Request) -> web.Response:
    """Refuse an alert awaiting approval, `{"reason": "..."}`: back to draft."""
    actor = require(request, Role.OPERATOR)
    data = await _optional_object(request)
    return web.json_response(await send_flow.reject(request, _alert_id(request), data.get("reason"), actor=actor))


async def unschedule_alert(request: web.Request) -> web.Response:
    """A scheduled alert back to draft, to edit it."""
    actor = require(request, Role.OPERATOR)
    return web.json_response(await send_flow.unschedule(request, _alert_id(request), actor=actor))


async def reschedule_alert(request: web.Request) -> web.Response:
    """A scheduled alert to another time, `{"scheduled_for": "<ISO 8601 with offset>"}`."""
    actor = require(request, Role.OPERATOR)
    data = await _optional_object(request)
    return web.json_response(await send_flow.reschedule(request, _alert_id(request), data.get("scheduled_for"),
                                                        actor=actor))


async def cancel_scheduled_alert(request: web.Request) -> web.Response:
    """Cancel a scheduled alert, or one awaiting approval, before it goes out."""
    actor = require(request, Role.OPERATOR)
    return web.json_response(await send_flow.cancel(request, _alert_id(request), actor=actor))


async def get_alert(request: web.Request) -> web.Response:
    if request.match_info["alert_id"].endswith(".cap") or "application/cap+xml" in request.headers.get("Accept", ""):
        from console import api_cap  # the alert as CAP 1.2 (issue 7)
        return await api_cap.get_alert_cap(request)
    require(request, Role.VIEWER)
    alert_id = _alert_id(request)
    org_name = request.app[RUNTIME].settings.org_name
    return web.json_response(await in_transaction(
        request, lambda s: alerts.summary(s, alerts.get_alert(s, alert_id), org_name=org_name)))


async def list_alerts(request: web.Request) -> web.Response:
    require(request, Role.VIEWER)

    def recent(session):  # type: ignore[no-untyped-def]
        rows = session.scalars(select(Alert).order_by(Alert.id.desc()).limit(100))
        return [{"id": a.id, "title": a.title, "status": a.status, "drill": a.drill, "channels": a.channels,
                 "incident_id": a.incident_id, "recipients": a.recipient_count} for a in rows]

    return web.json_response(await in_transaction(request, recent))


async def alert_recipients(request: web.Request) -> web.Response:
    """Per-person state, in pages: `?after=<next_after>&limit=500&response=safe|need_help|...`."""
    require(request, Role.VIEWER)
    alert_id = _alert_id(request)
    try:
        after = int(request.query.get("after", "0"))
        limit = int(request.query.get("limit", "500"))
    except ValueError:
        raise ValidationError("after and limit must be whole numbers") from None
    if not 1 <= limit <= 5000:
        raise ValidationError("limit must be between 1 and 5000", field="limit")
    response = request.query.get("response")
    if response and response not in {*ResponseKind, NO_RESPONSE}:
        raise ValidationError(f"response must be one of {', '.join([*ResponseKind, NO_RESPONSE])}", field="response")
    return web.json_response(await in_transaction(request, lambda s: alerts.recipient_states(
        s, alerts.get_alert(s, alert_id), after=after, limit=limit, response=response)))


async def incident_board(request: web.Request) -> web.Response:
    """The incident's alerts and its people's standing, rolled up across its alerts."""
    require(request, Role.VIEWER)
    incident_id = path_id(request, "incident_id")
    return web.json_response(await in_transaction(request, lambda s: incidents.board(s, incident_id)))
