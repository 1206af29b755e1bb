"""Turning core errors into JSON answers: the only place errors become HTTP."""
from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

from alerting.errors import Conflict, NotFound, PermissionDenied, TocsinError, ValidationError

log = logging.getLogger(__name__)


def error_response(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": {"message": message, **{k: v for k, v in extra.items() if v}}},
                             status=status)


@web.middleware
async def errors_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except ValidationError as exc:
        return error_response(422, exc.message, field=exc.field, errors=exc.errors)
    except NotFound as exc:
        return error_response(404, str(exc))
    except Conflict as exc:
        return error_response(409, str(exc))
    except PermissionDenied as exc:
        return error_response(403, str(exc))
    except TocsinError as exc:
        return error_response(400, str(exc))
    except web.HTTPException as exc:
        if exc.status >= 400 and exc.content_type != "application/json" and request.path.startswith("/api/"):
            return error_response(exc.status, exc.reason)
        raise
    except Exception:
        # Never a stack trace to the caller; the log has it, keyed by path, without request bodies.
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal error; the server log has the details")


async def read_json(request: web.Request) -> Any:
    try:
        return await request.json(loads=json.loads)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValidationError(f"the body is not valid JSON ({exc})") from None
