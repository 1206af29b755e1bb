"""The directory's pages: people (`/recipients`, search; the CSV import is pages_imports.py), groups and zones.

Everyone signed in can read them; changes need the operator role, checked here on every POST (a
403 page) and reflected in the templates, which show no form to someone who cannot use it. Every
rule lives in the core (alerting/directory.py, recipient_input.py, zones.py); these handlers only
turn form fields into the core's values and its errors into messages next to the fields.
"""
from __future__ import annotations

import json
from typing import Any, Mapping

from aiohttp import web

from alerting import directory, targeting, zones
from alerting.errors import Conflict, ValidationError
from alerting.statuses import ROLE_RANK, Role
from console import pages_imports
from console.db import in_transaction
from console.keys import RUNTIME
from console.paths import path_id
from console.render import render
from console.session import require_page

NOTICES = {
    "group-created": "The group was created.",
    "zone-deleted": "The zone was deleted.",
}


class FieldErrors(dict):
    """Messages by form field; a field without one reads as "" in a template."""

    def __missing__(self, key: str) -> str:
        return ""


def can(operator: Any, role: Role) -> bool:
    return operator is not None and ROLE_RANK[Role(operator.role)] >= ROLE_RANK[role]


def page_number(request: web.Request) -> int:
    raw = request.query.get("page", "1")
    return int(raw) if raw.isdigit() and 0 < int(raw) < 1_000_000 else 1


def _id(request: web.Request, key: str) -> int:
    return path_id(request, key)


def _text(form: Mapping[str, Any], key: str) -> str:
    value = form.get(key, "")
    return value.strip() if isinstance(value, str) else ""


def _rows(people: list[Any]) -> list[dict[str, Any]]:
    """What a list of people shows, read inside the transaction."""
    return [{"external_id": p.external_id, "name": p.name, "phone": p.phone, "email": p.email,
             "locale": p.locale, "groups": sorted(g.name for g in p.groups)} for p in people]


# ---- people ----------------------------------------------------------------------------------

async def people(request: web.Request) -> web.Response:
    operator = require_page(request)
    query = request.query.get("q", "").strip()[:200]
    group_raw = request.query.get("group", "")
    group_id = int(group_raw) if group_raw.isdigit() and len(group_raw) < 12 else None
    number = page_number(request)

    def load(session):  # type: ignore[no-untyped-def]
        found = directory.search_recipients(session, query, group_id=group_id, page=number)
        return found, _rows(found.items), directory.list_groups(session)

    found, rows, groups = await in_transaction(request, load)
    return render(request, "people.html", {
        "page": found, "rows": rows, "query": query, "group_id": group_id, "groups": groups,
        "can_edit": can(operator, Role.OPERATOR), "erased": request.query.get("erased") == "1"})


async def person(request: web.Request) -> web.Response:
    require_page(request)
    external_id = request.match_info["external_id"]

    def load(session):  # type: ignore[no-untyped-def]
        found = directory.get_recipient(session, external_id)
        return directory.recipient_as_dict(found), directory.person_activity(session, found.id)

    person_, activity = await in_transaction(request, load)
    return render(request, "people_detail.html", {"person": person_, "activity": activity})


# ---- groups ----------------------------------------------------------------------------------

async def groups(request: web.Request, *, errors: dict[str, str] | None = None,
                 values: dict[str, str] | None = None, status: int = 200) -> web.Response:
    operator = require_page(request)
    listed = await in_transaction(request, directory.list_groups)
    return render(request, "groups.html", {
        "groups": listed, "can_edit": can(operator, Role.OPERATOR), "errors": FieldErrors(errors or {}),
        "values": values or {"name": "", "description": ""},
        "notice": NOTICES.get(request.query.get("done", ""), "")}, status=status)


async def group_create(request: web.Request) -> web.Response:
    operator = require_page(request, Role.OPERATOR)
    form = await request.post()
    values = {"name": _text(form, "name"), "description": _text(form, "description")}
    try:
        group = await in_transaction(request, lambda s: directory.create_group(
            s, values["name"], values["description"], actor=operator.actor))
    except ValidationError as exc:
        return await groups(request, errors={exc.field or "name": exc.message}, values=values, status=422)
    except Conflict as exc:
        return await groups(request, errors={"name": str(exc)}, values=values, status=409)
    raise web.HTTPSeeOther(f"/groups/{group.id}?done=group-created")


async def group(request: web.Request) -> web.Response:
    require_page(request)
    group_id = _id(request, "group_id")
    number = page_number(request)

    def load(session):  # type: ignore[no-untyped-def]
        found = directory.get_group(session, group_id)
        members = directory.group_members(session, group_id, page=number)
        return {"id": found.id, "name": found.name, "description": found.description}, members, _rows(members.items)

    group_, members, rows = await in_transaction(request, load)
    return render(request, "group.html", {"group": group_, "page": members, "rows": rows,
                                          "notice": NOTICES.get(request.query.get("done", ""), "")})


# ---- zones -----------------------------------------------------------------------------------

def _map_settings(request: web.Request) -> dict[str, Any]:
    return {"tile_url": request.app[RUNTIME].settings.map_tile_url or ""}


