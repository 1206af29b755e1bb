"""The sandbox's fake Web Push service, driven by pywebpush with py_vapid keys over real sockets.

The sandbox plays the browser (it makes the subscription keys) and the push
service (it checks VAPID and decrypts), so what an app pushes can be read back
from the inbox of `push:<id>`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid
from pywebpush import WebPusher, WebPushException, webpush, webpush_async

from ops.sandbox import SANDBOX_STATE, create_standalone_app
from ops.sandbox.vapid import VapidError, origin, verify_vapid

SUB = "mailto:alerts@tocsin.example.org"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def raw_public(vapid: Vapid) -> bytes:
    return vapid.public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def new_vapid(**conf: object) -> Vapid:
    vapid = Vapid(conf=conf or None)
    vapid.generate_keys()
    return vapid


@pytest.fixture
async def server(aiohttp_server) -> TestServer:
    return await aiohttp_server(create_standalone_app())


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def vapid() -> Vapid:
    return new_vapid()


def url(server: TestServer, path: str) -> str:
    return str(server.make_url(f"/sandbox/{path}"))


async def subscribe(http: aiohttp.ClientSession, server: TestServer, query: str = "", **payload: object) -> dict:
    async with http.post(url(server, "push/subscriptions") + query, json=payload) as response:
        assert response.status == 201, await response.text()
        subscription = await response.json()
        subscription["_id"] = response.headers["X-Sandbox-Push-Id"]
        subscription["_address"] = response.headers["X-Sandbox-Address"]
        return subscription


def browser_info(subscription: dict) -> dict:
    return {key: subscription[key] for key in ("endpoint", "expirationTime", "keys")}


async def inbox(http: aiohttp.ClientSession, server: TestServer, address: str) -> list[dict]:
    async with http.get(url(server, "messages"), params={"to": address}) as response:
        assert response.status == 200
        return await response.json()


async def push(http: aiohttp.ClientSession, subscription: dict, data: str, vapid: Vapid, **claims: object) -> int:
    """pywebpush's async one-call API, with a fresh claims dict (it writes aud and exp into it)."""
    response = await webpush_async(browser_info(subscription), data=data, vapid_private_key=vapid,
                                   vapid_claims={"sub": SUB, **claims}, ttl=60, aiohttp_session=http)
    return response.status


async def push_signed(http: aiohttp.ClientSession, subscription: dict, headers: dict[str, str],
                      data: str = "hello") -> tuple[int, str]:
    """Post with hand-made VAPID headers: WebPusher leaves them as they are."""
    pusher = WebPusher(browser_info(subscription), aiohttp_session=http)
    response = await pusher.send_async(data, headers, ttl=30)
    return response.status, await response.text()


# -- subscriptions ------------------------------------------------------------------------


async def test_subscription_is_what_a_browser_gives(server, http) -> None:
    subscription = await subscribe(http, server, label="Alice's laptop")
    info = browser_info(subscription)
    assert set(subscription) - {"_id", "_address"} == {"endpoint", "expirationTime", "keys"}
    assert info["endpoint"] == str(server.make_url(f"/sandbox/push/send/{subscription['_id']}"))
    assert info["expirationTime"] is None
    point, secret = unb64(info["keys"]["p256dh"]), unb64(info["keys"]["auth"])
    assert len(point) == 65 and point[0] == 4 and len(secret) == 16
    assert "=" not in info["keys"]["p256dh"] + info["keys"]["auth"]
    assert subscription["_address"] == f"push:{subscription['_id']}"
    async with http.get(url(server, f"push/subscriptions/{subscription['_id']}")) as response:
        view = await response.json()
    assert view["label"] == "Alice's laptop" and view["subscription"] == info and view["expired"] is False
    other = await subscribe(http, server)
    assert other["keys"] != info["keys"] and other["_id"] != subscription["_id"]


