"""Console sign-in state on every request: the operator behind the session cookie, and CSRF checks.

The cookie `tocsin_session` is the console's only cookie (HttpOnly, SameSite=Lax, Secure behind
HTTPS). Every state-changing console request carries the session's CSRF token, in the hidden field
`csrf_token` of a form or the `X-CSRF-Token` header of a script's request. The sign-in form, which
has no session yet, carries a signed, time-limited token instead (stateless, no extra cookie).
The JSON API accepts the same session (with the header) so the console's scripts call the API the
integrations use: one set of domain functions behind both.
"""
from __future__ import annotations

import hmac
from typing import Any
from urllib.parse import quote

from aiohttp import web
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from alerting import users
from alerting.errors import PermissionDenied
from alerting.statuses import ROLE_RANK, Role
from console.db import in_transaction
from console.keys import OPERATOR, RUNTIME

COOKIE = "tocsin_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
#: Provider webhooks: signed by the provider (console/hooks_twilio.py), never a browser's. The
#: middlewares step aside for them first thing: two status callbacks arrive per SMS sent.
WEBHOOK_PREFIX = "/hooks/"
#: Paths that are not the console: each authenticates its own way (bearer tokens, provider
#: signatures, signed links, launch secrets) or is public.
NOT_CONSOLE = (WEBHOOK_PREFIX, "/r/", "/p/", "/static/", "/sw.js", "/push/", "/healthz", "/sandbox/", "/launch/",
               "/api/v1/launch/", "/favicon.ico", "/subscribe", "/cap/", "/readyz", "/metrics")
UNSAFE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
#: The sign-in form's token stays valid this long (a sign-in page left open on a desk all day).
LOGIN_FORM_MAX_AGE_S = 24 * 3600


def _login_serializer(request: web.Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(request.app[RUNTIME].secret_key, salt="tocsin.login-form")


def login_form_token(request: web.Request) -> str:
    return _login_serializer(request).dumps("login")


def login_form_token_valid(request: web.Request, token: str) -> bool:
    try:
        return _login_serializer(request).loads(token, max_age=LOGIN_FORM_MAX_AGE_S) == "login"
    except (BadSignature, SignatureExpired):
        return False


def is_console_path(path: str) -> bool:
    return not path.startswith(NOT_CONSOLE)


@web.middleware
async def session_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Load the operator (if any) and refuse console writes without the session's CSRF token."""
    path = request.path
    if path.startswith(WEBHOOK_PREFIX) or not is_console_path(path):
        return await handler(request)
    token = request.cookies.get(COOKIE)
    operator = await in_transaction(request, lambda s: users.operator_for(s, token)) if token else None
    if operator is not None:
        request[OPERATOR] = operator
    if request.method in UNSAFE_METHODS and request.path != "/login":
        if request.path.startswith("/api/") and "Authorization" in request.headers:
            return await handler(request)  # bearer-token callers are not browsers: no CSRF
        if operator is None:
            if request.path.startswith("/api/"):
                return await handler(request)  # the API answers 401 itself
            raise web.HTTPSeeOther(f"/login?next={quote(request.path)}")
        sent = request.headers.get(CSRF_HEADER)
        if sent is None and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            sent = (await request.post()).get(CSRF_FIELD)
        if not isinstance(sent, str) or not hmac.compare_digest(sent, operator.csrf_token):
            raise CsrfRefused()
    return await handler(request)


class CsrfRefused(web.HTTPForbidden):
    """The form is stale (signed out and in again since) or was not ours."""


def current_operator(request: web.Request) -> users.Operator | None:
    return request.get(OPERATOR)


def require_page(request: web.Request, role: Role = Role.VIEWER) -> users.Operator:
    """The signed-in operator, who must have `role`; otherwise off to the sign-in page (or a 403)."""
    operator = request.get(OPERATOR)
    if operator is None:
        target = request.path_qs if request.method == "GET" else request.path
        raise web.HTTPSeeOther(f"/login?next={quote(target)}")
    if ROLE_RANK[Role(operator.role)] < ROLE_RANK[role]:
        raise PermissionDenied(f"this needs the {role} role; you are signed in as {operator.role}")
    return operator


def set_session_cookie(request: web.Request, response: web.StreamResponse, token: str, max_age_s: int) -> None:
    secure = request.app[RUNTIME].settings.effective_public_url.startswith("https://")
    response.set_cookie(COOKIE, token, max_age=max_age_s, httponly=True, samesite="Lax", secure=secure, path="/")


def clear_session_cookie(response: web.StreamResponse) -> None:
    response.del_cookie(COOKIE, path="/")