def _zones_overview(session: Any) -> dict[str, Any]:
    listed = []
    for entry in zones.list_zones(session):
        zone = zones.get_zone_by_id(session, entry["id"])
        display = zones.zone_as_dict(session, zone)["display"]
        listed.append({**entry, "display": display, "people": zones.people_inside(session, entry["name"])})
    return {"zones": listed, "positions": directory.location_sample(session)}


FORM_FIELDS = ("name", "description", "geometry", "circle_lat", "circle_lon", "circle_radius_m")


async def zones_page(request: web.Request, *, errors: dict[str, str] | None = None,
                     values: dict[str, str] | None = None, status: int = 200) -> web.Response:
    operator = require_page(request)
    overview = await in_transaction(request, _zones_overview)
    created = request.query.get("created", "")
    created_zone = next((z for z in overview["zones"] if str(z["id"]) == created), None)
    return render(request, "zones.html", {
        **overview, "map": _map_settings(request), "can_edit": can(operator, Role.OPERATOR),
        "errors": FieldErrors(errors or {}), "values": values or {k: "" for k in FORM_FIELDS},
        "created": created_zone, "notice": NOTICES.get(request.query.get("done", ""), "")}, status=status)


def _number_or_text(value: str) -> Any:
    """A form's number as a number; anything else passes as typed, so the parser names what is wrong."""
    try:
        return float(value.replace(",", "."))
    except ValueError:
        return value


def _zone_field(field: str | None) -> str:
    """The form field behind a core error's field name ("zone.circle.radius_m" -> "circle_radius_m")."""
    field = (field or "geometry").removeprefix("zone.")
    if field.startswith("circle"):
        member = field.removeprefix("circle").lstrip(".")
        return f"circle_{member}" if member in ("lat", "lon", "radius_m") else "circle_radius_m"
    return field if field in ("name", "description") else "geometry"


def zone_form_data(values: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The zone the form describes (as the core takes it), or the form fields that are wrong."""
    data: dict[str, Any] = {"name": values["name"], "description": values["description"]}
    circle = {k: values[f"circle_{k}"] for k in ("lat", "lon", "radius_m")}
    if values["geometry"]:
        try:
            data["geometry"] = json.loads(values["geometry"])
        except json.JSONDecodeError as exc:
            return data, {"geometry": f"This is not valid GeoJSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."}
    elif any(circle.values()):
        data["circle"] = {k: _number_or_text(v) for k, v in circle.items()}
    else:
        return data, {"geometry": "Draw an area on the map, paste GeoJSON, or give a circle's centre and radius."}
    return data, {}


async def zone_create(request: web.Request) -> web.Response:
    operator = require_page(request, Role.OPERATOR)
    form = await request.post()
    values = {k: _text(form, k) for k in FORM_FIELDS}
    data, errors = zone_form_data(values)
    if not errors:
        try:
            zone = await in_transaction(request, lambda s: zones.create_zone(s, data, actor=operator.actor))
        except ValidationError as exc:
            errors = {_zone_field(exc.field): exc.message.removeprefix("zone.")}
        except Conflict as exc:
            errors = {"name": str(exc)}
    if errors:
        return await zones_page(request, errors=errors, values=values, status=422)
    raise web.HTTPSeeOther(f"/zones?created={zone.id}#zone-{zone.id}")


async def zone(request: web.Request) -> web.Response:
    operator = require_page(request)
    zone_id = _id(request, "zone_id")

    def load(session):  # type: ignore[no-untyped-def]
        found = zones.get_zone_by_id(session, zone_id)
        details = zones.zone_as_dict(session, found)
        return details, targeting.preview(session, {"zones": [found.name]})

    details, reach = await in_transaction(request, load)
    return render(request, "zone.html", {"zone": details, "reach": reach, "map": _map_settings(request),
                                         "can_edit": can(operator, Role.OPERATOR)})


async def zone_delete_page(request: web.Request) -> web.Response:
    require_page(request, Role.OPERATOR)
    zone_id = _id(request, "zone_id")

    def load(session):  # type: ignore[no-untyped-def]
        found = zones.get_zone_by_id(session, zone_id)
        return {"id": found.id, "name": found.name}, zones.people_inside(session, found.name)

    details, people_count = await in_transaction(request, load)
    return render(request, "zone_delete.html", {"zone": details, "people": people_count})


async def zone_delete(request: web.Request) -> web.Response:
    operator = require_page(request, Role.OPERATOR)
    zone_id = _id(request, "zone_id")
    await in_transaction(request, lambda s: zones.delete_zone(
        s, zones.get_zone_by_id(s, zone_id).name, actor=operator.actor))
    raise web.HTTPSeeOther("/zones?done=zone-deleted")


def setup(app: web.Application) -> None:
    """Register this module's routes."""
    app.router.add_get("/recipients", people)
    pages_imports.setup(app)  # /recipients/import...: first, or /recipients/{external_id} would take it
    app.router.add_get("/recipients/{external_id}", person)
    app.router.add_get("/groups", groups)
    app.router.add_post("/groups", group_create)
    app.router.add_get("/groups/{group_id}", group)
    app.router.add_get("/zones", zones_page)
    app.router.add_post("/zones", zone_create)
    app.router.add_get("/zones/{zone_id}", zone)
    app.router.add_get("/zones/{zone_id}/delete", zone_delete_page)
    app.router.add_post("/zones/{zone_id}/delete", zone_delete)
