"""JSON API: the organisation's SMS keywords (JOIN-like with zones, YES, HELP, STOP, START)."""
from __future__ import annotations

from aiohttp import web

from alerting import sms_keywords
from alerting.statuses import Role
from console.auth import require
from console.db import in_transaction
from console.errors import read_json


def setup(app: web.Application) -> None:
    app.router.add_get("/api/v1/keywords", list_keywords)
    app.router.add_put("/api/v1/keywords", replace_keywords)


def _sorted(table: dict[str, sms_keywords.Keyword]) -> list[dict]:
    return [k.as_dict() for k in sorted(table.values(), key=lambda k: (k.action, k.keyword))]


async def list_keywords(request: web.Request) -> web.Response:
    """Every keyword in force: built-ins (`builtin: true`), zone names, and the organisation's own."""
    require(request, Role.VIEWER)
    return web.json_response({"keywords": await in_transaction(
        request, lambda s: _sorted(sms_keywords.keywords(s)))})


async def replace_keywords(request: web.Request) -> web.Response:
    """`{"keywords": [{"keyword", "action", "locale", "zones", "reply"}]}` replaces the organisation's list."""
    actor = require(request, Role.ADMIN)
    data = await read_json(request)
    return web.json_response({"keywords": await in_transaction(
        request, lambda s: sms_keywords.replace_keywords(s, data, actor=actor))})
