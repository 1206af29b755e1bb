"""Announcing live changes to whoever watches an alert (the console's live board), over Redis pub/sub.

Published after the change is committed, with ids only (no names, numbers or message text). A
failed publish is logged and never fails the request that made the change: the database has it,
and a board that missed a message catches up on its next read.
"""
from __future__ import annotations

import json
import logging

from aiohttp import web

from console.db import in_thread
from escalation.engine import live_channel
from console.keys import RUNTIME

log = logging.getLogger(__name__)


async def announce(request: web.Request, alert_id: int, message: dict) -> None:
    """Publish `message` (ids only) on the alert's live channel."""
    redis = request.app[RUNTIME].redis
    try:
        await in_thread(request, redis.publish, live_channel(alert_id), json.dumps(message))
    except Exception:  # Redis down: the change is saved; only the live push is lost
        log.warning("could not announce a change on alert %s", alert_id)


async def announce_response(request: web.Request, alert_id: int, recipient_id: int | None, kind: str,
                            channel: str) -> None:
    await announce(request, alert_id, {"type": "response", "alert_id": alert_id, "recipient_id": recipient_id,
                                       "kind": kind, "channel": channel})
