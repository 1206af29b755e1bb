"""Signing in and out of the console (`/login`, `/logout`)."""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from aiohttp import web

from alerting import users
from console.db import in_transaction
from console.keys import RUNTIME
from console.render import render
from console.session import (clear_session_cookie, current_operator, login_form_token, login_form_token_valid,
                             set_session_cookie, COOKIE)


def _safe_next(value: object) -> str:
    """Only a path on this site: never an open redirect to somewhere else."""
    if not isinstance(value, str) or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    parts = urlsplit(value)
    return value if not parts.scheme and not parts.netloc else "/"


def _login_page(request: web.Request, *, error: str = "", email: str = "", next_: str = "/",
                status: int = 200) -> web.Response:
    return render(request, "login.html", {
        "error": error, "email": email, "next": next_, "login_token": login_form_token(request),
        "trusted_days": request.app[RUNTIME].settings.trusted_session_days}, status=status)


async def login_page(request: web.Request) -> web.Response:
    next_ = _safe_next(request.query.get("next", "/"))
    if current_operator(request) is not None:
        raise web.HTTPSeeOther(next_)
    return _login_page(request, next_=next_)


async def login(request: web.Request) -> web.Response:
    form = await request.post()
    email, password = str(form.get("email", "")), str(form.get("password", ""))
    next_ = _safe_next(form.get("next", "/"))
    if not login_form_token_valid(request, str(form.get("csrf_token", ""))):
        return _login_page(request, error="The sign-in form had expired; it has been renewed. Sign in again.",
                           email=email, next_=next_, status=403)
    trusted = form.get("trusted") == "1"
    settings = request.app[RUNTIME].settings
    lifetime = timedelta(days=settings.trusted_session_days) if trusted else timedelta(hours=settings.session_hours)

    def sign_in(session):  # type: ignore[no-untyped-def]
        try:
            user = users.authenticate(session, email, password)
        except users.SignInRefused as refused:
            return None, str(refused)
        return users.start_session(session, user, trusted=trusted, lifetime=lifetime), ""

    token, error = await in_transaction(request, sign_in)
    if token is None:
        return _login_page(request, error=error[:1].upper() + error[1:] + ".", email=email, next_=next_, status=401)
    response = web.HTTPSeeOther(next_)
    set_session_cookie(request, response, token, int(lifetime.total_seconds()))
    raise response


async def logout(request: web.Request) -> web.Response:
    token = request.cookies.get(COOKIE)
    await in_transaction(request, lambda s: users.end_session(s, token))
    response = web.HTTPSeeOther("/login")
    clear_session_cookie(response)
    raise response
