"""JSON API: recipients and groups."""
from __future__ import annotations

from aiohttp import web

from alerting import directory
from alerting.errors import ValidationError
from alerting.recipient_input import RowRejected, parse_csv, parse_recipient
from alerting.statuses import Role
from console import api_imports
from console.auth import require
from console.db import in_transaction
from console.errors import read_json

MAX_JSON_RECIPIENTS = 10_000


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("1", "true", "yes")


async def create_recipients(request: web.Request) -> web.Response:
    """One JSON object or a list; each is created or, if its external_id exists, updated."""
    actor = require(request, Role.OPERATOR)
    data = await read_json(request)
    items = data if isinstance(data, list) else [data]
    if len(items) > MAX_JSON_RECIPIENTS:
        raise ValidationError(f"at most {MAX_JSON_RECIPIENTS} recipients per request; use the CSV import")
    rows, errors = [], []
    for index, item in enumerate(items):
        try:
            row = parse_recipient(item)
            row.index = index
            rows.append(row)
        except RowRejected as exc:
            exc.error.index = index
            errors.append(exc.error)
    result = await in_transaction(request, lambda s: directory.upsert_recipients(
        s, rows, actor=actor, create_groups=_flag(request, "create_groups"), errors=errors))
    body = result.as_dict()
    if not isinstance(data, list) and result.rejected:
        error = result.errors[0]
        return web.json_response({"error": {"message": error.message, "field": error.field}, **body}, status=422)
    return web.json_response(body, status=201 if result.created else 200)


async def import_recipients(request: web.Request) -> web.Response:
    """CSV with a header row; rows whose external_id exists update that person (`?async=1`: in the background)."""
    actor = require(request, Role.OPERATOR)
    body = await request.read()
    if _flag(request, "async"):  # stored and imported by a worker; GET /api/v1/imports/{id} follows it
        return await api_imports.start_import(request, body, actor=actor, create_groups=_flag(request, "create_groups"))
    try:
        rows, errors = parse_csv(body)
    except RowRejected as exc:
        raise ValidationError(exc.error.message, errors=[exc.error.as_dict()]) from None
    result = await in_transaction(request, lambda s: directory.upsert_recipients(
        s, rows, actor=actor, create_groups=_flag(request, "create_groups"), errors=errors))
    return web.json_response(result.as_dict())


async def get_recipient(request: web.Request) -> web.Response:
    require(request, Role.VIEWER)
    external_id = request.match_info["external_id"]
    return web.json_response(await in_transaction(
        request, lambda s: directory.recipient_as_dict(directory.get_recipient(s, external_id))))


async def create_group(request: web.Request) -> web.Response:
    actor = require(request, Role.OPERATOR)
    data = await read_json(request)
    if not isinstance(data, dict):
        raise ValidationError('the group must be a JSON object such as {"name": "Staff"}')
    group = await in_transaction(request, lambda s: directory.create_group(
        s, data.get("name"), data.get("description") or "", actor=actor))
    return web.json_response({"id": group.id, "name": group.name, "description": group.description}, status=201)


async def list_groups(request: web.Request) -> web.Response:
    require(request, Role.VIEWER)
    return web.json_response(await in_transaction(request, directory.list_groups))
