"""The fake Web Push service's URLs (RFC 8030, VAPID RFC 8292, aes128gcm RFC 8291).

    POST /sandbox/push/subscriptions               a simulated browser subscribes
    GET  /sandbox/push/subscriptions[/{id}]        the subscriptions (sandbox view)
    POST /sandbox/push/subscriptions/{id}/expire   the browser unsubscribes: 410 from now on
    POST /sandbox/push/send/{id}                   the push resource pywebpush posts to
    GET  /sandbox/push/messages/{sid}              a delivered push (its Location)

Subscribing answers the browser's `PushSubscription.toJSON()` (endpoint and
keys, nothing else), with the id and inbox address in the `Location`,
`X-Sandbox-Push-Id` and `X-Sandbox-Address` headers. The endpoint is absolute,
built on `?base=`, else config `push_base_url`, else the request's own origin.

A push is checked in this order: 404 unknown subscription, 410 expired, 413
body over 4096 bytes, 400 missing/bad TTL, Urgency or Topic, 401/403 VAPID,
the subscription's configured `fail_status`, 400 not aes128gcm or not
decryptable. An accepted push is decrypted, recorded in the inbox of
`push:<id>` and answered 201 with `Location` and `TTL`, as RFC 8030 says.
Errors are plain text saying what was wrong.
"""

from __future__ import annotations

import re
import time

from aiohttp import web

from .http_json import json_error, json_object
from .keys import PUSH_SERVICE, SANDBOX_STATE
from .push import PushMessage, PushSubscription
from .sms import new_sid
from .vapid import VapidError, b64url_decode, b64url_encode, public_key_from_raw, verify_vapid

MAX_BODY_BYTES = 4096  # RFC 8030 §7.2: the payload size every push service must accept
_URGENCIES = frozenset({"very-low", "low", "normal", "high"})
_TOPIC = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
SEND_ROUTE = "sandbox-push-send"
MESSAGE_ROUTE = "sandbox-push-message"
SUBSCRIPTION_ROUTE = "sandbox-push-subscription"


def _base_url(request: web.Request, override: str | None) -> str | web.Response:
    base = override or request.app[SANDBOX_STATE].config.push_base_url or str(request.url.origin())
    if not base.startswith(("http://", "https://")):
        return json_error(400, f"base must be an http:// or https:// URL, got {base!r}", field="base")
    return base.rstrip("/")


async def subscribe(request: web.Request) -> web.Response:
    """POST /sandbox/push/subscriptions `{"label"?, "application_server_key"?}`: a browser subscribes."""
    payload = await json_object(request, optional=True)
    if isinstance(payload, web.Response):
        return payload
    label, server_key = payload.get("label"), payload.get("application_server_key")
    if label is not None and not isinstance(label, str):
        return json_error(400, f"label must be a string, got {label!r}", field="label")
    restricted: bytes | None = None
    if server_key is not None:
        try:
            restricted = b64url_decode(server_key) if isinstance(server_key, str) else b""
            public_key_from_raw(restricted)
        except ValueError:
            return json_error(400, "application_server_key must be a base64url P-256 public key "
                              "(the VAPID public key)", field="application_server_key")
    base = _base_url(request, request.query.get("base"))
    if isinstance(base, web.Response):
        return base
    send = request.app.router[SEND_ROUTE]
    subscription = request.app[PUSH_SERVICE].subscribe(
        lambda sub_id: base + str(send.url_for(sub_id=sub_id)), label=label, application_server_key=restricted
    )
    location = str(request.app.router[SUBSCRIPTION_ROUTE].url_for(sub_id=subscription.id))
    headers = {"Location": location, "X-Sandbox-Push-Id": subscription.id, "X-Sandbox-Address": subscription.address}
    return web.json_response(subscription.browser_json(), status=201, headers=headers)


def _subscription(request: web.Request) -> PushSubscription | None:
    return request.app[PUSH_SERVICE].get(request.match_info["sub_id"])


async def list_subscriptions(request: web.Request) -> web.Response:
    """GET /sandbox/push/subscriptions: every subscription, oldest first."""
    return web.json_response([s.to_json() for s in request.app[PUSH_SERVICE].all()])


async def get_subscription(request: web.Request) -> web.Response:
    """GET /sandbox/push/subscriptions/{id}."""
    subscription = _subscription(request)
    if subscription is None:
        return json_error(404, f"no push subscription {request.match_info['sub_id']!r}")
    return web.json_response(subscription.to_json())


