"""The provider sandbox, driven by the official Twilio client over real sockets.

The sandbox runs on a real port (pytest-aiohttp's `aiohttp_server`), the
official `twilio.rest.Client` reaches it through `RebasedAsyncTwilioHttpClient`,
and callbacks land on a second small server standing in for Tocsin.
"""

from __future__ import annotations

import asyncio
import re
import time
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from channels.twilio_http import RebasedAsyncTwilioHttpClient, RebasedTwilioHttpClient, rebase_twilio_url
from ops.sandbox import SANDBOX_STATE, SandboxState, create_sandbox_app, create_standalone_app
from ops.sandbox.sms import count_segments
from ops.sandbox.twilio_webhooks import form_body
from ops.sandbox.twiml import TwimlError, parse_twiml_messages

from tests.sandbox_support import (  # noqa: F401 (fixtures are used by name)
    SID,
    TOKEN,
    OTHER_SID,
    OTHER_TOKEN,
    APP_NUMBER,
    PHONE,
    Sandbox,
    Received,
    Receiver,
    sandbox,
    receiver,
    twilio,
    http,
    eventually,
    configure,
    get_json,
    closed_port_url,
)

# -- pure functions -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "base", "expected"),
    [
        ("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json", "http://h:1/sandbox/twilio",
         "http://h:1/sandbox/twilio/2010-04-01/Accounts/AC1/Messages.json"),
        ("https://messaging.twilio.com/v1/Services?PageSize=5", "http://h:1/sandbox/twilio/",
         "http://h:1/sandbox/twilio/v1/Services?PageSize=5"),
        ("https://api.twilio.com/2010-04-01/x", None, "https://api.twilio.com/2010-04-01/x"),
        ("https://example.com/hook", "http://h:1/sb", "https://example.com/hook"),
        ("https://twilio.com.evil.example/x", "http://h:1/sb", "https://twilio.com.evil.example/x"),
    ],
)
def test_rebase_twilio_url(url: str, base: str | None, expected: str) -> None:
    assert rebase_twilio_url(url, base) == expected


def test_segments() -> None:
    assert count_segments("a" * 160) == 1
    assert count_segments("a" * 161) == 2
    assert count_segments("a" * 306) == 2 and count_segments("a" * 307) == 3
    assert count_segments("[" * 80) == 1 and count_segments("[" * 81) == 2  # extension chars count double
    assert count_segments("ж" * 70) == 1 and count_segments("ж" * 71) == 2
    assert count_segments("ж" * 134) == 2 and count_segments("ж" * 135) == 3


def test_twiml_parsing() -> None:
    doc = ('<?xml version="1.0"?><Response><Message>one</Message><Redirect>/x</Redirect>'
           '<Message to="+15550002222" from="+15550003333"><Body> two </Body></Message>'
           "<Message>  </Message></Response>")
    messages = parse_twiml_messages(doc)
    assert [(m.body, m.to, m.from_) for m in messages] == [
        ("one", None, None), ("two", "+15550002222", "+15550003333")]
    assert parse_twiml_messages("") == []
    with pytest.raises(TwimlError):
        parse_twiml_messages('<!DOCTYPE r [<!ENTITY a "x">]><Response><Message>&a;</Message></Response>')
    with pytest.raises(TwimlError):
        parse_twiml_messages("<Say>hi</Say>")
    with pytest.raises(TwimlError):
        parse_twiml_messages("<Response><Message>")


# -- Twilio Messages API ------------------------------------------------------------------


async def test_official_client_sends_and_inbox_records(sandbox, twilio, http) -> None:
    client = twilio()
    message = await client.messages.create_async(to=PHONE, from_=APP_NUMBER, body="Evacuate now")
    assert re.fullmatch(r"SM[0-9a-f]{32}", message.sid)
    assert message.status == "queued"
    assert (message.to, message.from_, message.body) == (PHONE, APP_NUMBER, "Evacuate now")
    assert (message.account_sid, message.api_version, message.num_segments) == (SID, "2010-04-01", "1")
    assert message.direction == "outbound-api" and message.date_created is not None

    inbox = await get_json(http, sandbox.url(f"messages?to={PHONE.replace('+', '%2B')}"))
    assert len(inbox) == 1
    item = inbox[0]
    assert {k: item[k] for k in ("to", "from", "channel", "body", "sid", "account_sid")} == {
        "to": PHONE, "from": APP_NUMBER, "channel": "sms", "body": "Evacuate now",
        "sid": message.sid, "account_sid": SID}
    assert abs(item["at"] - time.time()) < 60
    assert await get_json(http, sandbox.url("messages?to=%2B15559999999")) == []

    fetched = await client.messages(message.sid).fetch_async()
    assert fetched.sid == message.sid and fetched.body == "Evacuate now"


