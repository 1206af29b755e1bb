"""Bearer-token authentication for the JSON API, and role checks."""
from __future__ import annotations

from typing import Any

from aiohttp import web

from alerting import tokens
from alerting.errors import PermissionDenied
from alerting.statuses import ROLE_RANK, Role
from console.db import in_transaction
from console.errors import error_response
from console.keys import ACTOR, OPERATOR, ROLE



@web.middleware
async def bearer_auth_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    if not request.path.startswith("/api/") or request.path.startswith("/api/v1/launch/"):
        return await handler(request)  # a quick launch's secret is its credential (console/quick_launch.py)
    header = request.headers.get("Authorization", "")
    operator = request.get(OPERATOR)
    if not header and operator is not None:  # the console's own scripts, signed in (CSRF checked already)
        request[ROLE] = operator.role
        request[ACTOR] = operator.actor
        return await handler(request)
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return error_response(401, "an API token is required: 'Authorization: Bearer <token>' "
                                   "(create one with `tocsin token create --role operator`)")
    found = await in_transaction(request, lambda s: tokens.role_for(s, token.strip()))
    if found is None:
        return error_response(401, "the API token is unknown or revoked")
    token_id, role = found
    request[ROLE] = role
    request[ACTOR] = f"token:{token_id}"
    return await handler(request)


def require(request: web.Request, role: Role) -> str:
    """Check the caller's role allows `role`'s actions; returns the actor name for the audit log."""
    if ROLE_RANK[Role(request[ROLE])] < ROLE_RANK[role]:
        raise PermissionDenied(f"this needs the {role} role; the token has {request[ROLE]}")
    return request[ACTOR]
