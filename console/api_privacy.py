"""Export everything held about one person, and erase them (admins; audited): the JSON API, and
the console's confirmation page and form (the person's page links to both)."""
from __future__ import annotations

from aiohttp import web

from alerting import privacy
from alerting.statuses import Role
from console.auth import require
from console.db import in_transaction
from console.keys import RUNTIME
from console.render import render
from console.session import require_page


def setup(app: web.Application) -> None:
    app.router.add_get("/api/v1/recipients/{external_id}/export", export_recipient)
    app.router.add_post("/api/v1/recipients/{external_id}/erase", erase_recipient)
    app.router.add_get("/recipients/{external_id}/erase", erase_page)
    app.router.add_post("/recipients/{external_id}/erase", erase_submit)


async def export_recipient(request: web.Request) -> web.Response:
    actor = require(request, Role.ADMIN)
    external_id = request.match_info["external_id"]
    data = await in_transaction(request, lambda s: privacy.export(s, external_id, actor=actor))
    return web.json_response(data, headers={"Cache-Control": "no-store",
                                            "Content-Disposition": 'attachment; filename="person.json"'})


async def erase_recipient(request: web.Request) -> web.Response:
    actor = require(request, Role.ADMIN)
    external_id = request.match_info["external_id"]
    key = request.app[RUNTIME].secret_key
    counts = await in_transaction(request, lambda s: privacy.erase(s, key, external_id, actor=actor))
    return web.json_response({"erased": True, **counts})


async def erase_page(request: web.Request) -> web.Response:
    require_page(request, Role.ADMIN)
    external_id = request.match_info["external_id"]
    person = await in_transaction(request, lambda s: _person_view(s, external_id))
    return render(request, "people_erase.html", {"person": person})


def _person_view(session, external_id: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    from alerting.directory import get_recipient

    person = get_recipient(session, external_id)
    return {"external_id": person.external_id, "name": person.name or ""}


async def erase_submit(request: web.Request) -> web.Response:
    operator = require_page(request, Role.ADMIN)
    external_id = request.match_info["external_id"]
    key = request.app[RUNTIME].secret_key
    await in_transaction(request, lambda s: privacy.erase(s, key, external_id, actor=operator.actor))
    raise web.HTTPSeeOther("/recipients?erased=1")