async def test_all_messages_oldest_first_and_messaging_service(sandbox, twilio, http) -> None:
    client = twilio()
    await client.messages.create_async(to=PHONE, from_=APP_NUMBER, body="first")
    service = "MG" + "3" * 32
    sent = await client.messages.create_async(to="+15551230002", messaging_service_sid=service, body="second")
    assert sent.messaging_service_sid == service and sent.from_ is None
    everything = await get_json(http, sandbox.url("messages"))
    assert [m["body"] for m in everything] == ["first", "second"]
    assert everything[1]["from"] == service


async def test_stats_count_accepted_calls_only(sandbox, twilio, http) -> None:
    client = twilio()
    before = time.time()
    for i in range(3):
        await client.messages.create_async(to=PHONE, from_=APP_NUMBER, body=f"m{i}")
    with pytest.raises(TwilioRestException):
        await client.messages.create_async(to="not-a-number", from_=APP_NUMBER, body="x")
    stats = await get_json(http, sandbox.url("stats"))
    sms = stats["sms"]
    assert set(sms) == {"count", "first_at", "last_at"}
    assert sms["count"] == 3
    assert before - 1 <= sms["first_at"] <= sms["last_at"] <= time.time() + 1


@pytest.mark.parametrize(
    ("kwargs", "code", "text"),
    [
        ({"to": "", "from_": APP_NUMBER, "body": "x"}, 21604, "'To' phone number is required"),
        ({"to": PHONE, "from_": APP_NUMBER}, 21602, "body is required"),
        ({"to": PHONE, "body": "x"}, 21603, "'From' phone number is required"),
        ({"to": "5551234", "from_": APP_NUMBER, "body": "x"}, 21211,
         "The 'To' number 5551234 is not a valid phone number."),
        ({"to": "+0123456789", "from_": APP_NUMBER, "body": "x"}, 21211, "not a valid phone number"),
    ],
)
async def test_validation_errors_are_twilio_errors(sandbox, twilio, http, kwargs, code, text) -> None:
    with pytest.raises(TwilioRestException) as caught:
        await twilio().messages.create_async(**kwargs)
    assert (caught.value.status, caught.value.code) == (400, code)
    assert text in caught.value.msg
    assert await get_json(http, sandbox.url("messages")) == []


async def test_unknown_message_is_404(sandbox, twilio) -> None:
    with pytest.raises(TwilioRestException) as caught:
        await twilio().messages("SM" + "0" * 32).fetch_async()
    assert (caught.value.status, caught.value.code) == (404, 20404)


async def test_authentication_required(sandbox, http) -> None:
    url = f"{sandbox.twilio_base}/2010-04-01/Accounts/{SID}/Messages.json"
    form = {"To": PHONE, "From": APP_NUMBER, "Body": "x"}
    async with http.post(url, data=form) as response:
        assert response.status == 401
        assert (await response.json())["code"] == 20003
    wrong_user = aiohttp.encode_basic_auth(OTHER_SID, TOKEN)
    async with http.post(url, data=form, headers={"Authorization": wrong_user}) as response:
        assert response.status == 401
        body = await response.json()
        assert body["code"] == 20003 and body["more_info"].endswith("/20003") and body["status"] == 401
    right = aiohttp.encode_basic_auth(SID, "any-token")
    async with http.post(url, data=form, headers={"Authorization": right}) as response:
        assert response.status == 201
    assert len(await get_json(http, sandbox.url("messages"))) == 1


async def test_sync_client_twin(sandbox) -> None:
    def send() -> str:
        http_client = RebasedTwilioHttpClient(sandbox.twilio_base)
        try:
            client = Client(SID, TOKEN, http_client=http_client)
            return client.messages.create(to=PHONE, from_=APP_NUMBER, body="sync").status
        finally:
            http_client.close()

    assert await asyncio.to_thread(send) == "queued"
    assert [m.body for m in sandbox.state.inbox(PHONE)] == ["sync"]


