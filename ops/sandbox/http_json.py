"""JSON in and out for the sandbox's own endpoints (not the providers' wire formats)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web


def json_error(status: int, message: str, **extra: Any) -> web.Response:
    """`{"error": message, ...}` with `status`."""
    return web.json_response({"error": message, **extra}, status=status)


async def json_object(request: web.Request, *, optional: bool = False) -> dict[str, Any] | web.Response:
    """The request's JSON object body, or the 400 to answer."""
    raw = await request.read()
    if optional and not raw.strip():
        return {}
    try:
        payload = json.loads(raw)
    except ValueError:
        return json_error(400, "body must be a JSON object")
    if not isinstance(payload, dict):
        return json_error(400, "body must be a JSON object")
    return payload
