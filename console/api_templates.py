"""JSON API: the template library, and drafts made from a template.

    GET    /api/v1/templates                    the library (`?archived=1`: archived ones too)   viewer
    POST   /api/v1/templates                    a new template                                   admin
    GET    /api/v1/templates/{id}               one template                                     viewer
    PUT    /api/v1/templates/{id}               change it (fields not given keep their value)    admin
    DELETE /api/v1/templates/{id}               archive it                                       admin
    POST   /api/v1/templates/{id}/alerts        a draft alert from it                            operator
        {"values": {"building": "Library"}, "target"?, "channels"?, "policy"?, "drill"?, "severity"?}
        -> 201 with the same body as POST /api/v1/alerts
"""
from __future__ import annotations

from typing import Any

from aiohttp import web

from alerting import alerts, templates
from alerting.errors import ValidationError
from alerting.statuses import Role
from console.auth import require
from console.db import in_transaction
from console.errors import read_json
from console.keys import RUNTIME
from console.paths import path_id

#: What PUT may change (as_dict's other keys are computed).
EDITABLE = ("name", "description", "title", "message", "variants", "translations", "channels", "severity",
            "target", "policy")
#: What POST .../alerts takes besides the values.
ALERT_OPTIONS = ("target", "channels", "policy", "drill", "severity", "incident", "incident_id")


def setup(app: web.Application) -> None:
    app.router.add_get("/api/v1/templates", list_templates)
    app.router.add_post("/api/v1/templates", create_template)
    app.router.add_get("/api/v1/templates/{template_id}", get_template)
    app.router.add_put("/api/v1/templates/{template_id}", update_template)
    app.router.add_delete("/api/v1/templates/{template_id}", archive_template)
    app.router.add_post("/api/v1/templates/{template_id}/alerts", alert_from_template)


def _template_id(request: web.Request) -> int:
    return path_id(request, "template_id")


async def list_templates(request: web.Request) -> web.Response:
    require(request, Role.VIEWER)
    archived = request.query.get("archived") == "1"
    return web.json_response(await in_transaction(request, lambda s: [
        templates.as_dict(t) for t in templates.list_templates(s, include_archived=archived)]))


async def get_template(request: web.Request) -> web.Response:
    require(request, Role.VIEWER)
    template_id = _template_id(request)
    return web.json_response(await in_transaction(
        request, lambda s: templates.as_dict(templates.get_template(s, template_id))))


async def create_template(request: web.Request) -> web.Response:
    actor = require(request, Role.ADMIN)
    data = await read_json(request)
    channels = request.app[RUNTIME].available_channels
    return web.json_response(await in_transaction(request, lambda s: templates.as_dict(
        templates.create_template(s, data, actor=actor, available_channels=channels))), status=201)


async def update_template(request: web.Request) -> web.Response:
    actor = require(request, Role.ADMIN)
    template_id = _template_id(request)
    data = await read_json(request)
    if not isinstance(data, dict):
        raise ValidationError("the template must be a JSON object")
    channels = request.app[RUNTIME].available_channels

    def update(session):  # type: ignore[no-untyped-def]
        current = templates.as_dict(templates.get_template(session, template_id))
        merged = {**{k: current[k] for k in EDITABLE}, **data}
        return templates.as_dict(templates.update_template(session, template_id, merged, actor=actor,
                                                           available_channels=channels))

    return web.json_response(await in_transaction(request, update))


async def archive_template(request: web.Request) -> web.Response:
    actor = require(request, Role.ADMIN)
    template_id = _template_id(request)

    def archive(session):  # type: ignore[no-untyped-def]
        templates.archive_template(session, template_id, actor=actor)
        return templates.as_dict(templates.get_template(session, template_id))

    return web.json_response(await in_transaction(request, archive))


async def alert_from_template(request: web.Request) -> web.Response:
    """A draft from a template and the caller's values; send it with POST /api/v1/alerts/{id}/send."""
    actor = require(request, Role.OPERATOR)
    template_id = _template_id(request)
    body = await read_json(request)
    if not isinstance(body, dict):
        raise ValidationError('the body must be an object such as {"values": {"building": "Library"}}')
    unknown = sorted(set(body) - {"values", *ALERT_OPTIONS})
    if unknown:
        raise ValidationError(f"unknown field {unknown[0]!r}; known: values, {', '.join(ALERT_OPTIONS)}",
                              field=unknown[0])
    runtime = request.app[RUNTIME]
    warnings: list[str] = []

    def create(session):  # type: ignore[no-untyped-def]
        template = templates.get_template(session, template_id)
        options: dict[str, Any] = {k: body[k] for k in ("target", "channels", "severity") if k in body}
        if "policy" in body:
            options["policy"] = body["policy"]
        data = templates.alert_data(template, body.get("values"), drill=body.get("drill", False), **options)
        data.update({k: body[k] for k in ("incident", "incident_id") if k in body})
        data["origin"] = "api"
        alert = alerts.create_alert(session, data, actor=actor, available_channels=runtime.available_channels,
                                    warnings=warnings)
        return alerts.summary(session, alert, org_name=runtime.settings.org_name)

    result = await in_transaction(request, create)
    result["warnings"] = warnings
    if "warning" in result.get("sms", {}):
        result["warnings"].append(result["sms"]["warning"])
    if result["recipients"] == 0:
        result["warnings"].append("the target reaches no one yet")
    return web.json_response(result, status=201)
