"""JSON API: a CSV import of people in the background, and its progress.

`POST /api/v1/recipients/import?async=1` stores the file and answers 202 at once with the import's
id; `GET /api/v1/imports/{id}` tells how far it is and, once it ends, gives the same report the
synchronous import answers with (`created`, `updated`, `rejected`, `errors`, `created_groups`).
Without `async` the import stays synchronous: that contract does not change.
"""
from __future__ import annotations

import logging
from dataclasses import asdict

from aiohttp import web
from redis.exceptions import RedisError

from alerting import imports
from alerting.errors import ValidationError
from alerting.recipient_input import RowRejected
from alerting.statuses import Role
from console.auth import require
from console.db import in_thread, in_transaction
from console.keys import RUNTIME
from console.paths import path_id
from ops.jobs import enqueue_import

log = logging.getLogger(__name__)


async def queue_import(request: web.Request, import_id: int) -> str:
    """Hand a stored import to the workers: "queued", "already" (queued or running), or
    "unqueued" when Redis is away (the import waits, stored; resuming it queues it)."""
    try:
        queued = await in_thread(request, enqueue_import, request.app[RUNTIME].redis, import_id)
    except RedisError:
        log.warning("import %s stored but not queued: Redis is unreachable", import_id)
        return "unqueued"
    return "queued" if queued else "already"


async def start_import(request: web.Request, body: bytes, *, actor: str, create_groups: bool) -> web.Response:
    """The `?async=1` variant of POST /api/v1/recipients/import."""
    if len(body) > imports.MAX_IMPORT_BYTES:
        raise web.HTTPRequestEntityTooLarge(max_size=imports.MAX_IMPORT_BYTES, actual_size=len(body))
    try:
        found = await in_transaction(request, lambda s: imports.create(
            s, body, filename=request.query.get("filename", "")[:300], create_groups=create_groups, actor=actor))
    except RowRejected as exc:
        raise ValidationError(exc.error.message, errors=[exc.error.as_dict()]) from None
    url = f"/api/v1/imports/{found.id}"
    queued = await queue_import(request, found.id)
    return web.json_response({"id": found.id, "status": "queued", "queued": queued != "unqueued", "url": url},
                             status=202, headers={"Location": url})


async def get_import(request: web.Request) -> web.Response:
    require(request, Role.OPERATOR)
    import_id = path_id(request, "import_id")

    def load(session):  # type: ignore[no-untyped-def]
        found = imports.get(session, import_id)
        answer = imports.progress(found)
        return {**answer, **asdict(imports.report(found))} if answer["ended"] else answer

    return web.json_response(await in_transaction(request, load))
