"""Quick launch: admins bind a template to a secret launch URL (`/quick-launch`); anyone holding the
URL launches it (`/launch/{secret}`, `/api/v1/launch/{secret}`), without signing in.

`GET /launch/{secret}` only shows what would be sent (LIVE or DRILL, the audience, the channels in
words) and one button: link previewers, prefetchers and chat unfurlers issue GETs, so a GET never
sends. `POST /launch/{secret}` sends in one step; `POST /api/v1/launch/{secret}` does the same for
machines and answers 202 JSON. A repeated press within a minute launches nothing new and answers with
the alert already launched (alerting/quick_launches.py). An unknown and a revoked secret are the
same 404. Launch pages ask browsers not to send the URL on (Referrer-Policy) nor keep it.
"""
from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from sqlalchemy import select

from alerting import quick_launches, templates
from alerting.errors import NotFound, TocsinError, ValidationError
from alerting.models import EscalationPolicy, Group, Zone
from alerting.statuses import Role
from console import send_flow
from console.db import in_transaction
from console.errors import error_page
from console.keys import RUNTIME
from console.paths import path_id
from console.render import render
from console.session import require_page

#: Headers of every page that carries a launch secret in its URL.
SECRET_PAGE_HEADERS = {"Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex, nofollow",
                       "Cache-Control": "no-store"}


#: Fields the admin form shows errors next to; any other error is shown above the form.
FORM_FIELDS = ("name", "template_id", "target", "channels", "policy", "mode")


def setup(app: web.Application) -> None:
    """Register this module's routes."""
    app.router.add_get("/quick-launch", list_page)
    app.router.add_post("/quick-launch", create)
    app.router.add_post("/quick-launch/{id}/revoke", revoke)
    app.router.add_get("/launch/{secret}", launch_page)
    app.router.add_post("/launch/{secret}", launch_from_page)
    app.router.add_post("/api/v1/launch/{secret}", launch_api)


def launch_url(request: web.Request, secret: str) -> str:
    return f"{request.app[RUNTIME].settings.effective_public_url}/launch/{secret}"


def api_launch_url(request: web.Request, secret: str) -> str:
    return f"{request.app[RUNTIME].settings.effective_public_url}/api/v1/launch/{secret}"


# ---- admin pages ---------------------------------------------------------------------------------

async def _form_context(request: web.Request, template_id: int | None) -> dict[str, Any]:
    def read(session: Any) -> dict[str, Any]:
        library = [templates.as_dict(t) for t in templates.list_templates(session)]
        chosen = next((t for t in library if t["id"] == template_id), None)
        return {"library": library, "chosen": chosen,
                "groups": list(session.scalars(select(Group.name).order_by(Group.name))),
                "zones": list(session.scalars(select(Zone.name).order_by(Zone.name))),
                "policies": list(session.scalars(select(EscalationPolicy.name).order_by(EscalationPolicy.name))),
                "quick_launches": quick_launches.list_all(session)}
    return await in_transaction(request, read)


async def list_page(request: web.Request) -> web.Response:
    require_page(request, Role.ADMIN)
    raw = request.query.get("template", "")
    context = await _form_context(request, int(raw) if raw.isdigit() else None)
    return render(request, "quick_launch.html", {**context, "errors": {}, "form": {}})


def _data_from_form(form: Any, available: tuple[str, ...]) -> dict[str, Any]:
    """The create-quick-launch JSON from the admin form's fields."""
    data: dict[str, Any] = {"name": form.get("name", ""), "template_id": form.get("template_id", ""),
                            "values": {k[len("values."):]: v for k, v in form.items() if k.startswith("values.")},
                            "policy": form.get("policy", quick_launches.TEMPLATE_POLICY),
                            "skip_approval": form.get("skip_approval") == "yes"}
    mode = form.get("mode")
    if mode not in ("live", "drill"):
        raise ValidationError("choose LIVE or DRILL", field="mode")
    data["drill"] = mode == "drill"
    channels = [c for c in form.getall("channels", []) if c in available]
    if channels:
        data["channels"] = channels
    target: dict[str, Any] = {}
    raw_target = (form.get("target_json") or "").strip()
    if raw_target:
        try:
            target = json.loads(raw_target)
        except json.JSONDecodeError as exc:
            raise ValidationError(f"the target is not valid JSON ({exc})", field="target") from None
        if not isinstance(target, dict):
            raise ValidationError("the target must be a JSON object", field="target")
    for part in ("groups", "zones"):
        names = form.getall(part, [])
        if names:
            target[part] = sorted({*target.get(part, []), *names})
    if target:
        data["target"] = target
    return data


