"""Live changes of an alert: announced over Redis pub/sub, streamed to the console as server-sent events.

Published after the change is committed, with ids only (no names, numbers or message text). A
failed publish is logged and never fails the request that made the change: the database has it,
and a board that missed a message catches up on its next read.

`stream` is the other end, one per open alert page: it forwards what is announced on the alert's
channel (an answer, an escalation run, a cancel) and, every STATE_EVERY_S, re-reads the alert's live
state (delivery progress changes all the time and is not announced), sending it only when it
changed. Redis down: the page still gets the state, from the database. A comment line every
HEARTBEAT_S keeps proxies from closing an idle stream and shows when the browser has gone.
"""
from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Awaitable, Callable

from aiohttp import web
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import RedisError

from console.db import in_thread
from escalation.engine import live_channel
from console.keys import RUNTIME

log = logging.getLogger(__name__)

#: Seconds between two reads of an alert's live state for each open stream.
STATE_EVERY_S = 2.0
#: Seconds between heartbeat comments on a quiet stream.
HEARTBEAT_S = 15.0
#: What the browser waits before reconnecting a dropped stream (EventSource's `retry`), in ms.
RETRY_MS = 3000
#: Every open stream's stop signal: shutting the app down ends them at once.
STREAMS = web.AppKey("live_streams", set)


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


def setup(app: web.Application) -> None:
    app[STREAMS] = set()
    app.on_shutdown.append(_end_streams)


async def _end_streams(app: web.Application) -> None:
    for stop in list(app[STREAMS]):
        stop.set()


def _gone(request: web.Request) -> bool:
    return request.transport is None or request.transport.is_closing()


async def _event(response: web.StreamResponse, name: str, data: str) -> None:
    await response.write(f"event: {name}\ndata: {data}\n\n".encode())


async def stream(request: web.Request, alert_id: int, read_state: Callable[[], Awaitable[Any]]) -> web.StreamResponse:
    """Stream the alert's changes to one browser until it goes away (or the app stops)."""
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                           "X-Accel-Buffering": "no"})
    await response.prepare(request)
    stop = asyncio.Event()
    request.app[STREAMS].add(stop)
    redis = AsyncRedis.from_url(request.app[RUNTIME].settings.redis_url or "")
    pubsub = redis.pubsub()
    listening = False
    loop = asyncio.get_running_loop()
    try:
        await response.write(f"retry: {RETRY_MS}\n\n".encode())
        try:
            await pubsub.subscribe(live_channel(alert_id))
            listening = True
        except RedisError:
            log.warning("alert %s: live stream without pub/sub (Redis unavailable)", alert_id)
        last, next_state, next_beat = None, 0.0, loop.time() + HEARTBEAT_S
        while not stop.is_set() and not _gone(request):
            now = loop.time()
            if now >= next_state:
                state = json.dumps(await read_state(), sort_keys=True)
                if state != last:
                    await _event(response, "state", state)
                    last = state
                next_state = now + STATE_EVERY_S
            if now >= next_beat:
                await response.write(b": heartbeat\n\n")
                next_beat = now + HEARTBEAT_S
            wait = max(0.05, min(next_state, next_beat) - loop.time())
            message = None
            if listening:
                try:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=wait)
                except RedisError:
                    log.warning("alert %s: live stream lost pub/sub; the state is still read", alert_id)
                    listening = False
            else:
                try:
                    await asyncio.wait_for(stop.wait(), wait)
                except TimeoutError:
                    pass
            if message is not None and message.get("type") == "message":
                data = message["data"].decode() if isinstance(message["data"], bytes) else str(message["data"])
                await _event(response, "change", data)
                next_state = 0.0  # an answer changes the counts: re-read them now
    except ConnectionResetError:
        pass  # the browser went away mid-write
    finally:
        request.app[STREAMS].discard(stop)
        try:
            await pubsub.aclose()
            await redis.aclose()
        except RedisError:
            pass
    return response
