"""The template library (`/templates`): everyone reads it, admins write it, operators use it.

    GET  /templates                    the library (`?archived=1`: archived ones too)
    GET  /templates/new, POST          a new template (admin)
    GET  /templates/{id}               one template: its words, languages, placeholders, defaults
    GET  /templates/{id}/edit, POST    change it (admin)
    POST /templates/{id}/archive       take it out of the composer (admin); past alerts keep their link

The JSON API under /api/v1/templates (console/api_templates.py) is registered here too. Every check is
alerting/templates.py's; the form only turns fields into its JSON and its errors into messages.
"""
from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerting import templates
from alerting.errors import Conflict, ValidationError
from alerting.models import EscalationPolicy
from alerting.statuses import Role, Severity
from console import api_templates
from console.db import in_transaction
from console.keys import RUNTIME
from console.paths import path_id
from console.render import render
from console.session import require_page

#: Empty translation rows the form offers for adding a language.
NEW_TRANSLATION_ROWS = 1
#: At most this many translation rows are read from a form (its count is a hidden field: never trusted).
MAX_TRANSLATION_ROWS = 100


def setup(app: web.Application) -> None:
    """Register this module's routes (pages and the JSON API)."""
    app.router.add_get("/templates", library)
    app.router.add_get("/templates/new", new_page)
    app.router.add_post("/templates/new", create)
    app.router.add_get("/templates/{template_id}", view)
    app.router.add_get("/templates/{template_id}/edit", edit_page)
    app.router.add_post("/templates/{template_id}/edit", update)
    app.router.add_post("/templates/{template_id}/archive", archive)
    api_templates.setup(app)


def _template_id(request: web.Request) -> int:
    return path_id(request, "template_id")


async def library(request: web.Request) -> web.Response:
    operator = require_page(request, Role.VIEWER)
    archived = request.query.get("archived") == "1" and operator.role == Role.ADMIN
    rows = await in_transaction(request, lambda s: [
        {**templates.as_dict(t), "updated_at": t.updated_at}
        for t in templates.list_templates(s, include_archived=archived)])
    return render(request, "templates_list.html", {"templates": rows, "show_archived": archived})


async def view(request: web.Request) -> web.Response:
    require_page(request, Role.VIEWER)
    template_id = _template_id(request)
    template = await in_transaction(request, lambda s: templates.as_dict(templates.get_template(s, template_id)))
    return render(request, "template_view.html", {"template": template})


# ---- the admin's form ----------------------------------------------------------------------------

def form_of(template: dict[str, Any] | None) -> dict[str, Any]:
    """The form's fields for a template (as_dict) or a new one."""
    t = template or {"name": "", "description": "", "title": "", "message": "", "variants": {}, "translations": {},
                     "channels": [], "severity": str(Severity.SEVERE), "policy": None, "target": None}
    rows = [{"lang": lang, "title": e.get("title", ""), "message": e.get("message", ""),
             "variants": e.get("variants") or {}} for lang, e in t["translations"].items()]
    rows += [{"lang": "", "title": "", "message": "", "variants": {}} for _ in range(NEW_TRANSLATION_ROWS)]
    return {"name": t["name"], "description": t["description"], "title": t["title"], "message": t["message"],
            "variants": dict(t["variants"]), "channels": list(t["channels"]), "severity": t["severity"],
            "policy": t["policy"] or "", "target": json.dumps(t["target"], indent=1) if t["target"] else "",
            "translations": rows}


def form_from_post(post: MultiDictProxy[Any]) -> dict[str, Any]:
    """The submitted fields, as the form shows them again if something needs fixing."""

    def text(key: str) -> str:
        return str(post.get(key, "")).replace("\r\n", "\n")

    form: dict[str, Any] = {k: text(k).strip() for k in ("name", "description", "title", "message", "severity",
                                                         "policy", "target")}
    form["channels"] = [str(c) for c in post.getall("channels", [])]
    form["variants"] = {k[8:]: text(k) for k in post if k.startswith("variant.")}
    rows = []
    count = text("translation_rows")
    for n in range(min(int(count), MAX_TRANSLATION_ROWS) if count.isdigit() else 0):
        row = {"lang": text(f"tr{n}.lang").strip().lower(), "title": text(f"tr{n}.title"),
               "message": text(f"tr{n}.message"),
               "variants": {k.split(".", 2)[2]: text(k) for k in post if k.startswith(f"tr{n}.variant.")}}
        rows.append(row)
    form["translations"] = rows
    return form


