"""CAP 1.2 over HTTP: import, export, the public feed, and the upstream feeds Tocsin follows.

    POST   /api/v1/cap                      a CAP document -> a draft (operator); ?channels=sms,push
    GET    /api/v1/alerts/{id}.cap          an alert as CAP (viewer); also Accept: application/cap+xml
    GET    /api/v1/cap/feeds                followed feeds (viewer)
    POST   /api/v1/cap/feeds                follow a feed (admin: its rule may send on its own)
    DELETE /api/v1/cap/feeds/{id}           stop following (admin)
    GET    /cap/feed.atom                   public: current public alerts
    GET    /cap/alerts/{id}.cap             public: one of those alerts as CAP (404 for any other)
"""
from __future__ import annotations

from aiohttp import web

from alerting import alerts
from alerting.cap import atom, export, feeds, imports
from alerting.cap.parse import MAX_DOCUMENT_BYTES, parse
from alerting.cap.errors import CapTooLarge
from alerting.errors import NotFound, ValidationError
from alerting.statuses import Role
from console.auth import require
from console.db import in_thread, in_transaction
from console.errors import read_json
from console.keys import RUNTIME
from console.paths import path_id
from escalation import accountability
from ops import cap_poll

CAP_CONTENT_TYPE = export.CONTENT_TYPE


def setup(app: web.Application) -> None:
    app.router.add_post("/api/v1/cap", import_cap)
    app.router.add_get("/api/v1/cap/feeds", list_feeds)
    app.router.add_post("/api/v1/cap/feeds", create_feed)
    app.router.add_delete("/api/v1/cap/feeds/{feed_id}", delete_feed)
    app.router.add_get(r"/api/v1/alerts/{alert_id:\d+}.cap", get_alert_cap)
    app.router.add_get("/cap/feed.atom", public_feed)
    app.router.add_get(r"/cap/alerts/{alert_id:\d+}.cap", public_alert_cap)


def origin(request: web.Request) -> export.Origin:
    s = request.app[RUNTIME].settings
    return export.Origin(org_name=s.org_name, public_url=s.effective_public_url, contact=s.org_contact)


def _id(request: web.Request, key: str) -> int:
    return path_id(request, key, suffix=".cap")


async def _body(request: web.Request) -> bytes:
    """The request body, refusing more than MAX_DOCUMENT_BYTES without reading the rest."""
    if request.content_length is not None and request.content_length > MAX_DOCUMENT_BYTES:
        raise CapTooLarge(f"the CAP document is {request.content_length:,} bytes; at most "
                          f"{MAX_DOCUMENT_BYTES:,} are accepted", field="document")
    data = bytearray()
    async for chunk in request.content.iter_chunked(65536):
        data.extend(chunk)
        if len(data) > MAX_DOCUMENT_BYTES:
            raise CapTooLarge(f"the CAP document is larger than {MAX_DOCUMENT_BYTES:,} bytes", field="document")
    return bytes(data)


async def import_cap(request: web.Request) -> web.Response:
    actor = require(request, Role.OPERATOR)
    runtime = request.app[RUNTIME]
    available = runtime.available_channels
    chosen = [c.strip() for c in request.query.get("channels", "").split(",") if c.strip()] or None
    if chosen and any(c not in available for c in chosen):
        raise ValidationError(f"channels must be among {', '.join(available)}", field="channels")
    parsed = await in_thread(request, parse, await _body(request))
    own = origin(request)

    def work(session):  # type: ignore[no-untyped-def]
        result = imports.import_message(
            session, parsed, actor=actor, available_channels=available, channels=chosen, own_sender=own.sender,
            cancel=lambda s, alert_id: accountability.cancel(s, alert_id, None, actor=actor,
                                                              available_channels=available))
        body = alerts.summary(session, result.alert, org_name=runtime.settings.org_name)
        body.update(cap_action=result.action, referenced_alert_id=result.referenced_alert_id,
                    short_texts=result.short_texts, cap=result.alert.cap, warnings=result.warnings)
        if result.alert.status == "draft" and body["recipients"] == 0:
            body["warnings"].append("the draft reaches no one yet")
        return body, result.created

    body, created = await in_transaction(request, work)
    return web.json_response(body, status=201 if created else 200)


async def get_alert_cap(request: web.Request) -> web.Response:
    require(request, Role.VIEWER)
    alert_id = _id(request, "alert_id")
    own = origin(request)
    xml = await in_transaction(request, lambda s: export.export_alert(s, alerts.get_alert(s, alert_id), own))
    return web.Response(body=xml, content_type=CAP_CONTENT_TYPE, charset="utf-8")


async def public_alert_cap(request: web.Request) -> web.Response:
    alert_id = _id(request, "alert_id")
    own = origin(request)

    def work(session):  # type: ignore[no-untyped-def]
        alert = alerts.get_alert(session, alert_id)
        if not atom.is_public(alert):
            raise NotFound(f"no public alert with id {alert_id}")
        return export.export_alert(session, alert, own)

    xml = await in_transaction(request, work)
    return web.Response(body=xml, content_type=CAP_CONTENT_TYPE, charset="utf-8")


async def public_feed(request: web.Request) -> web.Response:
    own = origin(request)
    xml = await in_transaction(request, lambda s: atom.feed(s, own))
    return web.Response(body=xml, content_type=atom.ATOM_CONTENT_TYPE, charset="utf-8")


async def list_feeds(request: web.Request) -> web.Response:
    require(request, Role.VIEWER)
    return web.json_response(await in_transaction(request, feeds.list_feeds))


async def create_feed(request: web.Request) -> web.Response:
    actor = require(request, Role.ADMIN)
    data = await read_json(request)
    runtime = request.app[RUNTIME]
    body = await in_transaction(request, lambda s: feeds.feed_as_dict(
        feeds.create_feed(s, data, actor=actor, available_channels=runtime.available_channels)))
    await in_thread(request, cap_poll.start, runtime.redis, body["id"])
    return web.json_response(body, status=201)


async def delete_feed(request: web.Request) -> web.Response:
    actor = require(request, Role.ADMIN)
    feed_id = _id(request, "feed_id")
    await in_transaction(request, lambda s: feeds.delete_feed(s, feed_id, actor=actor))
    return web.json_response({"deleted": feed_id})