async def create(request: web.Request) -> web.Response:
    operator = require_page(request, Role.ADMIN)
    form = await request.post()
    runtime = request.app[RUNTIME]
    raw_template = form.get("template_id", "")
    template_id = int(raw_template) if isinstance(raw_template, str) and raw_template.isdigit() else None
    try:
        data = _data_from_form(form, runtime.available_channels)
        quick_launch, secret = await in_transaction(request, lambda s: quick_launches.create(
            s, data, actor=operator.actor, available_channels=runtime.available_channels))
    except ValidationError as exc:
        context = await _form_context(request, template_id)
        field = exc.field or "form"
        if not field.startswith("values."):
            field = field.split(".")[0]
            field = field if field in FORM_FIELDS else "form"
        return render(request, "quick_launch.html", {**context, "errors": {field: exc.message}, "form": form},
                      status=422)
    except TocsinError as exc:  # a name already taken
        context = await _form_context(request, template_id)
        return render(request, "quick_launch.html", {**context, "errors": {"name": str(exc)}, "form": form},
                      status=409)
    response = render(request, "quick_launch_created.html", {
        "name": quick_launch.name, "drill": quick_launch.drill, "url": launch_url(request, secret),
        "api_url": api_launch_url(request, secret)})
    response.headers.update(SECRET_PAGE_HEADERS)
    return response


async def revoke(request: web.Request) -> web.Response:
    operator = require_page(request, Role.ADMIN)
    quick_launch_id = path_id(request, "id")
    await in_transaction(request, lambda s: quick_launches.revoke(s, quick_launch_id, actor=operator.actor))
    raise web.HTTPSeeOther("/quick-launch")


# ---- launching (no session: the secret is the credential) ---------------------------------------

def _secret_page(request: web.Request, template: str, context: dict[str, Any], status: int = 200) -> web.Response:
    response = render(request, template, context, status=status)
    response.headers.update(SECRET_PAGE_HEADERS)
    return response


def _missing(request: web.Request) -> web.Response:
    response = error_page(request, 404, "There is nothing at this address.")
    response.headers.update(SECRET_PAGE_HEADERS)
    return response


async def launch_page(request: web.Request) -> web.Response:
    """What the launch would send, and one button. Never sends."""
    secret = request.match_info["secret"]
    try:
        described = await in_transaction(request, lambda s: quick_launches.describe(
            s, quick_launches.by_secret(s, secret)))
    except NotFound:
        return _missing(request)
    return _secret_page(request, "launch.html", {"launch": described, "mode": "drill" if described["drill"] else "live"})


async def launch_from_page(request: web.Request) -> web.Response:
    secret = request.match_info["secret"]
    try:
        body = await send_flow.quick_launch(request, secret)
    except NotFound:
        return _missing(request)
    except TocsinError as exc:
        return error_page(request, 409, str(exc))
    return _secret_page(request, "launch_done.html", {"alert": body, "mode": "drill" if body["drill"] else "live"})


async def launch_api(request: web.Request) -> web.Response:
    """For machines: launch, answer 202 with the alert's id and state (`repeat`: true within the
    window, with the alert already launched)."""
    body = await send_flow.quick_launch(request, request.match_info["secret"])
    return web.json_response({"alert_id": body["id"], "state": body["state"], "status": body["status"],
                              "repeat": body["repeat"], "drill": body["drill"], "audience": body["audience"],
                              "channels": body["channels"], "title": body["title"]},
                             status=202, headers={"Cache-Control": "no-store"})