def data_of(form: dict[str, Any]) -> dict[str, Any]:
    """The JSON alerting/templates.py takes."""
    translations: dict[str, Any] = {}
    for n, row in enumerate(form["translations"]):
        if not row["lang"] and not row["message"].strip() and not row["title"].strip():
            continue  # an unused row
        if not row["lang"]:
            raise ValidationError("give the language code (such as es) of this translation", field=f"tr{n}.lang")
        if row["lang"] in translations:
            raise ValidationError(f"the language {row['lang']} is given twice", field=f"tr{n}.lang")
        translations[row["lang"]] = {"title": row["title"], "message": row["message"],
                                     "variants": {c: t for c, t in row["variants"].items() if t.strip()}}
    target = None
    if form["target"]:
        try:
            target = json.loads(form["target"])
        except json.JSONDecodeError as exc:
            raise ValidationError(f"the default target is not valid JSON ({exc.msg}); "
                                  'e.g. {"groups": ["Staff"]}', field="target") from None
    return {"name": form["name"], "description": form["description"], "title": form["title"],
            "message": form["message"], "channels": form["channels"], "severity": form["severity"],
            "variants": {c: t for c, t in form["variants"].items() if t.strip() and c in form["channels"]},
            "translations": translations, "policy": form["policy"] or None, "target": target}


def _form_field(field: str | None, rows: list[dict[str, Any]]) -> str:
    """The core's field name as the form's field id."""
    field = field or "form"
    if field.startswith("translations."):
        lang = field.split(".")[1]
        for n, row in enumerate(rows):
            if row["lang"] == lang:
                return f"tr{n}.message"
        return "translations"
    if field.startswith("target"):
        return "target"
    return field


async def _form_page(request: web.Request, form: dict[str, Any], *, action: str, errors: dict[str, str] | None = None,
                     template_id: int | None = None, status: int = 200) -> web.Response:
    policies = await in_transaction(request, lambda s: list(s.scalars(
        select(EscalationPolicy.name).order_by(EscalationPolicy.name))))
    return render(request, "template_form.html", {
        "form": form, "action": action, "errors": errors or {}, "template_id": template_id,
        "policies": policies, "severities": [str(s) for s in Severity]}, status=status)


async def new_page(request: web.Request) -> web.Response:
    require_page(request, Role.ADMIN)
    return await _form_page(request, form_of(None), action="/templates/new")


async def edit_page(request: web.Request) -> web.Response:
    require_page(request, Role.ADMIN)
    template_id = _template_id(request)
    template = await in_transaction(request, lambda s: templates.as_dict(templates.get_template(s, template_id)))
    return await _form_page(request, form_of(template), action=f"/templates/{template_id}/edit",
                            template_id=template_id)


async def _save(request: web.Request, template_id: int | None) -> web.Response:
    operator = require_page(request, Role.ADMIN)
    form = form_from_post(await request.post())
    channels = request.app[RUNTIME].available_channels
    action = f"/templates/{template_id}/edit" if template_id else "/templates/new"

    def save(session: Session) -> int:
        data = data_of(form)
        if template_id is None:
            return templates.create_template(session, data, actor=operator.actor, available_channels=channels).id
        return templates.update_template(session, template_id, data, actor=operator.actor,
                                         available_channels=channels).id

    try:
        saved_id = await in_transaction(request, save)
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors or [{"field": exc.field, "message": exc.message}]:
            errors.setdefault(_form_field(error.get("field"), form["translations"]), error["message"])
        return await _form_page(request, form, action=action, errors=errors, template_id=template_id, status=422)
    except Conflict as exc:
        return await _form_page(request, form, action=action, errors={"name": str(exc)}, template_id=template_id,
                                status=409)
    raise web.HTTPSeeOther(f"/templates/{saved_id}")


async def create(request: web.Request) -> web.Response:
    return await _save(request, None)


async def update(request: web.Request) -> web.Response:
    return await _save(request, _template_id(request))


async def archive(request: web.Request) -> web.Response:
    operator = require_page(request, Role.ADMIN)
    template_id = _template_id(request)
    await in_transaction(request, lambda s: templates.archive_template(s, template_id, actor=operator.actor))
    raise web.HTTPSeeOther("/templates")
