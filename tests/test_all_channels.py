"""Issue acceptance: one alert to 1,000 people on SMS, voice, push and email at once; each person
receives exactly one message on every channel they have, through the real protocols."""
from __future__ import annotations

import csv
import io
from collections import Counter

from tests.conftest import System
from tests.helpers import phone
from tests.test_push import as_json, browser

N = 1000


def _people() -> bytes:
    """Everyone has a phone; every other person an email address; every tenth a browser (below)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["external_id", "name", "phone", "email", "groups"])
    for n in range(N):
        writer.writerow([f"P{n:05d}", f"Person {n}", phone(n), f"p{n}@example.org" if n % 2 == 0 else "", "Everyone"])
    return out.getvalue().encode()


async def test_one_alert_on_all_four_channels_reaches_each_person_once_per_channel(system: System) -> None:
    await system.call("POST", "/api/v1/groups", json={"name": "Everyone"}, expect=201)
    assert (await system.call("POST", "/api/v1/recipients/import", data=_people(), expect=200))["created"] == N
    subscriptions = {}
    for n in range(0, N, 10):
        sub = await browser(system)
        await system.call("POST", f"/api/v1/recipients/P{n:05d}/push-subscriptions", json=as_json(sub), expect=201)
        subscriptions[n] = sub["_id"]

    preview = await system.call("POST", "/api/v1/targets/preview", json={"groups": ["Everyone"]}, expect=200)
    assert preview["contacts"] == {"sms": N, "voice": N, "email": N // 2, "push": N // 10}
    alert = await system.call("POST", "/api/v1/alerts", expect=201, json={
        "title": "Tornado warning", "message": "Take shelter in an interior room now.",
        "channels": ["sms", "voice", "push", "email"], "target": {"groups": ["Everyone"]}})
    await system.call("POST", f"/api/v1/alerts/{alert['id']}/send", expect=202)
    await system.drain(timeout=300)

    addresses = ([phone(n) for n in range(N)] + [f"p{n}@example.org" for n in range(0, N, 2)]
                 + [f"push:{i}" for i in subscriptions.values()])
    received: Counter[tuple[str, str]] = Counter()
    for address in addresses:
        for message in system.sandbox.inbox(address):
            received[(message.channel, address)] += 1
    assert Counter(channel for channel, _ in received) == {"sms": N, "voice": N, "email": N // 2, "push": N // 10}
    assert set(received.values()) == {1}, "nobody got anything twice"
    assert {to for channel, to in received if channel == "push"} == {f"push:{i}" for i in subscriptions.values()}

    summary = await system.call("GET", f"/api/v1/alerts/{alert['id']}")
    assert summary["recipients"] == N
    assert summary["skipped"] == {"sms": 0, "voice": 0, "email": N // 2, "push": N - N // 10}
    assert summary["deliveries"]["sms"]["delivered"] == N
    # Each call was answered (and waits at its Gather for a key): delivered, reported while in progress.
    assert summary["deliveries"]["voice"]["delivered"] == N
    assert summary["deliveries"]["email"]["sent"] + summary["deliveries"]["email"]["queued"] == N // 2
    assert summary["deliveries"]["push"]["sent"] + summary["deliveries"]["push"]["queued"] == N // 10


async def test_each_channel_says_its_own_variant(system: System) -> None:
    await system.call("POST", "/api/v1/groups", json={"name": "Everyone"}, expect=201)
    await system.call("POST", "/api/v1/recipients", json={"external_id": "v1", "phone": phone(1), "email": "v1@example.org",
                                                         "groups": ["Everyone"]}, expect=201)
    body = {"title": "Boil water notice", "message": "Boil tap water for one minute before drinking it.",
            "channels": ["sms", "voice", "email"], "target": {"groups": ["Everyone"]},
            "variants": {"sms": "Boil water before drinking.", "email": "A long explanation of the boil notice."}}
    await system.call("POST", "/api/v1/alerts", json={**body, "variants": {"push": "x"}}, expect=422)
    alert = await system.call("POST", "/api/v1/alerts", json=body, expect=201)
    assert alert["variants"] == body["variants"] and "Boil water before drinking." in alert["sms"]["text"]
    await system.call("POST", f"/api/v1/alerts/{alert['id']}/send", expect=202)
    await system.drain()
    sms = [m for m in system.sandbox.inbox(phone(1)) if m.channel == "sms"]
    call = [m for m in system.sandbox.inbox(phone(1)) if m.channel == "voice"]
    (mail,) = system.sandbox.inbox("v1@example.org")
    assert "Boil water before drinking." in sms[0].body and "one minute" not in sms[0].body
    assert "A long explanation" in mail.body
    assert "Boil tap water for one minute" in call[0].body, "no voice variant: the message itself"
