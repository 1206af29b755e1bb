"""Turning core errors into JSON answers: the only place errors become HTTP."""
from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

from alerting.errors import Conflict, NotFound, PermissionDenied, TocsinError, ValidationError
from console.session import WEBHOOK_PREFIX

log = logging.getLogger(__name__)


def error_response(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": {"message": message, **{k: v for k, v in extra.items() if v}}},
                             status=status)


def _wants_page(request: web.Request) -> bool:
    from console.session import is_console_path
    return is_console_path(request.path) and not request.path.startswith("/api/") and \
        "application/json" not in request.headers.get("Accept", "")


def error_page(request: web.Request, status: int, message: str) -> web.Response:
    """The console's error page: what went wrong in words, never a stack trace."""
    from console.render import render
    try:
        return render(request, "error.html", {"status": status, "message": message}, status=status)
    except Exception:  # the page itself failed: plain text, still no trace
        log.exception("could not render the error page")
        return web.Response(text=f"{status}: {message}", status=status)


PAGE_MESSAGES = {
    403: "This form has expired or did not come from this console. Go back, reload the page and try again.",
    404: "There is nothing at this address.",
    405: "This page cannot be used that way.",
    413: "What you sent is too large.",
}


@web.middleware
async def errors_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    if request.path.startswith(WEBHOOK_PREFIX):  # a provider, never a person: no page, and no look further
        return await _json_errors(request, handler)
    if _wants_page(request):
        return await _page_errors(request, handler)
    return await _json_errors(request, handler)


async def _page_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except ValidationError as exc:
        return error_page(request, 422, exc.message)
    except NotFound as exc:
        return error_page(request, 404, str(exc))
    except Conflict as exc:
        return error_page(request, 409, str(exc))
    except PermissionDenied as exc:
        return error_page(request, 403, str(exc))
    except TocsinError as exc:
        return error_page(request, 400, str(exc))
    except web.HTTPException as exc:
        if exc.status >= 400:
            return error_page(request, exc.status, PAGE_MESSAGES.get(exc.status, exc.reason))
        raise
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_page(request, 500, "Something went wrong on the server; the log has the details. "
                                        "Go back and try again.")


async def _json_errors(request: web.Request, handler: Any) -> web.StreamResponse:
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