async def test_endpoint_base_can_be_overridden(server, http) -> None:
    by_query = await subscribe(http, server, "?base=https://push.example.test/")
    assert by_query["endpoint"] == f"https://push.example.test/sandbox/push/send/{by_query['_id']}"
    async with http.post(url(server, "config"), json={"push_base_url": "https://demo.example.test:8443"}) as r:
        assert r.status == 200
    by_config = await subscribe(http, server)
    assert by_config["endpoint"].startswith("https://demo.example.test:8443/sandbox/push/send/")
    async with http.post(url(server, "push/subscriptions") + "?base=ftp://x") as response:
        assert response.status == 400


# -- pushing ------------------------------------------------------------------------------


async def test_webpush_async_is_decrypted_into_the_inbox(server, http, vapid) -> None:
    subscription = await subscribe(http, server)
    payload = {"title": "Campus alert", "body": "Shelter in place", "url": "https://tocsin.example/a/1"}
    before = time.time()
    assert await push(http, subscription, json.dumps(payload), vapid) == 201
    [item] = await inbox(http, server, subscription["_address"])
    assert (item["channel"], item["to"], item["from"]) == ("push", subscription["_address"], SUB)
    assert json.loads(item["body"]) == payload and item["payload"] == payload
    assert item["ttl"] == 60 and item["vapid_key"] == b64(raw_public(vapid))
    async with http.get(url(server, "stats")) as response:
        stats = (await response.json())["push"]
    assert stats["count"] == 1 and stats["first_at"] >= before - 1


async def test_location_and_plain_text_payload(server, http, vapid) -> None:
    subscription = await subscribe(http, server)
    response = await webpush_async(browser_info(subscription), data="plain words", vapid_private_key=vapid,
                                   vapid_claims={"sub": SUB}, ttl=0, aiohttp_session=http)
    assert response.status == 201 and response.headers["TTL"] == "0"
    async with http.get(response.headers["Location"]) as located:
        message = await located.json()
    assert message["body"] == "plain words" and message["payload"] is None


async def test_blocking_webpush_works_too(server, http, vapid) -> None:
    subscription = await subscribe(http, server)
    response = await asyncio.to_thread(webpush, browser_info(subscription), data="sync",
                                       vapid_private_key=vapid, vapid_claims={"sub": SUB})
    assert response.status_code == 201
    assert [m["body"] for m in await inbox(http, server, subscription["_address"])] == ["sync"]


def vapid_headers(vapid: Vapid, **claims: object) -> dict[str, str]:
    return vapid.sign({"sub": SUB, **claims})


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"aud": "https://push.other.example", "exp": "in 1h"}, "aud"),
        ({"exp": "1 min ago"}, "expired"),
        ({"exp": "in 25h"}, "24 hours"),
    ],
)
async def test_bad_vapid_claims_are_refused(server, http, vapid, claims, reason) -> None:
    subscription = await subscribe(http, server)
    now = int(time.time())
    exp = {"in 1h": now + 3600, "1 min ago": now - 60, "in 25h": now + 25 * 3600}[claims.pop("exp")]
    claims.setdefault("aud", origin(subscription["endpoint"]))
    status, text = await push_signed(http, subscription, vapid_headers(vapid, exp=exp, **claims))
    assert status == 401 and reason in text
    assert await inbox(http, server, subscription["_address"]) == []


async def test_wrong_audience_through_webpush(server, http, vapid) -> None:
    subscription = await subscribe(http, server)
    with pytest.raises(WebPushException) as caught:
        await push(http, subscription, "x", vapid, aud="https://fcm.googleapis.com")
    assert caught.value.status_code == 401 and "aud" in caught.value.message


async def test_signature_must_match_key(server, http, vapid) -> None:
    subscription = await subscribe(http, server)
    headers = vapid_headers(vapid, aud=origin(subscription["endpoint"]), exp=int(time.time()) + 600)
    token = headers["Authorization"].split("t=")[1].split(",")[0]
    impostor = b64(raw_public(new_vapid()))
    status, text = await push_signed(http, subscription, {"Authorization": f"vapid t={token}, k={impostor}"})
    assert status == 401 and "signature" in text
    status, text = await push_signed(http, subscription, {})
    assert status == 401 and "missing Authorization" in text
    status, text = await push_signed(http, subscription, {"Authorization": f"WebPush {token}"})
    assert status == 401 and "scheme" in text