# -- status callbacks ---------------------------------------------------------------------


async def test_status_callbacks_in_order_and_signed(sandbox, twilio, receiver, http) -> None:
    callback = receiver.url("/twilio/status")
    message = await twilio().messages.create_async(
        to=PHONE, from_=APP_NUMBER, body="hello", status_callback=callback)
    await eventually(lambda: len(receiver.calls) >= 2)
    await asyncio.sleep(0.05)
    # As on Twilio, no callback for the initial status (`queued`, what the API answered).
    assert [c.params["MessageStatus"] for c in receiver.calls] == ["sent", "delivered"]
    for call in receiver.calls:
        assert call.url == callback
        params = call.params
        assert params["MessageSid"] == params["SmsSid"] == message.sid
        assert (params["AccountSid"], params["From"], params["To"]) == (SID, APP_NUMBER, PHONE)
        assert params["SmsStatus"] == params["MessageStatus"] and params["ApiVersion"] == "2010-04-01"
        assert RequestValidator(TOKEN).validate(call.url, params, call.signature)
        assert not RequestValidator(OTHER_TOKEN).validate(call.url, params, call.signature)
    stats = await get_json(http, sandbox.url("stats"))
    assert stats["callbacks"]["sent"] == 2 and stats["callbacks"]["failed"] == 0
    assert (await twilio().messages(message.sid).fetch_async()).status == "delivered"


async def test_callbacks_can_be_turned_off(sandbox, twilio, receiver, http) -> None:
    await configure(http, sandbox, {"callbacks": False})
    message = await twilio().messages.create_async(
        to=PHONE, from_=APP_NUMBER, body="quiet", status_callback=receiver.url("/status"))
    await eventually(lambda: sandbox.state.find(message.sid).status == "delivered")
    await asyncio.sleep(0.1)
    assert receiver.calls == []


async def test_refused_callbacks_are_counted_not_fatal(sandbox, twilio, http) -> None:
    client = twilio()
    await client.messages.create_async(to=PHONE, from_=APP_NUMBER, body="x", status_callback=closed_port_url())
    await eventually(lambda: sandbox.state.callbacks.failed >= 2)
    stats = await get_json(http, sandbox.url("stats"))
    assert stats["callbacks"]["failed"] == 2 and stats["callbacks"]["sent"] == 0
    assert (await client.messages.create_async(to=PHONE, from_=APP_NUMBER, body="still up")).status == "queued"


async def test_delivery_delay(sandbox, twilio, receiver, http) -> None:
    await configure(http, sandbox, {"delivery_delay_ms": 300})
    await twilio().messages.create_async(
        to=PHONE, from_=APP_NUMBER, body="slow", status_callback=receiver.url("/status"))
    await eventually(lambda: len(receiver.calls) >= 2)
    sent, delivered = receiver.calls
    assert (sent.params["MessageStatus"], delivered.params["MessageStatus"]) == ("sent", "delivered")
    assert delivered.at - sent.at >= 0.25


# -- phone replies ------------------------------------------------------------------------


async def test_reply_delivers_signed_webhook_and_records_twiml(sandbox, twilio, receiver, http) -> None:
    inbound = receiver.url("/twilio/inbound")
    await configure(http, sandbox, {"inbound_sms_url": inbound})
    receiver.answer = ('<?xml version="1.0" encoding="UTF-8"?><Response>'
                       "<Message>Thanks, you are marked safe.</Message></Response>")
    await twilio().messages.create_async(to=PHONE, from_=APP_NUMBER, body="Reply SAFE")

    async with http.post(sandbox.url("sms/reply"), json={"from": PHONE, "body": "SAFE"}) as response:
        assert response.status == 200
        result = await response.json()
    assert result["delivered"] is True and result["webhook_status"] == 200
    assert result["replies"] == ["Thanks, you are marked safe."]

    [call] = receiver.calls
    params = call.params
    assert call.url == inbound
    assert (params["From"], params["To"], params["Body"], params["AccountSid"]) == (PHONE, APP_NUMBER, "SAFE", SID)
    assert re.fullmatch(r"SM[0-9a-f]{32}", params["MessageSid"]) and params["SmsSid"] == params["MessageSid"]
    assert (params["NumMedia"], params["NumSegments"], params["ApiVersion"]) == ("0", "1", "2010-04-01")
    assert RequestValidator(TOKEN).validate(inbound, params, call.signature)
    assert not RequestValidator(OTHER_TOKEN).validate(inbound, params, call.signature)

    inbox = await get_json(http, sandbox.url("messages?to=%2B15551230001"))
    assert [(m["from"], m["body"]) for m in inbox] == [
        (APP_NUMBER, "Reply SAFE"), (APP_NUMBER, "Thanks, you are marked safe.")]
    assert (await get_json(http, sandbox.url("stats")))["sms"]["count"] == 1


