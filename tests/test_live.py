"""Live updates: every recorded answer is announced on the alert's Redis channel, ids only."""
from __future__ import annotations

import asyncio
import json

from redis.asyncio import Redis

from tests.conftest import System
from tests.helpers import people_csv, phone


async def test_answers_by_sms_voice_and_link_are_announced(system: System) -> None:
    await system.call("POST", "/api/v1/groups", json={"name": "Everyone"}, expect=201)
    await system.call("POST", "/api/v1/recipients/import", data=people_csv(3), expect=200)
    alert = await system.call("POST", "/api/v1/alerts", expect=201, json={
        "title": "Lockdown", "message": "Lock the doors.", "channels": ["sms", "voice", "email"],
        "target": {"groups": ["Everyone"]}})
    redis = Redis.from_url(system.runtime.settings.redis_url)
    pubsub = redis.pubsub()
    await pubsub.subscribe(f"tocsin:alert:{alert['id']}")
    try:
        await system.call("POST", f"/api/v1/alerts/{alert['id']}/send", expect=202)
        await system.drain()
        await system.call("POST", "/sandbox/sms/reply", json={"from": phone(0), "body": "SAFE"}, expect=200)
        await system.call("POST", "/sandbox/voice/press", json={"to": phone(1), "digits": "2"}, expect=200)
        (mail,) = system.sandbox.inbox("p2@example.org")
        link = next(url for url in mail.links if "answer=safe" in url).split("?")[0]
        await system.call("POST", link.removeprefix(system.base_url), data={"answer": "safe"}, expect=200)
        seen = []
        for _ in range(50):
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
            if message:
                seen.append(json.loads(message["data"]))
            if len(seen) == 3:
                break
            await asyncio.sleep(0.01)
    finally:
        await pubsub.aclose()
        await redis.aclose()
    assert [(m["type"], m["kind"], m["channel"]) for m in seen] == [
        ("response", "safe", "sms"), ("response", "need_help", "voice"), ("response", "safe", "email")]
    assert all("phone" not in json.dumps(m) and "+1" not in json.dumps(m) for m in seen), "ids only"