async def test_sub_must_be_mailto_or_https(server, http) -> None:
    subscription = await subscribe(http, server)
    lax = new_vapid(**{"no-strict": True})  # py_vapid itself would refuse this sub
    headers = lax.sign({"sub": "alerts team", "aud": origin(subscription["endpoint"]), "exp": int(time.time()) + 60})
    status, text = await push_signed(http, subscription, headers)
    assert status == 401 and "sub" in text


async def test_restricted_subscription_takes_only_its_key(server, http, vapid) -> None:
    subscription = await subscribe(http, server, application_server_key=b64(raw_public(vapid)))
    assert await push(http, subscription, "mine", vapid) == 201
    with pytest.raises(WebPushException) as caught:
        await push(http, subscription, "theirs", new_vapid())
    assert caught.value.status_code == 403
    async with http.post(url(server, "push/subscriptions"), json={"application_server_key": "nope"}) as response:
        assert response.status == 400


async def test_expired_unknown_and_oversized(server, http, vapid) -> None:
    subscription = await subscribe(http, server)
    assert await push(http, subscription, "a" * 3900, vapid) == 201  # 3,900 + 103 bytes of overhead fit
    with pytest.raises(WebPushException) as caught:
        await push(http, subscription, "a" * 4000, vapid)
    assert caught.value.status_code == 413

    async with http.post(url(server, f"push/subscriptions/{subscription['_id']}/expire")) as response:
        assert response.status == 200 and (await response.json())["expired"] is True
    with pytest.raises(WebPushException) as caught:
        await push(http, subscription, "gone?", vapid)
    assert caught.value.status_code == 410

    unknown = {**subscription, "endpoint": subscription["endpoint"].rsplit("/", 1)[0] + "/nosuchid"}
    with pytest.raises(WebPushException) as caught:
        await push(http, unknown, "who?", vapid)
    assert caught.value.status_code == 404
    assert len(await inbox(http, server, subscription["_address"])) == 1


async def test_protocol_errors(server, http, vapid) -> None:
    subscription = await subscribe(http, server)
    auth = vapid_headers(vapid, aud=origin(subscription["endpoint"]), exp=int(time.time()) + 600)
    async with http.post(subscription["endpoint"], data=b"x" * 100,
                         headers={**auth, "Content-Encoding": "aes128gcm"}) as response:
        assert response.status == 400 and "TTL" in await response.text()
    async with http.post(subscription["endpoint"], data=b"x" * 100,
                         headers={**auth, "TTL": "60", "Content-Encoding": "aes128gcm"}) as response:
        assert response.status == 400 and "decrypt" in await response.text()
    async with http.post(subscription["endpoint"], headers={**auth, "TTL": "60", "Urgency": "now"}) as response:
        assert response.status == 400 and "Urgency" in await response.text()
    with pytest.raises(WebPushException) as caught:
        await webpush_async(browser_info(subscription), data="old", vapid_private_key=vapid,
                            vapid_claims={"sub": SUB}, content_encoding="aesgcm", aiohttp_session=http)
    assert caught.value.status_code == 400 and "aes128gcm" in caught.value.message
    # A push without payload is legal (RFC 8030): recorded with an empty body.
    async with http.post(subscription["endpoint"], headers={**auth, "TTL": "5", "Urgency": "high"}) as response:
        assert response.status == 201
    [item] = await inbox(http, server, subscription["_address"])
    assert item["body"] == "" and item["urgency"] == "high"


