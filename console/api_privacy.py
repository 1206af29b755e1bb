"""JSON API: export everything held about one person, and erase them (admins; audited)."""
from __future__ import annotations

from aiohttp import web

from alerting import privacy
from alerting.statuses import Role
from console.auth import require
from console.db import in_transaction
from console.keys import RUNTIME


def setup(app: web.Application) -> None:
    app.router.add_get("/api/v1/recipients/{external_id}/export", export_recipient)
    app.router.add_post("/api/v1/recipients/{external_id}/erase", erase_recipient)


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
