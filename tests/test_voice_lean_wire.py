"""The lean Calls path sends, byte for byte, what the official twilio client sends, and turns its
answers into the same receipts (calls placed, Twilio errors, garbage)."""
from __future__ import annotations

import json

import pytest
from twilio.rest import Client

from channels.base import Outbound, Outcome
from channels.twilio_http import RebasedAsyncTwilioHttpClient
from channels.twilio_lean_calls import LeanCalls
from channels.twilio_voice import TwilioVoice
from tests.test_bench_lean_wire import RawServer

SID, TOKEN = "AC" + "0" * 32, "secret-token"
CALL = json.dumps({"sid": "CA" + "1" * 32, "status": "queued", "to": "+15551230001",
                   "date_created": "Mon, 23 Nov 2026 18:00:00 +0000"}).encode()
MESSAGES = [
    Outbound(key=1, to="+15551230001", body="", twiml_url="https://tocsin.example.org/hooks/twilio/voice?d=1",
             status_callback="https://tocsin.example.org/hooks/twilio/call-status?d=1&x=a b"),
    Outbound(key=2, to="+15551230002", body="", twiml_url="http://127.0.0.1:8080/hooks/twilio/voice?d=2"),
]


async def send_both(server: RawServer, base: str, message: Outbound) -> list:
    receipts = []
    for lean in (True, False):
        http = RebasedAsyncTwilioHttpClient(base)
        adapter = TwilioVoice(Client(SID, TOKEN, http_client=http), "+15005550006", lean=lean)
        assert (adapter._lean is not None) is lean
        try:
            receipts.append(await adapter.send(message))
        finally:
            await adapter.aclose()
    return receipts


@pytest.mark.parametrize("message", MESSAGES)
async def test_lean_calls_are_the_official_clients_byte_for_byte(message: Outbound) -> None:
    server = RawServer()
    server.answer = (201, CALL)
    async with server as base:
        lean, official = await send_both(server, base, message)
    assert len(server.requests) == 2
    assert server.requests[0] == server.requests[1]  # the whole head (every header, in order) and the body
    head = server.requests[0].split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    assert head[0] == f"POST /sandbox/twilio/2010-04-01/Accounts/{SID}/Calls.json HTTP/1.1".encode()
    assert lean == official and lean.provider_message_id == "CA" + "1" * 32 and lean.status == "queued"


@pytest.mark.parametrize("answer, outcome, code", [
    ((400, json.dumps({"code": 21211, "message": "bad To", "status": 400}).encode()), Outcome.PERMANENT, "21211"),
    ((429, json.dumps({"code": 20429, "message": "Too Many Requests", "status": 429}).encode()), Outcome.TRANSIENT, "20429"),
    ((503, b"<html>down</html>"), Outcome.TRANSIENT, "503"),
    ((201, b"{not json"), Outcome.TRANSIENT, "bad-response"),
    ((201, b"{}"), Outcome.TRANSIENT, "bad-response"),
])
async def test_lean_and_official_receipts_agree(answer: tuple[int, bytes], outcome: Outcome, code: str) -> None:
    server = RawServer()
    server.answer = answer
    async with server as base:
        lean, official = await send_both(server, base, MESSAGES[0])
    assert lean.outcome == official.outcome == outcome
    assert lean.error_code == official.error_code == code
    assert lean.error_message == official.error_message and lean.provider_message_id == official.provider_message_id


async def test_the_lean_path_steps_aside_for_clients_it_cannot_mirror() -> None:
    http = RebasedAsyncTwilioHttpClient("http://127.0.0.1:9")
    try:
        assert LeanCalls.for_client(Client(SID, TOKEN, http_client=http)) is not None
        assert LeanCalls.for_client(Client(SID, TOKEN, http_client=http, edge="sydney")) is None
        http.proxy_url = "http://proxy.invalid:3128"
        assert LeanCalls.for_client(Client(SID, TOKEN, http_client=http)) is None
    finally:
        await http.close()