async def test_reply_with_hostile_twiml_records_nothing(sandbox, twilio, receiver, http) -> None:
    await configure(http, sandbox, {"inbound_sms_url": receiver.url("/inbound")})
    receiver.answer = '<!DOCTYPE r [<!ENTITY a "boom">]><Response><Message>&a;</Message></Response>'
    await twilio().messages.create_async(to=PHONE, from_=APP_NUMBER, body="Reply SAFE")
    async with http.post(sandbox.url("sms/reply"), json={"from": PHONE, "body": "SAFE"}) as response:
        result = await response.json()
    assert result["replies"] == [] and "DTD" in result["twiml_error"]
    assert len(sandbox.state.inbox(PHONE)) == 1


async def test_reply_errors(sandbox, receiver, http) -> None:
    reply = sandbox.url("sms/reply")
    async with http.post(reply, json={"from": PHONE, "body": "SAFE"}) as response:
        assert response.status == 409
        assert "inbound_sms_url" in (await response.json())["error"]
    await configure(http, sandbox, {"inbound_sms_url": receiver.url("/inbound")})
    async with http.post(reply, json={"from": PHONE, "body": "SAFE"}) as response:
        assert response.status == 409
        assert "never received" in (await response.json())["error"]
    for bad in ({"from": PHONE}, {"body": "SAFE"}, {"from": PHONE, "body": ""}):
        async with http.post(reply, json=bad) as response:
            assert response.status == 400
    assert receiver.calls == []

    await configure(http, sandbox, {"default_account": {"sid": OTHER_SID, "token": OTHER_TOKEN},
                                    "default_from": APP_NUMBER})
    async with http.post(reply, json={"from": PHONE, "body": "SAFE"}) as response:
        assert response.status == 200
    [call] = receiver.calls
    assert (call.params["AccountSid"], call.params["To"]) == (OTHER_SID, APP_NUMBER)
    assert RequestValidator(OTHER_TOKEN).validate(call.url, call.params, call.signature)


# -- configured behaviour -----------------------------------------------------------------


async def test_fail_status_affects_only_that_account(sandbox, twilio, http) -> None:
    await configure(http, sandbox, {"accounts": {OTHER_SID: {"fail_status": 500}}})
    with pytest.raises(TwilioRestException) as caught:
        await twilio(OTHER_SID, OTHER_TOKEN).messages.create_async(to=PHONE, from_=APP_NUMBER, body="x")
    assert (caught.value.status, caught.value.code) == (500, 20500)
    assert (await twilio().messages.create_async(to=PHONE, from_=APP_NUMBER, body="ok")).status == "queued"
    assert [m.account_sid for m in sandbox.state.inbox(PHONE)] == [SID]


async def test_rate_limit_answers_429(sandbox, twilio, http) -> None:
    await configure(http, sandbox, {"accounts": {SID: {"rate_limit_per_s": 1}}})
    client = twilio()
    accepted, limited = 0, []
    for i in range(4):  # four calls span at most two one-second windows: two at most pass
        try:
            await client.messages.create_async(to=PHONE, from_=APP_NUMBER, body=f"m{i}")
            accepted += 1
        except TwilioRestException as exc:
            limited.append((exc.status, exc.code))
    assert 1 <= accepted <= 2
    assert limited and set(limited) == {(429, 20429)}


async def test_latency(sandbox, twilio, http) -> None:
    await configure(http, sandbox, {"latency_ms": 400, "accounts": {OTHER_SID: {"latency_ms": 0}}})
    started = time.perf_counter()
    await twilio().messages.create_async(to=PHONE, from_=APP_NUMBER, body="slow")
    assert time.perf_counter() - started >= 0.4
    started = time.perf_counter()
    await twilio(OTHER_SID, OTHER_TOKEN).messages.create_async(to=PHONE, from_=APP_NUMBER, body="fast")
    assert time.perf_counter() - started < 0.3


