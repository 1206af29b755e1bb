"""The lean HTTP/1.1 client (channels/http1.py) against servers that misbehave on purpose: keep-alive
reuse, every way a server ends an answer or a connection, the connection limit, timeouts, TLS. The
rule above all: a request whose bytes were written is never sent again."""
from __future__ import annotations

import asyncio
import datetime
import gzip
import ipaddress
import socket
import ssl
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from channels.http1 import (
    BadResponse,
    Http1Client,
    Http1Pool,
    PoolClosed,
    ServerDisconnected,
    decode_content,
    header_lines,
)

#: What a scripted server does after writing an answer: keep the connection, close it, or never answer.
KEEP, CLOSE, HANG = "keep", "close", "hang"


def answer(body: bytes = b"ok", status: int = 200, headers: str = "") -> bytes:
    return b"HTTP/1.1 %d X\r\nContent-Length: %d\r\n%s\r\n%s" % (status, len(body), headers.encode(), body)


class RawServer:
    """A TCP server that records every request's bytes and answers with `reply(index)`: the bytes to
    write (a list: written one by one, a little apart) and what to do next (KEEP, CLOSE, HANG)."""

    def __init__(self, reply: Callable[[int], tuple[bytes | list[bytes], str]] | None = None,
                 delay: float = 0.0) -> None:
        self.reply = reply or (lambda i: (answer(b"answer %d" % i), KEEP))
        self.delay = delay
        self.requests: list[bytes] = []
        self.connections = 0
        self.open_now = 0
        self.most_open = 0
        self._stop = asyncio.Event()
        self._handlers: dict[asyncio.Task, asyncio.StreamWriter] = {}

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._handlers[asyncio.current_task()] = writer  # type: ignore[index]
        self.connections += 1
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                self.requests.append(head + await reader.readexactly(length))
                data, then = self.reply(len(self.requests) - 1)
                await asyncio.sleep(self.delay)
                for piece in data if isinstance(data, list) else [data]:
                    writer.write(piece)
                    await writer.drain()
                    await asyncio.sleep(0.005)
                if then == HANG:
                    await self._stop.wait()
                if then == CLOSE:
                    return
        finally:
            self.open_now -= 1
            writer.close()

    async def __aenter__(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self._server.sockets[0].getsockname()[1]

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        self._stop.set()
        for writer in self._handlers.values():
            writer.close()
        if self._handlers:
            await asyncio.wait(self._handlers, timeout=2)
        await self._server.wait_closed()


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(400):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not reached")


async def test_keep_alive_reuses_one_connection() -> None:
    server = RawServer()
    async with server as port:
        pool = Http1Pool("http", "127.0.0.1", port)
        try:
            bodies = [(await pool.request("POST", b"/m?x=%d" % i, b"X-N: 1\r\n", b"n=%d" % i)).body for i in range(5)]
        finally:
            await pool.aclose()
    assert bodies == [b"answer %d" % i for i in range(5)]
    assert server.connections == 1 and pool.open_connections == 0
    assert server.requests[0] == (b"POST /m?x=0 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nX-N: 1\r\nContent-Length: 3\r\n\r\nn=0"
                                  % port)


async def test_a_connection_close_answer_retires_the_connection() -> None:
    # The server keeps its end open: the client must act on the header, not on a close.
    server = RawServer(lambda i: (answer(b"bye", headers="Connection: close\r\n"), KEEP))
    async with server as port:
        pool = Http1Pool("http", "127.0.0.1", port)
        try:
            first = await pool.request("POST", b"/", body=b"a")
            second = await pool.request("POST", b"/", body=b"b")
        finally:
            await pool.aclose()
    assert (first.status, first.body, second.body) == (200, b"bye", b"bye")
    assert server.connections == 2 and len(server.requests) == 2


async def test_an_idle_connection_the_server_closed_is_not_used_and_nothing_is_resent() -> None:
    server = RawServer(lambda i: (answer(), CLOSE))
    async with server as port:
        pool = Http1Pool("http", "127.0.0.1", port, limit=1)
        try:
            await pool.request("POST", b"/", body=b"one")
            await until(lambda: pool.open_connections == 0)  # the client saw the close
            await pool.request("POST", b"/", body=b"two")
        finally:
            await pool.aclose()
    assert server.connections == 2
    assert [r.rsplit(b"\r\n", 1)[1] for r in server.requests] == [b"one", b"two"]


async def test_chunked_and_read_until_close_bodies() -> None:
    chunked = [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", b"5\r\nhello\r\n", b"6\r\n world\r\n",
               b"0\r\n\r\n"]
    until_close = [b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n", b"all of ", b"it"]
    server = RawServer(lambda i: (chunked, KEEP) if i == 0 else (until_close, CLOSE))
    async with server as port:
        pool = Http1Pool("http", "127.0.0.1", port)
        try:
            first = await pool.request("GET", b"/")
            second = await pool.request("GET", b"/")
            third = await pool.request("GET", b"/")
        finally:
            await pool.aclose()
    assert (first.body, second.body, third.body) == (b"hello world", b"all of it", b"all of it")
    assert server.connections == 2  # the chunked answer kept its connection; the one read until close did not
    assert server.requests[0] == b"GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % port  # no length for GET


@pytest.mark.parametrize("encoding, encode", [
    ("gzip", gzip.compress),
    ("deflate", zlib.compress),
    ("deflate", lambda b: zlib.compress(b)[2:-4]),  # raw deflate, as some servers send it
    ("identity", lambda b: b),
])
async def test_compressed_answers_decode(encoding: str, encode: Callable[[bytes], bytes]) -> None:
    text = '{"sid": "SM1", "note": "é"}'.encode() * 20
    server = RawServer(lambda i: (answer(encode(text), headers=f"Content-Encoding: {encoding}\r\n"
                                                              "Content-Type: application/json; charset=utf-8\r\n"), KEEP))
    async with server as port:
        pool = Http1Pool("http", "127.0.0.1", port)
        try:
            response = await pool.request("POST", b"/")
        finally:
            await pool.aclose()
    assert response.header("Content-Encoding") == encoding
    assert response.decoded_body() == text
    assert response.text() == text.decode()


def test_a_body_that_does_not_match_its_encoding_is_a_bad_response() -> None:
    with pytest.raises(BadResponse, match="gzip"):
        decode_content("gzip", b"not gzip at all")
    with pytest.raises(BadResponse, match="unsupported"):
        decode_content("compress", b"x")


@pytest.mark.parametrize("data", [
    [b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", b"only part of it"],  # dies mid-body
    [b"HTTP/1.1 200 OK\r\nContent-Le"],                                        # dies mid-headers
    [],                                                                        # reads, then closes
])
async def test_a_server_dying_mid_answer_is_an_error_and_nothing_is_resent(data: list[bytes]) -> None:
    server = RawServer(lambda i: (data, CLOSE) if i == 0 else (answer(), KEEP))
    async with server as port:
        pool = Http1Pool("http", "127.0.0.1", port)
        try:
            with pytest.raises(ServerDisconnected):
                await pool.request("POST", b"/", body=b"alert")
            await asyncio.sleep(0.05)
            assert len(server.requests) == 1  # not sent again behind the caller's back
            assert pool.open_connections == 0
            assert (await pool.request("POST", b"/", body=b"next")).status == 200
        finally:
            await pool.aclose()
    assert len(server.requests) == 2


async def test_garbage_is_a_bad_response_and_the_connection_is_dropped() -> None:
    server = RawServer(lambda i: (b"SMTP ready\r\n\r\n" if i == 0 else answer(), KEEP))
    async with server as port:
        pool = Http1Pool("http", "127.0.0.1", port)
        try:
            with pytest.raises(BadResponse):
                await pool.request("POST", b"/")
            assert (await pool.request("POST", b"/")).status == 200
        finally:
            await pool.aclose()
    assert server.connections == 2 and len(server.requests) == 2


async def test_an_interim_answer_is_skipped_and_a_protocol_switch_refused() -> None:
    interim = [b"HTTP/1.1 100 Continue\r\n\r\n", answer(b"final")]
    switch = b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
    server = RawServer(lambda i: (interim, KEEP) if i == 0 else (switch, KEEP))
    async with server as port:
        pool = Http1Pool("http", "127.0.0.1", port)
        try:
            assert (await pool.request("POST", b"/")).body == b"final"
            with pytest.raises(BadResponse, match="switched"):
                await pool.request("POST", b"/")
        finally:
            await pool.aclose()


async def test_connect_refused_is_an_oserror_and_frees_the_slot() -> None:
    with socket.socket() as bound:  # bound, never listening: connections to it are refused
        bound.bind(("127.0.0.1", 0))
        pool = Http1Pool("http", "127.0.0.1", bound.getsockname()[1], limit=1)
        try:
            for _ in range(2):
                with pytest.raises(ConnectionRefusedError):
                    await pool.request("POST", b"/")
            assert pool.open_connections == 0
        finally:
            await pool.aclose()


async def test_the_whole_request_times_out_including_the_wait_for_a_connection() -> None:
    server = RawServer(lambda i: (b"", HANG))
    async with server as port:
        pool = Http1Pool("http", "127.0.0.1", port, limit=1, timeout=0.3)
        try:
            results = await asyncio.gather(pool.request("POST", b"/", body=b"a"), pool.request("POST", b"/", body=b"b"),
                                           return_exceptions=True)
            assert [type(r) for r in results] == [asyncio.TimeoutError, asyncio.TimeoutError]
            assert len(server.requests) == 1  # the second never got the connection, so never went out
            await until(lambda: pool.open_connections == 0)
        finally:
            await pool.aclose()


async def test_never_more_connections_than_the_limit_and_waiters_served_in_order() -> None:
    server = RawServer(delay=0.01)
    async with server as port:
        pool = Http1Pool("http", "127.0.0.1", port, limit=3)
        try:
            answers = await asyncio.gather(*(pool.request("POST", b"/%d" % i) for i in range(30)))
            assert pool.open_connections == 3
        finally:
            await pool.aclose()
    assert len(answers) == 30 and all(a.status == 200 for a in answers)
    assert server.connections == 3 and server.most_open == 3
    served = [int(r.split(b" ")[1][1:]) for r in server.requests]
    assert served[3:] == sorted(served[3:])  # after the first three connect, first come first served


async def test_a_cancelled_waiter_does_not_leak_its_place() -> None:
    server = RawServer(delay=0.1)
    async with server as port:
        pool = Http1Pool("http", "127.0.0.1", port, limit=1)
        try:
            first = asyncio.ensure_future(pool.request("POST", b"/1"))
            waiting = asyncio.ensure_future(pool.request("POST", b"/2"))
            await asyncio.sleep(0.02)
            waiting.cancel()
            assert (await first).status == 200
            assert (await pool.request("POST", b"/3")).status == 200
            with pytest.raises(asyncio.CancelledError):
                await waiting
            assert pool.open_connections == 1
        finally:
            await pool.aclose()
    assert [r.split(b" ")[1] for r in server.requests] == [b"/1", b"/3"]
    assert server.connections == 1


async def test_closing_the_pool_fails_requests_in_flight() -> None:
    server = RawServer(lambda i: (b"", HANG))
    async with server as port:
        pool = Http1Pool("http", "127.0.0.1", port)
        running = asyncio.ensure_future(pool.request("POST", b"/"))
        await until(lambda: len(server.requests) == 1)
        await pool.aclose()
        with pytest.raises(PoolClosed):
            await running
        with pytest.raises(PoolClosed):
            await pool.request("POST", b"/")


def _self_signed(directory: Path, names: list[str]) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.UTC)
    alt = [x509.IPAddress(ipaddress.ip_address(n)) if n[0].isdigit() else x509.DNSName(n) for n in names]
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.mark.parametrize("names, host, ok", [
    (["localhost"], "localhost", True),
    (["127.0.0.1"], "127.0.0.1", True),
    (["other.example"], "localhost", False),  # the certificate is not for this host
])
async def test_tls_against_aiohttp_with_a_self_signed_certificate(tmp_path: Path, names: list[str], host: str,
                                                                  ok: bool) -> None:
    cert, key = _self_signed(tmp_path, names)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    sni: list[str | None] = []
    server_context.sni_callback = lambda sslobj, name, context: sni.append(name)  # type: ignore[assignment,misc]

    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=f"got {await request.text()} on {request.host}")

    app = web.Application()
    app.router.add_post("/hook", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    trusting = ssl.create_default_context(cafile=str(cert))
    client = Http1Client(ssl_context=trusting)
    untrusting = Http1Client()  # the system's CAs: a self-signed certificate must fail
    try:
        if ok:
            response = await client.post_form(f"https://{host}:{port}/hook?d=1", b"a=1")
            assert response.text() == f"got a=1 on {host}:{port}"
            assert sni == ([host] if host == "localhost" else [None])  # no SNI for an IP address (RFC 6066)
        else:
            with pytest.raises(ssl.SSLCertVerificationError, match="match"):
                await client.post_form(f"https://{host}:{port}/hook", b"a=1")
        with pytest.raises(ssl.SSLCertVerificationError):
            await untrusting.post_form(f"https://{host}:{port}/hook", b"a=1")
    finally:
        await client.aclose()
        await untrusting.aclose()
        await runner.cleanup()


async def test_post_form_to_a_full_url() -> None:
    server = RawServer()
    async with server as port:
        client = Http1Client()
        try:
            response = await client.post_form(f"http://127.0.0.1:{port}/hooks/status?d=42&x=a%20b", b"MessageSid=SM1",
                                              {"X-Twilio-Signature": "abc="})
            await client.post_form(f"http://127.0.0.1:{port}/other", b"", {"Content-Type": "text/plain"})
        finally:
            await client.aclose()
    assert response.status == 200
    assert server.requests == [
        b"POST /hooks/status?d=42&x=a%%20b HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nX-Twilio-Signature: abc=\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 14\r\n\r\nMessageSid=SM1" % port,
        b"POST /other HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n" % port,
    ]
    assert server.connections == 1


async def test_bad_input_is_refused_before_anything_is_sent() -> None:
    client = Http1Client()
    try:
        for url in ("ftp://x.example/", "http:///path", "http://user:pw@x.example/", "/relative"):
            with pytest.raises(ValueError, match="url must be"):
                await client.post_form(url, b"")
        with pytest.raises(ValueError, match="cannot go in an HTTP header"):
            header_lines({"X-A": "one\r\nX-Injected: two"})
        with pytest.raises(ValueError, match="set by the client"):
            header_lines({"Content-Length": "5"})
        pool = client.pool("http", "127.0.0.1", 9)
        with pytest.raises(ValueError, match="HEAD"):
            await pool.request("HEAD", b"/")
        with pytest.raises(ValueError, match="lines"):
            await pool.request("POST", b"/", b"X-A: 1")
        for target in (b"", b"/a b", b"/a\r\nX-Injected: 1", b"http://x/"):
            with pytest.raises(ValueError, match="target"):
                await pool.request("POST", target)
    finally:
        await client.aclose()
    for scheme, host, port in (("gopher", "x", 70), ("http", "", 80), ("http", "x", 0), ("http", "a b", 80)):
        with pytest.raises(ValueError):
            Http1Pool(scheme, host, port)


async def test_the_host_header_is_the_one_aiohttp_sends() -> None:
    assert Http1Pool("https", "API.Example.org.", 443).host_header == "api.example.org"
    assert Http1Pool("http", "::1", 8080).host_header == "[::1]:8080"
    assert Http1Pool("http", "127.0.0.1", 80).host_header == "127.0.0.1"


@settings(max_examples=300, deadline=None)
@given(path=st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20),
       query=st.text(alphabet=st.characters(codec="ascii"), max_size=30))
def test_a_callback_url_goes_where_yarl_says(path: str, query: str) -> None:
    """The cached route of a URL (base parsed once, a plain query appended) is yarl's, byte for byte."""
    from yarl import URL
    from channels.http1 import Http1Client
    url = "http://127.0.0.1:8080/" + path.replace("?", "").replace("#", "") + "?" + query
    try:
        parsed = URL(url)
    except ValueError:
        return
    client = Http1Client()
    pool, target = client._route(url)
    expected = (parsed.raw_path or "/") + (f"?{parsed.raw_query_string}" if parsed.raw_query_string else "")
    assert target == expected.encode("ascii")
    assert pool is client.pool("http", "127.0.0.1", 8080)


async def test_the_pool_grows_only_when_requests_wait_for_a_connection() -> None:
    """A provider answering at once is served by a few connections; one taking 50 ms gets as many
    connections as requests in flight, up to the limit (every connection costs both ends CPU)."""
    from channels.http1 import OPEN_AT_ONCE
    connections = 0

    class Answer(asyncio.Protocol):  # answers each request the moment it arrives
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            nonlocal connections
            connections += 1
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            for _ in range(data.count(b"\r\n\r\n")):
                self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")  # type: ignore[attr-defined]

    server = await asyncio.get_running_loop().create_server(Answer, "127.0.0.1", 0)
    pool = Http1Pool("http", "127.0.0.1", server.sockets[0].getsockname()[1], limit=200)
    try:
        for _ in range(3):
            answers = await asyncio.gather(*(pool.request("POST", b"/%d" % i) for i in range(200)))
            assert all(a.status == 200 and a.body == b"ok" for a in answers)
    finally:
        await pool.aclose()
        server.close()
    assert OPEN_AT_ONCE <= connections < 100
    slow = RawServer(delay=0.05)
    async with slow as port:
        pool = Http1Pool("http", "127.0.0.1", port, limit=40)
        try:
            answers = await asyncio.gather(*(pool.request("POST", b"/%d" % i) for i in range(80)))
            assert all(a.status == 200 for a in answers) and pool.open_connections == 40
        finally:
            await pool.aclose()
    assert slow.connections == 40