async def expire(request: web.Request) -> web.Response:
    """POST /sandbox/push/subscriptions/{id}/expire: pushes to it get 410 Gone from now on."""
    subscription = _subscription(request)
    if subscription is None:
        return json_error(404, f"no push subscription {request.match_info['sub_id']!r}")
    subscription.expired = True
    return web.json_response(subscription.to_json())


async def _read_at_most(request: web.Request, limit: int) -> bytes | None:
    """The body, or None if it is longer than `limit` bytes (not read past that)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(16384):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _text(status: int, reason: str) -> web.Response:
    return web.Response(status=status, text=reason + "\n")


async def send(request: web.Request) -> web.Response:
    """POST /sandbox/push/send/{id}: an application server pushes (see the module docstring)."""
    subscription = _subscription(request)
    if subscription is None:
        return _text(404, "no such push subscription")
    if subscription.expired:
        return _text(410, "push subscription has expired or was unsubscribed")
    body = await _read_at_most(request, MAX_BODY_BYTES)
    if body is None:
        return _text(413, f"push message body exceeds {MAX_BODY_BYTES} bytes")
    ttl_header = request.headers.get("TTL")
    if ttl_header is None:
        return _text(400, "TTL header is required (RFC 8030 §5.2)")
    if not ttl_header.strip().isdigit():
        return _text(400, f"TTL must be a non-negative integer number of seconds, got {ttl_header!r}")
    urgency = request.headers.get("Urgency", "normal").lower()
    if urgency not in _URGENCIES:
        return _text(400, f"Urgency must be one of very-low, low, normal, high, got {urgency!r}")
    topic = request.headers.get("Topic")
    if topic is not None and not _TOPIC.match(topic):
        return _text(400, "Topic must be at most 32 base64url characters")
    try:
        identity = verify_vapid(
            request.headers.get("Authorization"), subscription.endpoint, time.time(),
            restricted_to=subscription.application_server_key, verified=request.app[PUSH_SERVICE].verified_tokens,
        )
    except VapidError as exc:
        return _text(exc.status, exc.reason)
    state = request.app[SANDBOX_STATE]
    behaviour = state.config.push.get(subscription.id)
    if behaviour is not None and behaviour.fail_status is not None:
        return _text(behaviour.fail_status, f"sandbox configured to fail with HTTP {behaviour.fail_status}")
    text = ""
    if body:
        encoding = request.headers.get("Content-Encoding", "")
        if encoding.lower() != "aes128gcm":
            return _text(400, f"Content-Encoding must be aes128gcm (RFC 8291), got {encoding!r}")
        try:
            text = subscription.decrypt(body).decode("utf-8", errors="replace")
        except ValueError as exc:
            return _text(400, str(exc))
    message = PushMessage(
        to=subscription.address,
        sender=identity.subject,
        body=text,
        at=time.time(),
        sid=new_sid("PM"),
        status="delivered",
        subscription_id=subscription.id,
        label=subscription.label,
        ttl=int(ttl_header),
        urgency=urgency,
        topic=topic,
        vapid_key=b64url_encode(identity.public_key),
        payload=PushMessage.parse_payload(text),
    )
    state.record(message)
    location = str(request.url.origin()) + str(request.app.router[MESSAGE_ROUTE].url_for(sid=message.sid))
    return web.Response(status=201, headers={"Location": location, "TTL": str(message.ttl)})


async def get_message(request: web.Request) -> web.Response:
    """GET /sandbox/push/messages/{sid}: a push the service accepted."""
    message = request.app[SANDBOX_STATE].find(request.match_info["sid"])
    if not isinstance(message, PushMessage):
        return json_error(404, f"no push message {request.match_info['sid']!r}")
    return web.json_response(message.to_json())


def add_push_routes(app: web.Application, prefix: str = "/push") -> None:
    """Register the push service under `prefix`."""
    app.router.add_post(f"{prefix}/subscriptions", subscribe)
    app.router.add_get(f"{prefix}/subscriptions", list_subscriptions)
    app.router.add_get(f"{prefix}/subscriptions/{{sub_id}}", get_subscription, name=SUBSCRIPTION_ROUTE)
    app.router.add_post(f"{prefix}/subscriptions/{{sub_id}}/expire", expire)
    app.router.add_post(f"{prefix}/send/{{sub_id}}", send, name=SEND_ROUTE)
    app.router.add_get(f"{prefix}/messages/{{sid}}", get_message, name=MESSAGE_ROUTE)