async def test_drop_closes_the_connection(sandbox, twilio, http) -> None:
    await configure(http, sandbox, {"accounts": {SID: {"drop": True}}})
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await twilio().messages.create_async(to=PHONE, from_=APP_NUMBER, body="lost")
    assert sandbox.state.inbox(PHONE) == []


@pytest.mark.parametrize(
    ("patch", "field_name"),
    [
        ({"latency_ms": -1}, "latency_ms"),
        ({"latency_ms": True}, "latency_ms"),
        ({"callbacks": "yes"}, "callbacks"),
        ({"delivery_delay_ms": 1.5}, "delivery_delay_ms"),
        ({"inbound_sms_url": "ftp://x"}, "inbound_sms_url"),
        ({"default_account": {"sid": SID}}, "default_account.token"),
        ({"accounts": {SID: {"fail_status": 200}}}, f"accounts.{SID}.fail_status"),
        ({"accounts": {SID: {"rate_limit_per_s": 0}}}, f"accounts.{SID}.rate_limit_per_s"),
        ({"accounts": {SID: {"explode": True}}}, f"accounts.{SID}.explode"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_bad_config_is_rejected_by_name(sandbox, http, patch, field_name) -> None:
    before = await get_json(http, sandbox.url("config"))
    async with http.post(sandbox.url("config"), json=patch) as response:
        assert response.status == 400
        body = await response.json()
    assert body["field"] == field_name and field_name.split(".")[-1] in body["error"]
    assert await get_json(http, sandbox.url("config")) == before


async def test_config_merges_and_reset(aiohttp_server, http) -> None:
    app = create_standalone_app(inbound_sms_url="http://127.0.0.1:9/inbound")
    sandbox = Sandbox(await aiohttp_server(app), app[SANDBOX_STATE])
    await configure(http, sandbox, {"latency_ms": 5, "accounts": {SID: {"fail_status": 503}}})
    config = await configure(http, sandbox, {"accounts": {SID: {"latency_ms": 1}}})
    assert config["latency_ms"] == 5 and config["inbound_sms_url"] == "http://127.0.0.1:9/inbound"
    assert config["accounts"][SID] == {"fail_status": 503, "latency_ms": 1, "rate_limit_per_s": None, "drop": False}

    await configure(http, sandbox, {"accounts": {SID: None}})
    http_client = RebasedAsyncTwilioHttpClient(sandbox.twilio_base)
    try:
        await Client(SID, TOKEN, http_client=http_client).messages.create_async(to=PHONE, from_=APP_NUMBER, body="x")
    finally:
        await http_client.close()

    async with http.post(sandbox.url("reset")) as response:
        assert response.status == 200
    assert await get_json(http, sandbox.url("messages")) == []
    assert "sms" not in await get_json(http, sandbox.url("stats"))
    assert (await get_json(http, sandbox.url("config")))["latency_ms"] == 5

    async with http.post(sandbox.url("reset"), json={"config": True}) as response:
        assert response.status == 200
    config = await get_json(http, sandbox.url("config"))
    assert config["latency_ms"] == 0 and config["inbound_sms_url"] == "http://127.0.0.1:9/inbound"


async def test_mounts_as_subapp_with_shared_state(aiohttp_server, receiver) -> None:
    state = SandboxState()
    sandbox_app = create_sandbox_app(state=state)
    assert sandbox_app[SANDBOX_STATE] is state

    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    root = web.Application()
    root.router.add_get("/health", health)
    root.add_subapp("/sandbox/", sandbox_app)
    sandbox = Sandbox(await aiohttp_server(root), state)
    http_client = RebasedAsyncTwilioHttpClient(sandbox.twilio_base)
    try:
        client = Client(SID, TOKEN, http_client=http_client)
        await client.messages.create_async(to=PHONE, from_=APP_NUMBER, body="x", status_callback=receiver.url("/s"))
    finally:
        await http_client.close()
    await eventually(lambda: len(receiver.calls) == 2)  # the subapp's callback workers run
    assert [m.body for m in state.inbox(PHONE)] == ["x"]


@given(st.dictionaries(st.text(max_size=8), st.text(max_size=12), max_size=8))
def test_callback_form_body_is_what_urlencode_gives(params: dict[str, str]) -> None:
    assert form_body(params) == urlencode(params).encode()
