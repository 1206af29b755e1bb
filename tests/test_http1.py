"""The lean HTTP/1.1 client (channels/http1.py) against servers that misbehave on purpose: keep-alive
reuse, every way a server ends an answer or a connection, the connection limit, timeouts, TLS. The
rule above all: a request whose bytes were written is never sent again."""
from __future__ import annotations

import asyncio
import gzip
import socket
import zlib
from collections.abc import Callable

import pytest

from channels.http1 import (
    BadResponse,
    Http1Pool,
    PoolClosed,
    ServerDisconnected,
)
from channels.http1_response import decode_content

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


async def test_the_host_header_is_the_one_aiohttp_sends() -> None:
    assert Http1Pool("https", "API.Example.org.", 443).host_header == "api.example.org"
    assert Http1Pool("http", "::1", 8080).host_header == "[::1]:8080"
    assert Http1Pool("http", "127.0.0.1", 80).host_header == "127.0.0.1"


async def test_the_pool_grows_only_when_requests_wait_for_a_connection() -> None:
    """A provider answering at once is served by a few connections; one taking 50 ms gets, within
    a few round trips, as many connections as requests in flight, up to the limit (every
    connection costs both ends CPU: channels/http1_sizing.py)."""
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
        for _ in range(5):
            answers = await asyncio.gather(*(pool.request("POST", b"/%d" % i) for i in range(200)))
            assert all(a.status == 200 and a.body == b"ok" for a in answers)
    finally:
        await pool.aclose()
        server.close()
    assert OPEN_AT_ONCE <= connections <= 2 * OPEN_AT_ONCE
    slow = RawServer(delay=0.05)
    async with slow as port:
        pool = Http1Pool("http", "127.0.0.1", port, limit=40)
        try:
            for _ in range(5):
                answers = await asyncio.gather(*(pool.request("POST", b"/%d" % i) for i in range(80)))
                assert all(a.status == 200 for a in answers)
            assert pool.open_connections == 40
        finally:
            await pool.aclose()
    assert slow.connections == 40
