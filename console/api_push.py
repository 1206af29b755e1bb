"""Web Push: the VAPID public key, registering browsers, and the page where a person subscribes.

    GET  /api/v1/push/vapid-public-key                       viewer     {"public_key": ...}
    GET  /push/vapid-public-key                              anyone     the same, for browsers
    POST /api/v1/recipients/{external_id}/push-subscriptions operator   a browser's PushSubscription JSON
    GET  /api/v1/recipients/{external_id}/push-link          operator   {"url": <the person's page>}
    GET  /p/{token}                                          the link   the page with its one button
    POST /p/{token}/subscriptions                            the link   what the page's script posts
    GET  /static/subscribe.js, /sw.js                        anyone     the page's script, the service worker

The person's page needs no login: the signed link (alerting/links.py, SUBSCRIBE) is the credential,
bound to one person. The service worker is served from the root so its scope covers every page.
"""
from __future__ import annotations

import html
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web
from sqlalchemy.orm import Session

from alerting import audit, directory, push_subscriptions
from alerting.errors import NotFound, PermissionDenied, ValidationError
from alerting.links import SUBSCRIBE
from alerting.models import Recipient
from alerting.statuses import Role
from console.auth import require
from console.public_pages import page
from console.db import in_transaction
from console.errors import read_json
from console.keys import RUNTIME
from ops.runtime import Runtime
from ops.vapid_keys import public_key_of

STATIC = Path(__file__).parent / "static"
#: A PushSubscription's JSON is a few hundred bytes; the public route takes nothing much larger.
MAX_SUBSCRIPTION_BYTES = 8192
#: The token is in the URL: no referrer may carry it elsewhere, no cache keep the page, no site
#: frame it. The page loads only its own script, and the script talks only to this site.
PAGE_CSP = ("default-src 'none'; script-src 'self'; connect-src 'self'; worker-src 'self'; "
                               "style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
                               "frame-ancestors 'none'")
STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;padding:1rem;line-height:1.5;
color:#111;background:#fff;font-size:1.125rem}
main{max-width:32rem;margin:0 auto}h1{font-size:1.5rem;margin:.5rem 0 1rem}
button{display:block;width:100%;min-height:3.5rem;font-size:1.25rem;font-weight:bold;border-radius:.5rem;
border:3px solid #111;background:#1a5fb4;color:#fff;cursor:pointer;padding:.75rem;margin:1rem 0}
button:disabled{background:#777}button:focus{outline:4px solid #111;outline-offset:3px}
"""


def _public_key(runtime: Runtime) -> str:
    return public_key_of(runtime.vapid_private_key)


def _allow_loopback_http(runtime: Runtime) -> bool:
    """Plain-http push endpoints on loopback are for a Tocsin that itself runs on loopback
    (development, the sandbox); a deployed Tocsin takes https endpoints only."""
    host = (urlsplit(runtime.settings.effective_public_url).hostname or "").lower()
    return host in push_subscriptions.LOOPBACK_HOSTS


async def vapid_public_key(request: web.Request) -> web.Response:
    """Public information: browsers need it to subscribe. Under /api/v1 it needs a viewer token."""
    if request.path.startswith("/api/"):
        require(request, Role.VIEWER)
    return web.json_response({"public_key": _public_key(request.app[RUNTIME])},
                             headers={"Cache-Control": "public, max-age=3600"})


async def add_subscription(request: web.Request) -> web.Response:
    """An operator (or an app holding a token) registers a browser for a person.

    The body is the browser's PushSubscription JSON, optionally with "user_agent" naming the browser.
    """
    actor = require(request, Role.OPERATOR)
    data = await read_json(request)
    external_id = request.match_info["external_id"]
    runtime = request.app[RUNTIME]
    agent = data.get("user_agent") if isinstance(data, dict) else None

    def work(session: Session) -> tuple[int, bool]:
        person = directory.get_recipient(session, external_id)
        subscription, created = push_subscriptions.add_subscription(
            session, person.id, data, user_agent=agent if isinstance(agent, str) else "", actor=actor,
            allow_loopback_http=_allow_loopback_http(runtime))
        return subscription.id, created

    subscription_id, created = await in_transaction(request, work)
    return web.json_response({"id": subscription_id, "recipient": external_id, "created": created},
                             status=201 if created else 200)


def page_url(runtime: Runtime, recipient_id: int) -> str:
    return f"{runtime.settings.effective_public_url}/p/{runtime.signer.subscribe_token(recipient_id)}"


async def push_link(request: web.Request) -> web.Response:
    """The person's own subscribe page, to send them by email or SMS. It is a credential (anyone
    holding it can add a browser to that person's alerts), so handing one out is audited."""
    actor = require(request, Role.OPERATOR)
    external_id = request.match_info["external_id"]
    runtime = request.app[RUNTIME]

    def work(session: Session) -> str:
        person = directory.get_recipient(session, external_id)
        audit.record(session, actor, "push.link", "recipient", person.id)
        return page_url(runtime, person.id)

    return web.json_response({"url": await in_transaction(request, work)})


def _page(title: str, body: str, *, status: int = 200) -> web.Response:
    return page(title, body, csp=PAGE_CSP, style=STYLE, status=status)


async def _recipient_id(request: web.Request) -> int:
    """The person the link was made for; PermissionDenied if forged or expired, NotFound if deleted."""
    claims = request.app[RUNTIME].signer.verify(request.match_info["token"], SUBSCRIBE)
    exists = await in_transaction(request, lambda s: s.get(Recipient, claims.recipient_id) is not None)
    if not exists:
        raise NotFound("this link's recipient no longer exists")
    return claims.recipient_id


async def recipient_page(request: web.Request) -> web.Response:
    """The page a person opens from their link: what they will get, and one button."""
    try:
        await _recipient_id(request)
    except (PermissionDenied, NotFound) as exc:
        status = 403 if isinstance(exc, PermissionDenied) else 404
        return _page("Link not valid", f"<h1>This link cannot be used</h1><p>{html.escape(str(exc))}. "
                     "Ask whoever sent it to you for a new one.</p>", status=status)
    runtime = request.app[RUNTIME]
    org = html.escape(runtime.settings.org_name)
    e = html.escape
    body = (f"<h1>Emergency alerts from {org}</h1>"
            f"<p>Turn on alerts to get {org}'s emergency messages in this browser as notifications, "
            f"even when this page is closed. Each alert has two buttons, <strong>I'm safe</strong> and "
            f"<strong>I need help</strong>, so you can answer straight from the notification.</p>"
            f"<p>You will only get alerts and drills (marked TEST). You can turn them off at any time in "
            f"the browser's site settings.</p>"
            # Relative URLs ("<token>/subscriptions" from ".../p/<token>") keep any path prefix of
            # the public URL; the service worker's scope is the site's root under that prefix.
            f'<div id="tocsin-subscribe" data-vapid-key="{e(_public_key(runtime))}" '
            f'data-subscribe-url="{e(request.match_info["token"])}/subscriptions" '
            f'data-service-worker="../sw.js" data-scope="../" '
            f'data-location-url="{e(request.match_info["token"])}/location">'
            f'<p><label><input type="checkbox" id="share-location"> Also share where I am now, so that '
            f'alerts for this area reach me (optional; open this page again to update it)</label></p>'
            f'<button id="subscribe" type="button">Turn on alerts in this browser</button>'
            f'<p id="status" role="status" aria-live="polite"></p></div>'
            f'<script src="../static/subscribe.js" defer></script>')
    return _page(f"Alerts from {runtime.settings.org_name}", body)


async def page_location(request: web.Request) -> web.Response:
    """The page's script posts the browser's position here when the person ticked the box."""
    recipient_id = await _recipient_id(request)
    if request.content_length is not None and request.content_length > MAX_SUBSCRIPTION_BYTES:
        raise ValidationError(f"a location is at most {MAX_SUBSCRIPTION_BYTES} bytes")
    data = await read_json(request)
    await in_transaction(request, lambda s: directory.record_last_known_location(
        s, recipient_id, data, actor=f"recipient:{recipient_id}"))
    return web.json_response({"shared": True}, status=201)


async def page_subscribe(request: web.Request) -> web.Response:
    """The page's script posts the browser's PushSubscription JSON here."""
    recipient_id = await _recipient_id(request)
    if request.content_length is not None and request.content_length > MAX_SUBSCRIPTION_BYTES:
        raise ValidationError(f"a push subscription is at most {MAX_SUBSCRIPTION_BYTES} bytes")
    data = await read_json(request)
    runtime = request.app[RUNTIME]
    agent = request.headers.get("User-Agent", "")
    _, created = await in_transaction(request, lambda s: push_subscriptions.add_subscription(
        s, recipient_id, data, user_agent=agent, actor=f"recipient:{recipient_id}",
        allow_loopback_http=_allow_loopback_http(runtime)))
    return web.json_response({"subscribed": True}, status=201 if created else 200)


@cache
def _script(name: str) -> bytes:
    return (STATIC / name).read_bytes()


async def subscribe_script(request: web.Request) -> web.Response:
    return web.Response(body=_script("subscribe.js"), content_type="application/javascript", charset="utf-8",
                        headers={"Cache-Control": "no-cache"})


async def service_worker(request: web.Request) -> web.Response:
    """Served at the root with `Service-Worker-Allowed: /`, so it may control every page of the site."""
    return web.Response(body=_script("sw.js"), content_type="application/javascript", charset="utf-8",
                        headers={"Service-Worker-Allowed": "/", "Cache-Control": "no-cache"})
