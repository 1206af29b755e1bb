"""JSON API: named zones and the reach preview."""
from __future__ import annotations

from aiohttp import web

from alerting import targeting, zones
from alerting.statuses import Role
from console.auth import require
from console.db import in_transaction
from console.errors import read_json


async def create_zone(request: web.Request) -> web.Response:
    actor = require(request, Role.OPERATOR)
    data = await read_json(request)
    warnings: list[str] = []
    body = await in_transaction(request, lambda s: zones.zone_as_dict(
        s, zones.create_zone(s, data, actor=actor, warnings=warnings)))
    return web.json_response({**body, "warnings": warnings}, status=201)


async def list_zones(request: web.Request) -> web.Response:
    require(request, Role.VIEWER)
    return web.json_response(await in_transaction(request, zones.list_zones))


async def get_zone(request: web.Request) -> web.Response:
    require(request, Role.VIEWER)
    name = request.match_info["name"]
    return web.json_response(await in_transaction(request, lambda s: zones.zone_as_dict(s, zones.get_zone(s, name))))


async def delete_zone(request: web.Request) -> web.Response:
    actor = require(request, Role.ADMIN)
    name = request.match_info["name"]
    await in_transaction(request, lambda s: zones.delete_zone(s, name, actor=actor))
    return web.Response(status=204)


async def preview_target(request: web.Request) -> web.Response:
    """How many people and contacts per channel a target reaches, before sending."""
    require(request, Role.VIEWER)
    target = await read_json(request)
    listing = request.query.get("list") == "external_id"
    return web.json_response(await in_transaction(
        request, lambda s: targeting.preview(s, target, list_external_ids=listing)))