async def test_configured_failure_per_subscription(server, http, vapid) -> None:
    failing, fine = await subscribe(http, server), await subscribe(http, server)
    async with http.post(url(server, "config"), json={"push": {failing["_id"]: {"fail_status": 500}}}) as r:
        assert r.status == 200
    with pytest.raises(WebPushException) as caught:
        await push(http, failing, "x", vapid)
    assert caught.value.status_code == 500
    assert await push(http, fine, "y", vapid) == 201
    async with http.post(url(server, "config"), json={"push": {failing["_id"]: None}}) as r:
        assert r.status == 200
    assert await push(http, failing, "z", vapid) == 201
    async with http.post(url(server, "config"), json={"push": {failing["_id"]: {"fail_status": 200}}}) as r:
        assert r.status == 400 and (await r.json())["field"] == f"push.{failing['_id']}.fail_status"


async def test_audience_is_the_subscription_origin(server, http, vapid) -> None:
    """Behind a proxy the endpoint's public origin differs from the socket's: aud follows the endpoint."""
    subscription = await subscribe(http, server, "?base=https://push.example.test")
    local = str(server.make_url(f"/sandbox/push/send/{subscription['_id']}"))
    reached = {**subscription, "endpoint": local}
    good = vapid_headers(vapid, aud="https://push.example.test", exp=int(time.time()) + 600)
    assert (await push_signed(http, reached, good))[0] == 201
    wrong = vapid_headers(vapid, aud=origin(local), exp=int(time.time()) + 600)
    assert (await push_signed(http, reached, wrong))[0] == 401


async def test_reset_keeps_subscriptions_unless_asked(server, http, vapid) -> None:
    subscription = await subscribe(http, server)
    async with http.post(url(server, "reset")) as response:
        assert response.status == 200
    assert await push(http, subscription, "still there", vapid) == 201
    async with http.post(url(server, "reset"), json={"push": True}) as response:
        assert (await response.json())["push"] is True
    with pytest.raises(WebPushException) as caught:
        await push(http, subscription, "gone", vapid)
    assert caught.value.status_code == 404
    assert server.app[SANDBOX_STATE].recent() == []


def test_verify_vapid_directly() -> None:
    vapid = new_vapid()
    now = time.time()
    header = vapid.sign({"sub": SUB, "aud": "http://127.0.0.1:8080", "exp": int(now) + 60})["Authorization"]
    identity = verify_vapid(header, "http://127.0.0.1:8080/sandbox/push/send/x", now)
    assert identity.subject == SUB and identity.public_key == raw_public(vapid)
    assert verify_vapid(header.replace(",", ", "), "HTTP://127.0.0.1:8080/y", now).subject == SUB
    for audience in ("http://127.0.0.1:8081/x", "https://127.0.0.1:8080/x"):
        with pytest.raises(VapidError) as caught:
            verify_vapid(header, audience, now)
        assert caught.value.status == 401
    with pytest.raises(VapidError):
        verify_vapid(header, "http://127.0.0.1:8080/x", now + 120)  # later: expired
    assert origin("https://Example.org:443/a") == "https://example.org"


def test_a_verified_token_is_remembered_and_its_claims_still_checked() -> None:
    """A sender reuses one token for many pushes: its signature is checked once, aud/exp every time."""
    vapid, other = new_vapid(), new_vapid()
    now = time.time()
    header = vapid.sign({"sub": SUB, "aud": "http://127.0.0.1:8080", "exp": int(now) + 60})["Authorization"]
    verified: dict = {}
    for _ in range(2):
        assert verify_vapid(header, "http://127.0.0.1:8080/x", now, verified=verified).subject == SUB
    assert len(verified) == 1
    for audience, at, restricted in (("http://127.0.0.1:8081/x", now, None), ("http://127.0.0.1:8080/x", now + 120, None),
                                     ("http://127.0.0.1:8080/x", now, raw_public(other))):
        with pytest.raises(VapidError):
            verify_vapid(header, audience, at, restricted_to=restricted, verified=verified)
    forged = header.replace("k=", "k=" + header.split("k=")[1][:4])  # another key: not the remembered pair
    with pytest.raises(VapidError):
        verify_vapid(forged, "http://127.0.0.1:8080/x", now, verified=verified)
    assert len(verified) == 1
