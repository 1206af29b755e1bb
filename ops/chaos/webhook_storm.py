"""Webhook storms: every status callback of a send, three statuses each, each sent twice, all
shuffled (so `delivered` often comes before `queued`), interleaved with a reply from every phone
(also sent twice, same MessageSid), all signed as Twilio signs them and fired as fast as the
machine allows. Meanwhile a console request is timed every 100 ms.

Nothing may be lost and the counts must be exact: every message `delivered`, half the people
`safe` and half `need_help`, and no reply counted twice.
"""
from __future__ import annotations

import asyncio
import random
import statistics
import time

import aiohttp
from sqlalchemy import create_engine, text
from twilio.request_validator import RequestValidator

from ops.chaos.harness import (
    FROM_NUMBER,
    PRIMARY_SID,
    PRIMARY_TOKEN,
    Result,
    Stack,
    http,
    phone_of,
)

IN_FLIGHT = 200
STATUSES = ("queued", "sent", "delivered")
COPIES = 2


def _requests(stack: Stack, rows: list[tuple[int, str, str]]) -> list[tuple[str, dict[str, str]]]:
    calls = []
    for delivery_id, sid, _ in rows:
        for status in STATUSES:
            calls += [(f"/hooks/twilio/status?d={delivery_id}",
                       {"MessageSid": sid, "MessageStatus": status, "AccountSid": PRIMARY_SID,
                        "To": "", "From": FROM_NUMBER})] * COPIES
    for i in range(stack.n):
        calls += [("/hooks/twilio/sms", {"MessageSid": f"SMchaos{i:026d}", "AccountSid": PRIMARY_SID,
                                         "From": phone_of(i), "To": FROM_NUMBER,
                                         "Body": "SAFE" if i % 2 == 0 else "HELP"})] * COPIES
    random.shuffle(calls)
    return calls


async def _storm(stack: Stack, calls: list[tuple[str, dict[str, str]]], alert_id: int) -> tuple[float, list[float], int]:
    validator = RequestValidator(PRIMARY_TOKEN)
    refused = 0
    refusals: list[str] = []
    latencies: list[float] = []
    done = asyncio.Event()
    connector = aiohttp.TCPConnector(limit=IN_FLIGHT + 4)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def probe() -> None:
            headers = {"Authorization": f"Bearer {stack.token}"}
            while not done.is_set():
                t0 = time.monotonic()
                async with session.get(f"{stack.base}/api/v1/alerts/{alert_id}", headers=headers) as r:
                    await r.read()
                latencies.append(time.monotonic() - t0)
                await asyncio.sleep(0.1)

        queue: asyncio.Queue[tuple[str, dict[str, str]]] = asyncio.Queue()
        for call in calls:
            queue.put_nowait(call)

        async def fire() -> None:
            nonlocal refused
            while not queue.empty():
                path, params = queue.get_nowait()
                url = stack.base + path
                headers = {"X-Twilio-Signature": validator.compute_signature(url, params)}
                async with session.post(url, data=params, headers=headers) as r:
                    await r.read()
                    if r.status >= 300:
                        refused += 1
                        refusals.append(f"{path.split('?')[0]} {r.status} {(await r.text())[:200]!r}")

        prober = asyncio.create_task(probe())
        started = time.monotonic()
        await asyncio.gather(*(fire() for _ in range(IN_FLIGHT)))
        elapsed = time.monotonic() - started
        done.set()
        await prober
    for line in sorted(set(refusals))[:10]:
        print(f"   refused: {line}", flush=True)
    return elapsed, latencies, refused


def run(stack: Stack, people: int) -> list[Result]:
    stack.people(people, push_share=0)
    http(f"{stack.sbase}/sandbox/config", {"callbacks": False})  # the storm is ours
    alert_id, marker = stack.send(("sms",), title="Webhook storm")
    stack.wait_done(alert_id, 600)
    engine = create_engine(stack.database_url or f"sqlite:///{stack.root / 'var' / 'tocsin.db'}")
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(text(
            "SELECT id, provider_message_id, address FROM deliveries WHERE alert_id = :a"), {"a": alert_id})]
    engine.dispose()
    calls = _requests(stack, rows)
    started = time.monotonic()
    elapsed, latencies, refused = asyncio.run(_storm(stack, calls, alert_id))

    def settled() -> dict | None:
        body = stack.alert(alert_id)
        return body if body["deliveries"]["sms"].get("delivered", 0) >= len(rows) and \
            body["responses"].get("safe", 0) + body["responses"].get("need_help", 0) >= people else None
    try:
        from ops.chaos.harness import wait_for
        body = wait_for(settled, 120, 0.5, what="every callback and reply to be recorded")
    except TimeoutError:
        body = stack.alert(alert_id)
    seconds = time.monotonic() - started
    delivered = body["deliveries"]["sms"].get("delivered", 0)
    responses = body["responses"]
    want_safe, want_help = (people + 1) // 2, people // 2
    exact = responses.get("safe") == want_safe and responses.get("need_help") == want_help
    ms = sorted(x * 1000 for x in latencies) or [0.0]
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    duplicated = stack.count(("sms",), marker)[3]
    return [Result("webhook storm: sms", len(rows), delivered, len(rows) - delivered, duplicated, seconds,
                   f"{len(calls)} webhooks in {elapsed:.1f} s ({len(calls) / elapsed:.0f}/s), {refused} refused; "
                   f"safe {responses.get('safe')}/{want_safe}, help {responses.get('need_help')}/{want_help}"
                   f"{'' if exact else ' NOT EXACT'}; console p50 {statistics.median(ms):.0f} ms, "
                   f"p95 {p95:.0f} ms, max {ms[-1]:.0f} ms")]
