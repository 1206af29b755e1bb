"""The lean SMS path sends, byte for byte, what the official twilio client sends, and reads its
answers the same way (receipts for success, Twilio errors, garbage)."""
from __future__ import annotations

import asyncio
import gzip
import json
import zlib

import aiohttp
import pytest
from twilio.rest import Client

from channels.base import Outbound, Outcome
from channels.http1 import PoolClosed
from channels.twilio_http import RebasedAsyncTwilioHttpClient
from channels.twilio_lean import LeanMessages
from channels.twilio_sms import TwilioSms

SID, TOKEN = "AC" + "0" * 32, "secret-token"
OK = json.dumps({"sid": "SM" + "1" * 32, "status": "queued", "error_code": None, "body": "x"}).encode()


class RawServer:
    """A TCP server that keeps the raw bytes of each HTTP request and answers `answer` (status, body)."""

    def __init__(self) -> None:
        self.requests: list[bytes] = []
        self.answer: tuple[int, bytes] = (201, OK)
        self.answer_headers = b""

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:  # the client closed its connection
                break
            length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            self.requests.append(head + await reader.readexactly(length))
            status, body = self.answer
            writer.write(b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\n%sContent-Length: %d\r\n\r\n%s"
                         % (status, self.answer_headers, len(body), body))
            await writer.drain()
        writer.close()

    async def __aenter__(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/sandbox/twilio"

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()


MESSAGES = [
    {"to": "+15551230001", "from_": "+15005550006", "body": "Shelter in place: é & = + ?"},
    {"to": "+15551230002", "messaging_service_sid": "MG" + "2" * 32, "body": "Line one\nline two",
     "status_callback": "https://tocsin.example.org/hooks/twilio/status?d=42&x=a b"},
    {"to": "+15551230003", "from_": "+15005550006", "body": "x" * 300,
     "status_callback": "http://127.0.0.1:8080/hooks/twilio/status?d=7"},
]


@pytest.mark.parametrize("kwargs", MESSAGES)
async def test_lean_requests_are_the_official_clients_byte_for_byte(kwargs: dict) -> None:
    server = RawServer()
    async with server as base:
        http = RebasedAsyncTwilioHttpClient(base)
        client = Client(SID, TOKEN, http_client=http)
        try:
            official = await client.messages.create_async(**kwargs)
            lean = await LeanMessages(client, http).create(**kwargs)
        finally:
            await http.close()
    assert len(server.requests) == 2
    assert server.requests[0] == server.requests[1]  # the whole head (every header, in order) and the body
    head = server.requests[0].split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    assert head[0] == f"POST /sandbox/twilio/2010-04-01/Accounts/{SID}/Messages.json HTTP/1.1".encode()
    names = [line.split(b":", 1)[0] for line in head[1:]]
    assert names == [b"Host", b"Content-Type", b"Accept", b"User-Agent", b"X-Twilio-Client", b"Accept-Charset",
                     b"Authorization", b"Accept-Encoding", b"Content-Length"]
    assert (lean.sid, lean.status) == (official.sid, official.status)


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_lean_reads_compressed_answers_as_the_official_client_does(encoding: str) -> None:
    compress = gzip.compress if encoding == "gzip" else zlib.compress
    server = RawServer()
    server.answer = (201, compress(OK))
    server.answer_headers = f"Content-Encoding: {encoding}\r\n".encode()
    async with server as base:
        http = RebasedAsyncTwilioHttpClient(base)
        client = Client(SID, TOKEN, http_client=http)
        try:
            official = await client.messages.create_async(**MESSAGES[0])
            lean = await LeanMessages(client, http).create(**MESSAGES[0])
        finally:
            await http.close()
    assert lean.sid == official.sid == "SM" + "1" * 32
    assert lean.status == official.status == "queued"


async def test_lean_pool_has_the_sessions_limit_and_closes_with_the_client() -> None:
    server = RawServer()
    async with server as base:
        http = RebasedAsyncTwilioHttpClient(base, max_connections=7, timeout=12.0)
        lean = LeanMessages.for_client(Client(SID, TOKEN, http_client=http))
        assert lean is not None
        assert (lean._pool.limit, lean._pool.timeout) == (7, 12.0)
        await lean.create(**MESSAGES[0])
        assert lean._pool.open_connections == 1
        await http.close()
        assert lean._pool.open_connections == 0
        with pytest.raises(PoolClosed):
            await lean.create(**MESSAGES[0])


@pytest.mark.parametrize("answer, outcome, code", [
    ((201, OK), Outcome.ACCEPTED, None),
    ((400, json.dumps({"code": 21211, "message": "bad To", "status": 400}).encode()), Outcome.PERMANENT, "21211"),
    ((429, json.dumps({"code": 20429, "message": "Too Many Requests", "status": 429}).encode()), Outcome.TRANSIENT, "20429"),
    ((503, b"<html>down</html>"), Outcome.TRANSIENT, "503"),
    ((201, b"{not json"), Outcome.TRANSIENT, "bad-response"),
    ((201, b"{}"), Outcome.TRANSIENT, "bad-response"),
])
async def test_lean_and_official_receipts_agree(answer: tuple[int, bytes], outcome: Outcome, code: str | None) -> None:
    server = RawServer()
    server.answer = answer
    message = Outbound(key=1, to="+15551230001", body="hello", status_callback="http://127.0.0.1/cb?d=1")
    async with server as base:
        receipts = []
        for lean in (True, False):
            http = RebasedAsyncTwilioHttpClient(base)
            adapter = TwilioSms(Client(SID, TOKEN, http_client=http), "+15005550006", lean=lean)
            assert (adapter._lean is not None) is lean
            try:
                receipts.append(await adapter.send(message))
            finally:
                await adapter.aclose()
    lean_receipt, official_receipt = receipts
    assert lean_receipt.outcome == official_receipt.outcome == outcome
    assert lean_receipt.error_code == official_receipt.error_code == code
    assert lean_receipt.provider_message_id == official_receipt.provider_message_id
    assert lean_receipt.error_message == official_receipt.error_message


async def test_the_lean_path_steps_aside_for_clients_it_cannot_mirror() -> None:
    class Recording(RebasedAsyncTwilioHttpClient):
        async def request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            return await super().request(*args, **kwargs)

    http, custom = RebasedAsyncTwilioHttpClient("http://127.0.0.1:9"), Recording("http://127.0.0.1:9")
    try:
        assert LeanMessages.for_client(Client(SID, TOKEN, http_client=http)) is not None
        assert LeanMessages.for_client(Client(SID, TOKEN, http_client=custom)) is None
        assert LeanMessages.for_client(Client(SID, TOKEN, http_client=http, edge="sydney")) is None
        # Settings the official path (aiohttp) would honour and the lean pool would not.
        http.proxy_url = "http://proxy.invalid:3128"
        assert LeanMessages.for_client(Client(SID, TOKEN, http_client=http)) is None
        http.proxy_url = None
        http.session.headers["X-Extra"] = "1"
        assert LeanMessages.for_client(Client(SID, TOKEN, http_client=http)) is None
        del http.session.headers["X-Extra"]
        own, http.session = http.session, aiohttp.ClientSession(trust_env=True)
        try:
            assert LeanMessages.for_client(Client(SID, TOKEN, http_client=http)) is None
        finally:
            await http.session.close()
            http.session = own
        assert LeanMessages.for_client(Client(SID, TOKEN, http_client=http)) is not None
    finally:
        await http.close()
        await custom.close()


def test_form_quote_is_quote_plus() -> None:
    from urllib.parse import quote_plus

    from channels.twilio_lean import form_quote
    samples = ["".join(map(chr, range(128))), "+15551230001", "https://x.example/cb?d=1&a=b c", "é ü 日本 🚨", ""]
    for text in samples:
        assert form_quote(text) == quote_plus(text)
