"""Web Push end to end: browsers (simulated by the sandbox, which also plays the push service and
decrypts) subscribe through the API or a person's signed page; alerts reach them signed with our
VAPID key; gone subscriptions are flagged and skipped; malformed ones and forged links are refused."""
from __future__ import annotations

import asyncio
import base64
import json
import re
from typing import Any, AsyncIterator, Callable
from urllib.parse import urljoin

import aiohttp
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select

from alerting.links import LinkSigner
from alerting.models import AuditEntry, Delivery, PushSubscription, Recipient, Response
from alerting.push_subscriptions import parse_subscription
from channels.base import Outbound, Outcome
from channels.webpush import WebPush
from console.api_push import STATIC
from ops.embedded_redis import free_port
from ops.vapid_keys import generate_private_key, public_key_of
from tests.conftest import System, make_token
from tests.push_browser import PAGE_HARNESS, run_node, run_service_worker
from tests.helpers import people_csv

SUB = "mailto:alerts@campus.example.edu"
UNCOMPRESSED = (serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


@pytest.fixture
async def public() -> AsyncIterator[aiohttp.ClientSession]:
    """A browser on the public pages: no API token."""
    async with aiohttp.ClientSession() as session:
        yield session


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def browser_point() -> bytes:
    """A browser-side P-256 public key, as `keys.p256dh` carries it."""
    return ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(*UNCOMPRESSED)


def our_key(system: System) -> str:
    return public_key_of(system.runtime.vapid_private_key)


async def browser(system: System, base: str | None = None) -> dict[str, Any]:
    """A browser subscribed with our VAPID key: its PushSubscription JSON, plus `_id` in the sandbox."""
    query = f"?base={base}" if base else ""
    async with system.api.post(f"{system.base_url}/sandbox/push/subscriptions{query}",
                               json={"application_server_key": our_key(system)}) as response:
        assert response.status == 201, await response.text()
        return {**await response.json(), "_id": response.headers["X-Sandbox-Push-Id"]}


def as_json(sub: dict[str, Any]) -> dict[str, Any]:
    return {k: sub[k] for k in ("endpoint", "expirationTime", "keys")}


async def people(system: System, count: int) -> None:
    await system.call("POST", "/api/v1/groups", json={"name": "Everyone"}, expect=201)
    await system.call("POST", "/api/v1/recipients/import", data=people_csv(count), expect=200)


async def register(system: System, external_id: str, sub: dict[str, Any], expect: int = 201) -> dict:
    return await system.call("POST", f"/api/v1/recipients/{external_id}/push-subscriptions", json=as_json(sub),
                             expect=expect)


async def send_alert(system: System, title: str = "Gas leak") -> tuple[int, dict]:
    alert = await system.call("POST", "/api/v1/alerts", expect=201, json={
        "title": title, "message": "Leave Building 4 now.", "channels": ["push"], "target": {"groups": ["Everyone"]}})
    await system.call("POST", f"/api/v1/alerts/{alert['id']}/send", expect=202)
    await system.drain()
    return alert["id"], await system.call("GET", f"/api/v1/alerts/{alert['id']}", expect=200)


async def inbox(system: System, sub: dict[str, Any]) -> list[dict]:
    return await system.call("GET", "/sandbox/messages", params={"to": f"push:{sub['_id']}"}, expect=200)


def db(system: System, query: Any) -> list[Any]:
    with system.runtime.sessions() as session:
        return list(session.scalars(query))


async def test_vapid_public_key_for_browsers_and_the_api(system: System, public: aiohttp.ClientSession) -> None:
    expected = our_key(system)
    raw = unb64(expected)
    assert len(raw) == 65 and raw[0] == 4
    assert await system.call("GET", "/api/v1/push/vapid-public-key", expect=200) == {"public_key": expected}
    async with public.get(f"{system.base_url}/push/vapid-public-key") as response:
        assert response.status == 200 and await response.json() == {"public_key": expected}
    async with public.get(f"{system.base_url}/api/v1/push/vapid-public-key") as response:
        assert response.status == 401


async def test_alert_reaches_browsers_subscribed_by_api_and_by_page(system: System, public) -> None:
    await people(system, 4)
    by_api, by_page = await browser(system), await browser(system)
    assert (await register(system, "P00000", by_api))["created"] is True
    link = (await system.call("GET", "/api/v1/recipients/P00001/push-link", expect=200))["url"]
    assert link.startswith(f"{system.base_url}/p/")
    async with public.get(link) as response:
        page = await response.text()
        assert response.status == 200 and response.content_type == "text/html"
        assert response.headers["Referrer-Policy"] == "no-referrer" and "script-src 'self'" in \
            response.headers["Content-Security-Policy"]
    assert "Turn on alerts in this browser" in page and f'data-vapid-key="{our_key(system)}"' in page
    assert not re.search(r'(src|href)="(https?:)?//', page), "the page loads nothing from elsewhere"
    found = {name: urljoin(link, re.search(rf'{name}="([^"]+)"', page).group(1))
             for name in ("data-subscribe-url", "data-service-worker", "data-scope", "script src")}
    assert found == {"data-subscribe-url": f"{link}/subscriptions", "data-service-worker": f"{system.base_url}/sw.js",
                     "data-scope": f"{system.base_url}/", "script src": f"{system.base_url}/static/subscribe.js"}
    async with public.post(found["data-subscribe-url"], json=as_json(by_page),
                           headers={"User-Agent": "TestBrowser/1.0"}) as response:
        assert response.status == 201 and await response.json() == {"subscribed": True}

    alert_id, summary = await send_alert(system)
    assert summary["status"] == "sent" and summary["deliveries"]["push"]["queued"] == 2
    assert summary["skipped"]["push"] == 2, "the two people without a browser are counted, not lost"
    urls = []
    for sub in (by_api, by_page):
        [item] = await inbox(system, sub)
        payload = item["payload"]
        assert (payload["title"], payload["body"], payload["alert_id"]) == ("Gas leak", "Leave Building 4 now.", alert_id)
        assert [a["action"] for a in payload["actions"]] == ["safe", "need_help"]
        assert payload["respond_url"].startswith(f"{system.base_url}/r/")
        assert (item["urgency"], item["ttl"], item["vapid_key"], item["from"]) == ("high", 3600, our_key(system), SUB)
        urls.append(payload["respond_url"])
    assert urls[0] != urls[1], "each person's answer link is their own"
    rows = db(system, select(Delivery).where(Delivery.alert_id == alert_id))
    assert {(d.provider, d.provider_message_id[:2], d.tries) for d in rows} == {("webpush", "PM", 1)}
    [page_sub] = db(system, select(PushSubscription).join(Recipient).where(Recipient.external_id == "P00001"))
    assert page_sub.user_agent == "TestBrowser/1.0" and page_sub.endpoint == by_page["endpoint"]
    entries = db(system, select(AuditEntry).where(AuditEntry.action.like("push.%")))
    assert {e.action for e in entries} == {"push.subscribe", "push.link"}
    assert f"recipient:{page_sub.recipient_id}" in {e.actor for e in entries}
    assert not any(s["endpoint"] in json.dumps(e.details) for e in entries for s in (by_api, by_page))


async def test_posting_to_respond_url_like_the_service_worker(system: System, public) -> None:
    await people(system, 2)
    sub = await browser(system)
    await register(system, "P00000", sub)
    alert_id, _ = await send_alert(system)
    respond_url = (await inbox(system, sub))[0]["payload"]["respond_url"]
    response = await public.post(respond_url, data="answer=safe&via=push", headers={
        "Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"})
    async with response:
        if response.status == 404:
            pytest.skip("respond route not built yet")
        assert response.status == 200 and (await response.json())["recorded"] is True
    summary = await system.call("GET", f"/api/v1/alerts/{alert_id}")
    assert summary["responses"]["safe"] == 1 and summary["responses"]["no_response"] == 1
    assert [r.channel for r in db(system, select(Response))] == ["push"]


async def test_page_script_subscribes_this_browser(system: System, public) -> None:
    await people(system, 1)
    link = (await system.call("GET", "/api/v1/recipients/P00000/push-link"))["url"]
    async with public.get(link) as response:
        page = await response.text()
    sub = as_json(await browser(system))
    ran = await run_node(PAGE_HARNESS, str(STATIC / "subscribe.js"), link, json.dumps(sub), stdin=page.encode())
    assert ran["status"].startswith("Alerts are on"), ran
    assert ran["calls"]["register"] == {"url": f"{system.base_url}/sw.js", "scope": f"{system.base_url}/"}
    assert ran["calls"]["subscribe"] == {"userVisibleOnly": True, "key": our_key(system)}
    [answer] = ran["answers"]
    assert answer["url"] == f"{link}/subscriptions" and answer["status"] == 201
    assert json.loads(answer["body"]) == sub
    assert db(system, select(PushSubscription.endpoint)) == [sub["endpoint"]]


async def test_service_worker_shows_the_alert_and_answers_from_its_buttons(system: System) -> None:
    await people(system, 2)
    helpme, opener = await browser(system), await browser(system)
    await register(system, "P00000", helpme)
    await register(system, "P00001", opener)
    alert_id, _ = await send_alert(system)

    [item] = await inbox(system, helpme)
    ran = await run_service_worker(item["body"], "need_help")
    alert, answered = ran["shown"]
    assert alert["title"] == "Gas leak" and alert["options"]["body"] == "Leave Building 4 now."
    assert alert["options"]["tag"] == f"alert-{alert_id}" and alert["options"]["requireInteraction"] is True
    assert [a["action"] for a in alert["options"]["actions"]] == ["safe", "need_help"]
    [call] = ran["fetched"]
    assert (call["url"], call["method"], call["body"], call["status"]) == (
        item["payload"]["respond_url"], "POST", "answer=need_help&via=push", 200)
    assert call["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert answered["title"] == "Answer sent" and "need help" in answered["options"]["body"]
    assert ran["opened"] == []

    [item] = await inbox(system, opener)
    ran = await run_service_worker(item["body"], "")  # a tap on the notification's body
    assert ran["opened"] == [item["payload"]["respond_url"] + "?via=push"] and ran["fetched"] == []
    summary = await system.call("GET", f"/api/v1/alerts/{alert_id}")
    assert (summary["responses"]["need_help"], summary["responses"]["no_response"]) == (1, 1)


async def test_gone_subscriptions_are_flagged_and_never_used_again(system: System) -> None:
    await people(system, 2)
    only, older, newer = await browser(system), await browser(system), await browser(system)
    await register(system, "P00000", only)
    await register(system, "P00001", older)
    await register(system, "P00001", newer)  # a person's newest browser is the one alerted
    _, first = await send_alert(system, "First")
    assert first["deliveries"]["push"]["queued"] == 2 and len(await inbox(system, older)) == 0
    for sub in (only, newer):
        await system.call("POST", f"/sandbox/push/subscriptions/{sub['_id']}/expire", expect=200)

    second_id, second = await send_alert(system, "Second")
    assert second["deliveries"]["push"]["failed"] == 2 and second["status"] == "sent"
    failed = db(system, select(Delivery).where(Delivery.alert_id == second_id))
    assert {(d.error_code, d.tries) for d in failed} == {("410", 1)}, "gone is final: not retried"
    gone = {s.endpoint: s.gone_at is not None for s in db(system, select(PushSubscription))}
    assert gone == {only["endpoint"]: True, older["endpoint"]: False, newer["endpoint"]: True}

    third_id, third = await send_alert(system, "Third")
    assert third["skipped"]["push"] == 1 and third["deliveries"]["push"]["queued"] == 1
    assert [m["payload"]["title"] for m in await inbox(system, older)] == ["Third"]
    assert len(await inbox(system, only)) == 1 and len(await inbox(system, newer)) == 1

    revived = await register(system, "P00000", only, expect=200)  # the browser subscribed again
    assert revived["created"] is False
    assert db(system, select(PushSubscription.gone_at).where(PushSubscription.endpoint == only["endpoint"])) == [None]


async def test_an_endpoint_seen_again_is_rebound_not_duplicated(system: System) -> None:
    await people(system, 2)
    sub = await browser(system)
    first = await register(system, "P00000", sub)
    second = await register(system, "P00001", sub, expect=200)
    assert first["id"] == second["id"]
    [row] = db(system, select(PushSubscription))
    assert db(system, select(Recipient.external_id).where(Recipient.id == row.recipient_id)) == ["P00001"]
    [entry] = db(system, select(AuditEntry).where(AuditEntry.action == "push.resubscribe"))
    assert entry.details == {"subscription_id": row.id, "from_recipient_id": row.recipient_id - 1}


def _flip_y(keys: dict) -> dict:
    point = bytearray(unb64(keys["p256dh"]))
    point[-1] ^= 1  # the same x with another y: not on the curve
    return {**keys, "p256dh": b64(bytes(point))}


MALFORMED: list[tuple[str, Callable[[dict], Any], str | None]] = [
    ("ftp endpoint", lambda s: {**s, "endpoint": "ftp://push.example.com/x"}, "endpoint"),
    ("plain http elsewhere", lambda s: {**s, "endpoint": "http://push.example.com/x"}, "endpoint"),
    ("relative endpoint", lambda s: {**s, "endpoint": "/sandbox/push/send/x"}, "endpoint"),
    ("endpoint too long", lambda s: {**s, "endpoint": "https://push.example.com/" + "x" * 2048}, "endpoint"),
    ("no endpoint", lambda s: {"keys": s["keys"]}, "endpoint"),
    ("no keys", lambda s: {"endpoint": s["endpoint"]}, "keys"),
    ("p256dh not on the curve", lambda s: {**s, "keys": _flip_y(s["keys"])}, "keys.p256dh"),
    ("p256dh compressed", lambda s: {**s, "keys": {**s["keys"], "p256dh": b64(b"\x02" + b"\x01" * 32)}}, "keys.p256dh"),
    ("p256dh not base64url", lambda s: {**s, "keys": {**s["keys"], "p256dh": "not+base64/"}}, "keys.p256dh"),
    ("auth 15 bytes", lambda s: {**s, "keys": {**s["keys"], "auth": b64(b"a" * 15)}}, "keys.auth"),
    ("auth missing", lambda s: {**s, "keys": {"p256dh": s["keys"]["p256dh"]}}, "keys.auth"),
    ("not an object", lambda s: [s], None),
]


@pytest.mark.parametrize(("change", "field"), [(m[1], m[2]) for m in MALFORMED], ids=[m[0] for m in MALFORMED])
async def test_malformed_subscriptions_are_refused_naming_the_field(system: System, public, change, field) -> None:
    await people(system, 1)
    bad = change(as_json(await browser(system)))
    answer = await system.call("POST", "/api/v1/recipients/P00000/push-subscriptions", json=bad, expect=422)
    assert answer["error"].get("field") == field
    link = (await system.call("GET", "/api/v1/recipients/P00000/push-link"))["url"]
    async with public.post(f"{link}/subscriptions", json=bad) as response:
        assert response.status == 422 and (await response.json())["error"].get("field") == field
    assert db(system, select(func.count()).select_from(PushSubscription)) == [0]


async def test_forged_or_misused_page_links_are_refused(system: System, public) -> None:
    await people(system, 1)
    [person] = db(system, select(Recipient.id))
    good = system.runtime.signer.subscribe_token(person)
    forged = [LinkSigner("not-our-secret", max_age_s=3600).subscribe_token(person),
              system.runtime.signer.respond_token(1, person),  # our key, another purpose
              good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB"), "nonsense"]
    sub = as_json(await browser(system))
    for token in forged:
        async with public.get(f"{system.base_url}/p/{token}") as response:
            assert response.status == 403 and "cannot be used" in await response.text()
        async with public.post(f"{system.base_url}/p/{token}/subscriptions", json=sub) as response:
            assert response.status == 403, token
    async with public.post(f"{system.base_url}/p/{good}/subscriptions", json=sub) as response:
        assert response.status == 201
    viewer = make_token(system.runtime, "viewer")
    for method, path in (("POST", "push-subscriptions"), ("GET", "push-link")):
        async with public.request(method, f"{system.base_url}/api/v1/recipients/P00000/{path}", json=sub,
                                  headers={"Authorization": f"Bearer {viewer}"}) as response:
            assert response.status == 403


async def test_script_and_service_worker_are_served(system: System, public) -> None:
    async with public.get(f"{system.base_url}/sw.js") as response:
        assert response.status == 200 and response.content_type == "application/javascript"
        assert response.headers["Service-Worker-Allowed"] == "/"
        assert "notificationclick" in await response.text()
    async with public.get(f"{system.base_url}/static/subscribe.js") as response:
        assert response.status == 200 and response.content_type == "application/javascript"
        assert "pushManager.subscribe" in await response.text()


# -- the adapter on its own --------------------------------------------------------------


def message(sub: dict[str, Any] | None, body: str = '{"title":"t"}', key: int = 1) -> Outbound:
    if sub is None:
        return Outbound(key, "", body)
    return Outbound(key, sub["endpoint"], body, push_keys=(sub["keys"]["p256dh"], sub["keys"]["auth"]))


async def test_adapter_outcomes(system: System) -> None:
    push = WebPush(system.runtime.vapid_private_key, SUB, ttl=60)
    try:
        ok, failing, gone = await browser(system), await browser(system), await browser(system)
        accepted = await push.send(message(ok))
        assert accepted.outcome == Outcome.ACCEPTED and accepted.status == "sent"
        assert accepted.provider_message_id.startswith("PM") and accepted.provider == "webpush"
        none = await push.send(message(None))
        assert (none.outcome, none.error_code) == (Outcome.PERMANENT, "no-subscription")
        too_big = await push.send(message(ok, "x" * 5000))
        assert (too_big.outcome, too_big.error_code) == (Outcome.PERMANENT, "413")
        for status, outcome in ((500, Outcome.TRANSIENT), (503, Outcome.TRANSIENT), (429, Outcome.TRANSIENT),
                                (400, Outcome.PERMANENT), (403, Outcome.PERMANENT)):
            await system.call("POST", "/sandbox/config", json={"push": {failing["_id"]: {"fail_status": status}}},
                              expect=200)
            receipt = await push.send(message(failing))
            assert (receipt.outcome, receipt.error_code) == (outcome, str(status))
        await system.call("POST", f"/sandbox/push/subscriptions/{gone['_id']}/expire", expect=200)
        unknown = {**ok, "endpoint": ok["endpoint"].rsplit("/", 1)[0] + "/nosuchid"}
        for sub, code in ((gone, "410"), (unknown, "404")):
            receipt = await push.send(message(sub))
            assert (receipt.outcome, receipt.error_code) == (Outcome.PERMANENT, code)
        refused = await push.send(message({**ok, "endpoint": f"http://127.0.0.1:{free_port()}/push"}))
        assert (refused.outcome, refused.error_code) == (Outcome.TRANSIENT, "network")
    finally:
        await push.aclose()


async def test_claims_are_fresh_for_each_push_service(system: System) -> None:
    """pywebpush writes `aud` into the claims it is given: a shared dict would sign for the wrong origin."""
    here = await browser(system)
    there = await browser(system, base=system.base_url.replace("127.0.0.1", "localhost"))
    push = WebPush(system.runtime.vapid_private_key, SUB)
    try:
        outcomes = [(await push.send(message(sub))).outcome for sub in (here, there, here)]
    finally:
        await push.aclose()
    assert outcomes == [Outcome.ACCEPTED] * 3
    assert [len(await inbox(system, s)) for s in (here, there)] == [2, 1]


async def test_one_connection_is_reused_and_a_hung_service_times_out(aiohttp_server: Any) -> None:
    peers: list[Any] = []
    release = asyncio.Event()

    async def accept(request: web.Request) -> web.Response:
        peers.append(request.transport.get_extra_info("peername"))
        return web.Response(status=201, headers={"Location": "/m/abc"})

    async def hang(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response(status=201)

    app = web.Application()
    app.router.add_post("/ok", accept)
    app.router.add_post("/hang", hang)
    server = await aiohttp_server(app)
    keys = {"p256dh": b64(browser_point()), "auth": b64(b"0123456789abcdef")}
    push = WebPush(generate_private_key(), SUB, timeout=aiohttp.ClientTimeout(total=0.5))
    try:
        receipts = [await push.send(message({"endpoint": str(server.make_url("/ok")), "keys": keys})) for _ in range(2)]
        assert [r.provider_message_id for r in receipts] == ["abc", "abc"]
        assert len(peers) == 2 and peers[0] == peers[1], "both pushes went over one connection"
        hung = await push.send(message({"endpoint": str(server.make_url("/hang")), "keys": keys}))
        assert (hung.outcome, hung.error_code) == (Outcome.TRANSIENT, "network")
    finally:
        release.set()
        await push.aclose()


def test_adapter_refuses_bad_configuration() -> None:
    with pytest.raises(ValueError, match="private key"):
        WebPush("not a key", SUB)
    with pytest.raises(ValueError, match="subject"):
        WebPush(generate_private_key(), "the alerts team")


def test_parse_subscription_rules() -> None:
    point = browser_point()
    padded = {"endpoint": "https://fcm.googleapis.com/fcm/send/abc",
              "keys": {"p256dh": b64(point) + "=", "auth": b64(b"k" * 16) + "=="}}
    checked = parse_subscription(padded)
    assert "=" not in checked.p256dh + checked.auth and unb64(checked.p256dh) == point
    local = {**padded, "endpoint": "http://localhost:8080/push/1"}
    assert parse_subscription(local, allow_loopback_http=True).endpoint == local["endpoint"]
    with pytest.raises(Exception, match="https"):
        parse_subscription(local)
    with pytest.raises(Exception, match="credentials"):
        parse_subscription({**padded, "endpoint": "https://user:pw@push.example.com/x"})




async def test_the_page_can_share_a_last_known_location_with_consent(system: System, public) -> None:
    await people(system, 2)
    link = (await system.call("GET", "/api/v1/recipients/P00000/push-link", expect=200))["url"]
    async with public.get(link) as response:
        page = await response.text()
    assert 'type="checkbox" id="share-location"' in page and 'checked' not in page, "off unless ticked"
    async with public.post(f"{link}/location", json={"lat": 38.85, "lon": -77.05}) as response:
        assert response.status == 201
    async with public.post(f"{link}/location", json={"lat": 38.86, "lon": -77.04}) as response:
        assert response.status == 201, "a later position replaces the earlier"
    person = await system.call("GET", "/api/v1/recipients/P00000")
    assert [(loc["label"], loc["lat"]) for loc in person["locations"]] == [("last_known", 38.86)]
    area = {"circle": {"lat": 38.86, "lon": -77.04, "radius_m": 500}, "location_labels": ["last_known"]}
    reach = await system.call("POST", "/api/v1/targets/preview?list=external_id", json=area)
    assert reach["external_ids"] == ["P00000"]
    async with public.post(f"{link}/location", json={"lat": 123, "lon": 0}) as response:
        assert response.status == 422 and (await response.json())["error"]["field"] == "lat"
    async with public.post(f"{link[:-3]}xyz/location", json={"lat": 1, "lon": 1}) as response:
        assert response.status == 403
    with system.runtime.sessions() as session:
        shares = [e for e in session.scalars(select(AuditEntry)) if e.action == "location.share"]
    assert len(shares) == 2 and all("38." not in str(e.details) for e in shares), "never where"


def test_one_vapid_token_per_push_service_reused_for_a_while() -> None:
    """RFC 8292 lets a token serve many pushes: signed once per origin, renewed after VAPID_REUSE_S."""
    from channels.webpush import VAPID_EXPIRY_S, VAPID_REUSE_S

    now = [1_800_000_000.0]
    push = WebPush(generate_private_key(), SUB, clock=lambda: now[0])

    def claims(headers: dict[str, str]) -> dict[str, Any]:
        token = re.search(r"t=([^,]+)", headers["Authorization"]).group(1)
        body = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))

    first = push._vapid_headers("https://push.one.example/send/abc")
    assert push._vapid_headers("https://push.one.example/send/def") is first  # same origin: reused
    other = push._vapid_headers("https://fcm.other.example:8443/x/y")
    assert claims(other)["aud"] == "https://fcm.other.example:8443" and other is not first
    assert claims(first) == {"sub": SUB, "aud": "https://push.one.example", "exp": int(now[0]) + VAPID_EXPIRY_S}
    now[0] += VAPID_REUSE_S - 1
    assert push._vapid_headers("https://push.one.example/send/abc") is first
    now[0] += 1
    renewed = push._vapid_headers("https://push.one.example/send/abc")
    assert renewed is not first and claims(renewed)["exp"] == int(now[0]) + VAPID_EXPIRY_S
