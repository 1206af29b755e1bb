"""A small keep-alive HTTP/1.1 client for hot paths that post many small requests to few hosts.

Why it exists: the SMS hot path hands 100,000 messages to one Twilio-compatible API, and a profile of
a worker showed ~40% of its CPU per message inside aiohttp's client machinery (building a
`ClientRequest`, auto headers, the payload registry, `ClientResponse`), not in the network.
Here a request is bytes the caller prepared once (request line, headers, body), written to a pooled
connection; the answer is parsed by llhttp through `httptools` (the parser uvicorn uses), which
handles Content-Length, chunked and read-until-close bodies. Measured: CPU per `LeanMessages.create`
(`time.process_time()` in the client process only, against a bare aiohttp server in another
process, 100 in flight, rounds of 10,000-20,000 messages on 2 cores shared with other work) went
from 93-214 µs (typically 110-150) through aiohttp's session to 21-77 µs (typically 28-42, the low
end on uvloop, which the workers run) through this client: about 3.5x less. Of what remains, the
pool's own share is ~6 µs (see `_time_out`); the rest is mostly the kernel's send/recv, the event
loop and JSON.

What it does: one pool per origin (scheme, host, port) with at most `limit` open connections, and
only as many as the provider's pace makes worth having (`channels/http1_sizing.py`): callers beyond
that queue and are served first come, first served; keep-alive reuse; a
`Connection: close` answer, an HTTP/1.0 answer or a peer that closed retires the connection; TLS with
`ssl.create_default_context()` (certificate and host name checked, SNI sent) for https; a connect
timeout and a whole-request timeout that covers waiting for a connection too (once a request is
written, one timer per pool checks the deadlines: a timeout fires up to a tenth of itself late, at
most a second).

What it never does: send a request twice. Once any byte of a request was written, a failure is the
caller's to judge (an emergency message must not go out twice behind its back); only an idle
connection already known closed is skipped before writing. No redirects, no cookies, no proxies, no
`Expect: 100-continue`, no HEAD (llhttp would wait for a body that never comes).

Errors, all raised from `Http1Pool.request` (and `channels.http1_client.Http1Client`, which posts
to full URLs through pools by origin)::

    OSError
     ├── ConnectionError
     │    ├── ServerDisconnected   the peer closed (or reset) before the whole answer arrived
     │    └── PoolClosed           the pool was closed before or while the request ran
     ├── TimeoutError (= asyncio.TimeoutError)   connect or whole-request timeout
     └── ssl.SSLError, ConnectionRefusedError, socket.gaierror...   connecting failed
    ValueError
     └── BadResponse               the answer is not HTTP/1.x, or too large

    pool = Http1Pool("http", "127.0.0.1", 8080, limit=100)
    answer = await pool.request("POST", b"/path", b"Content-Type: text/plain\\r\\n", b"hello")
    answer.status, answer.header("content-type"), answer.body
    await pool.aclose()
"""
from __future__ import annotations

import asyncio
import ipaddress
import ssl
from collections import deque
from time import perf_counter

import httptools

from channels.http1_sizing import PoolSizer
from channels.http1_response import (
    BadResponse,
    Http1Response,
    PoolClosed,
    ServerDisconnected,
)

__all__ = ["BadResponse", "Http1Pool", "Http1Response", "PoolClosed", "ServerDisconnected"]

#: Default limits: an answer above this many bytes is refused rather than buffered (a provider's JSON
#: answer is a few kB); connect and whole-request timeouts in seconds.
MAX_BODY = 16 * 1024 * 1024
CONNECT_TIMEOUT = 10.0
TIMEOUT = 30.0

_DEFAULT_PORTS = {"http": 80, "https": 443}
#: Methods after which aiohttp sends no `Content-Length: 0` for an empty body (mirrored for identical bytes).
_NO_EMPTY_LENGTH = frozenset({"GET", "OPTIONS", "TRACE"})
_BAD_HEADER_CHARS = frozenset("\r\n\0")


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection: writes a prepared request, parses one answer at a time."""

    def __init__(self, pool: Http1Pool) -> None:
        self._pool = pool
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[Http1Response] | None = None
        self._closed = self._loop.create_future()  # done once the transport is gone
        self.reusable = False                      # True while open and between complete answers
        self.retired = False                       # set by the pool: never counted again
        self.deadline = 0.0                        # loop time by which the running request must end
        self._reset()

    def _reset(self) -> None:
        self._status = 0
        self._headers: list[tuple[str, str]] = []
        self._chunks: list[bytes] = []
        self._size = 0
        self._framed = False      # Content-Length or chunked: the body does not end at close
        self._headers_done = False

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self.reusable = True

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:  # 101 Switching Protocols: never asked for
            self._fail(BadResponse("the server switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(BadResponse(f"unparseable HTTP answer: {exc}"))

    def eof_received(self) -> bool:
        self.reusable = False
        self._end_of_stream()
        return False  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.reusable = False
        self._end_of_stream(exc)
        if not self._closed.done():
            self._closed.set_result(None)
        self._pool._connection_lost(self)

    # httptools callbacks

    def on_message_begin(self) -> None:
        if self._waiter is None:  # an answer nobody asked for: the connection's state is unknown
            self._fail(BadResponse("the server sent an answer to no request"))
        self._reset()

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        if key == "content-length" or (key == "transfer-encoding" and b"chunked" in value.lower()):
            self._framed = True
        self._headers.append((key, value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()
        self._headers_done = True

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > self._pool.max_body:
            self._fail(BadResponse(f"the answer's body exceeds {self._pool.max_body} bytes"))
            return
        self._chunks.append(body)

    def on_message_complete(self) -> None:
        if 100 <= self._status < 200:  # an interim answer (100 Continue, 103 Early Hints): the real one follows
            return
        if not self._parser.should_keep_alive():  # Connection: close, or HTTP/1.0 without keep-alive
            self.reusable = False
        self._complete()

    # internals

    def _complete(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(Http1Response(self._status, self._headers, b"".join(self._chunks)))

    def _end_of_stream(self, exc: Exception | None = None) -> None:
        if self._waiter is None:
            return
        if self._headers_done and not self._framed and exc is None:
            self._complete()  # a body delimited by the end of the connection (llhttp cannot say so itself)
        else:
            self._fail(ServerDisconnected("the server closed the connection before the whole answer"
                                          if exc is None else f"the connection broke: {exc}"))

    def _fail(self, exc: Exception) -> None:
        self.reusable = False
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        self.close()

    def close(self) -> None:
        self.reusable = False
        if self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        self.reusable = False
        if self._transport is not None:
            self._transport.abort()

    async def send(self, data: bytes, deadline: float) -> Http1Response:
        """Write one request and wait for its answer. The caller retires the connection on any error."""
        assert self._waiter is None and self.reusable and self._transport is not None
        self.deadline = deadline
        self._waiter = waiter = self._loop.create_future()
        self._transport.write(data)
        sent_at = perf_counter()
        response = await waiter
        self._pool._answered(sent_at)
        return response


#: A pool opens up to this many connections at once; beyond, a request first waits GROW_AFTER_S for
#: one to come free and opens a new one only then. Against a provider answering in ~100 ms the pool
#: soon holds as many connections as requests in flight; against one answering at once (the
#: sandbox at 0 ms) a few connections carry everything: every open connection costs both ends CPU.
#: Measured with `make bench` on 2 cores (three workers, 350 calls in flight each): opening at once
#: up to the limit, 100,000 SMS took 26.9 s at 100 ms a call and 4,885 msg/s at 0 ms; growing after
#: 20 ms of waiting, 24.1 s and 5,903 msg/s (after 5 ms: 26.7 s, 5,320; after 50 ms: 25.1 s, 5,296).
#: Then (stop 14) only up to what the provider's pace makes worth having (channels/http1_sizing.py),
#: so a pool against a slow provider doubles per round trip from OPEN_AT_ONCE: 16 rather than 4 saves
#: two round trips of that ramp (10,000 SMS at 100 ms: 4.08-4.13 -> 3.73-3.95 s) for a little CPU
#: at 0 ms (the sandbox's 126-134 -> 143-148 µs a request with three workers).
OPEN_AT_ONCE = 16
GROW_AFTER_S = 0.02


class Http1Pool:
    """Keep-alive connections to one origin, at most `limit` open at once.

    `request` takes the parts of a request as bytes so a hot path can prepare them once: the Host
    header goes first (from the origin), then `headers` (complete `Name: value\\r\\n` lines), then
    Content-Length (as aiohttp orders them), then the body. `ssl_context` defaults to
    `ssl.create_default_context()` for https.
    """

    def __init__(self, scheme: str, host: str, port: int | None = None, *, limit: int = 100,
                 connect_timeout: float = CONNECT_TIMEOUT, timeout: float = TIMEOUT,
                 ssl_context: ssl.SSLContext | None = None, max_body: int = MAX_BODY) -> None:
        if scheme not in _DEFAULT_PORTS:
            raise ValueError(f"scheme must be 'http' or 'https', got {scheme!r}")
        if not host or not host.isascii() or any(c in host for c in "/\r\n\0 "):
            raise ValueError(f"host must be an ASCII host name or IP address (IDNA-encoded), got {host!r}")
        port = _DEFAULT_PORTS[scheme] if port is None else port
        if not 0 < port < 65536:
            raise ValueError(f"port must be 1-65535, got {port!r}")
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit!r}")
        if not (connect_timeout > 0 and timeout > 0):
            raise ValueError(f"timeouts must be > 0, got connect_timeout={connect_timeout!r}, timeout={timeout!r}")
        self.scheme, self.host, self.port = scheme, host.lower().strip("[]"), port
        self.limit, self.connect_timeout, self.timeout, self.max_body = limit, connect_timeout, timeout, max_body
        self._ssl = (ssl_context or ssl.create_default_context()) if scheme == "https" else None
        netloc = f"[{self.host}]" if _is_ipv6(self.host) else self.host.rstrip(".")
        if port != _DEFAULT_PORTS[scheme]:
            netloc += f":{port}"
        #: The Host header aiohttp sends for this origin (no default port, IPv6 in brackets).
        self.host_header = netloc
        self._host_line = b"Host: " + netloc.encode() + b"\r\n"
        self._idle: deque[_Connection] = deque()
        self._busy: set[_Connection] = set()
        self._open = 0  # connections open or being opened, plus slots handed to waiters
        #: Requests waiting for a connection, first come first served: (future, deadline, since).
        #: A done future (served, timed out or cancelled) is skipped and dropped when met.
        self._waiters: deque[tuple[asyncio.Future[_Connection | None], float, float]] = deque()
        self._growth_check: asyncio.TimerHandle | None = None
        self._closing = False
        self._sweep: asyncio.TimerHandle | None = None
        self._tick = min(1.0, timeout / 10)  # how late a timeout may fire
        self.sizer = PoolSizer(floor=min(limit, OPEN_AT_ONCE))

    @property
    def open_connections(self) -> int:
        """Connections open or being opened now (never above `limit`)."""
        return self._open

    async def request(self, method: str, target: bytes, headers: bytes = b"", body: bytes = b"") -> Http1Response:
        """Send one request (`target` is the request path and query, already encoded) and read its answer.

        Never resends: see the module docstring for what each failure raises.
        """
        if method == "HEAD" or not method.isalpha() or not method.isupper():
            raise ValueError(f"method must be an upper-case token other than HEAD, got {method!r}")
        if not target.startswith(b"/") or b" " in target or b"\r" in target or b"\n" in target:
            raise ValueError(f"target must be an encoded path and query, got {target!r}")
        if headers and not headers.endswith(b"\r\n"):
            raise ValueError("headers must be complete 'Name: value\\r\\n' lines")
        head = b"%s %s HTTP/1.1\r\n%s%s" % (method.encode(), target, self._host_line, headers)
        if body or method not in _NO_EMPTY_LENGTH:
            head += b"Content-Length: %d\r\n" % len(body)
        data = head + b"\r\n" + body
        deadline = asyncio.get_running_loop().time() + self.timeout
        connection = self._take_idle()
        if connection is None:  # wait for a connection (`_time_out` watches the deadline), or connect
            connection = await self._acquire(deadline)
        if self._sweep is None:
            self._sweep = asyncio.get_running_loop().call_later(self._tick, self._time_out)
        try:
            response = await connection.send(data, deadline)  # `_time_out` watches the deadline
        except BaseException:
            self._retire(connection)
            raise
        self._release(connection)
        return response

    async def aclose(self) -> None:
        """Close every connection; requests waiting or running fail with PoolClosed."""
        self._closing = True
        for timer in (self._sweep, self._growth_check):
            if timer is not None:
                timer.cancel()
        self._sweep = self._growth_check = None
        while self._waiters:
            waiter, _, _ = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(PoolClosed("the pool was closed"))
        connections = [*self._idle, *self._busy]
        while self._idle:
            self._retire(self._idle.pop())
        for connection in connections:  # a request running on one fails, and retires it
            if connection._waiter is not None:
                connection._fail(PoolClosed("the pool was closed while the request ran"))
            connection.close()
        if connections:  # let TLS say goodbye and the transports go, or the loop warns of unclosed ones
            await asyncio.wait([c._closed for c in connections], timeout=1.0)
            for connection in connections:
                if not connection._closed.done():
                    connection.abort()

    # connection accounting

    def _take_idle(self) -> _Connection | None:
        if self._closing:
            raise PoolClosed("the pool is closed")
        while self._idle:
            connection = self._idle.pop()  # the most recently used: the least likely to be timed out by the peer
            if connection.reusable:
                self._busy.add(connection)
                return connection
            self._retire(connection)
        return None

    async def _acquire(self, deadline: float) -> _Connection:
        """A connection for a request: an idle one, a new one within the sizer's floor, or the
        next to come free (or a new one, once waiting GROW_AFTER_S shows it is needed: `_grow`).
        Waiting costs a future and a place in line: no timer of its own (`_time_out`, `_grow`)."""
        loop = asyncio.get_running_loop()
        while True:
            connection = self._take_idle()
            if connection is not None:
                return connection
            if self._open < self.sizer.floor and not self._waiters:  # the floor is within the limit
                self._open += 1
                return await self._connect(deadline)
            waiter: asyncio.Future[_Connection | None] = loop.create_future()
            self._waiters.append((waiter, deadline, loop.time()))
            if self._sweep is None:
                self._sweep = loop.call_later(self._tick, self._time_out)
            if self._growth_check is None and self._open < self.limit:
                self._growth_check = loop.call_later(GROW_AFTER_S, self._grow)
            try:
                connection = await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                    self._hand_back(waiter.result())  # served while being cancelled: pass it on
                raise  # a cancelled waiter is skipped where the line is served
            if connection is None:  # a slot was freed for us: open a connection in it
                return await self._connect(deadline)
            if connection.reusable:
                return connection
            # Closed by the peer after it was handed to us, before we wrote a byte: its slot is ours.
            self._busy.discard(connection)
            connection.close()
            connection.retired = True
            return await self._connect(deadline)

    async def _connect(self, deadline: float) -> _Connection:
        """Open a connection in a slot already counted in `_open`; frees the slot if that fails.
        Within the connect timeout and the request's deadline, whichever comes first."""
        if self._closing:
            self._free_slot()
            raise PoolClosed("the pool is closed")
        try:
            async with asyncio.timeout_at(min(deadline, asyncio.get_running_loop().time() + self.connect_timeout)):
                _, connection = await asyncio.get_running_loop().create_connection(
                    lambda: _Connection(self), self.host, self.port, ssl=self._ssl,
                    server_hostname=self.host if self._ssl is not None else None)
        except BaseException:
            self._free_slot()
            raise
        if self._closing or not connection.reusable:
            self._retire(connection)
            raise PoolClosed("the pool was closed while connecting") if self._closing else \
                ServerDisconnected("the server closed the connection as soon as it was opened")
        self._busy.add(connection)
        return connection

    def _time_out(self) -> None:
        """Fail the requests past their deadline, running or waiting for a connection; runs every
        `_tick` while any connection is busy or any request waits.

        One timer per pool instead of one per request: with `asyncio.timeout` around each request
        (a timer armed and cancelled, a context manager, cancelled handles left in the loop's heap)
        the pool's own CPU per request was 9.5-10 µs; with this timer, 5.8 µs (a fake transport
        answering at once, so the figures are the pool's alone)."""
        now = asyncio.get_running_loop().time()
        for connection in list(self._busy):
            if connection._waiter is not None and connection.deadline <= now:
                connection._fail(TimeoutError(f"no complete answer within {self.timeout} s"))
        waiters = self._waiters
        while waiters and (waiters[0][0].done() or waiters[0][1] <= now):  # deadlines come in order
            waiter, _, _ = waiters.popleft()
            if not waiter.done():
                waiter.set_exception(TimeoutError(f"no connection came free within {self.timeout} s"))
        self._sweep = None
        if (self._busy or self._waiters) and not self._closing:
            self._sweep = asyncio.get_running_loop().call_later(self._tick, self._time_out)

    def _release(self, connection: _Connection) -> None:
        """A request ended well: give the connection to the next waiter, or keep it idle."""
        self._busy.discard(connection)
        if not connection.reusable or self._closing:
            self._retire(connection)
            return
        while self._waiters:
            waiter, _, _ = self._waiters.popleft()
            if not waiter.done():
                self._busy.add(connection)
                waiter.set_result(connection)
                return
        self._idle.append(connection)

    def _hand_back(self, connection: _Connection | None) -> None:
        if connection is None:
            self._free_slot()
        else:
            self._release(connection)

    def _retire(self, connection: _Connection) -> None:
        """Close a connection for good and free its slot, once."""
        self._busy.discard(connection)
        connection.close()
        if not connection.retired:
            connection.retired = True
            self._free_slot()

    def _answered(self, sent_at: float) -> None:
        """An answer came: tell the sizer (how many connections the provider's pace makes worth having)."""
        now = perf_counter()
        self.sizer.answered(now - sent_at, now)

    def _grow(self) -> None:
        """Runs every GROW_AFTER_S while requests wait: the requests that have waited that long get
        new connections, oldest first, as far as the sizer finds them worth having. The others wait
        for a connection to come free."""
        self._growth_check = None
        if self._closing:
            return
        loop = asyncio.get_running_loop()
        waited_since = loop.time() - GROW_AFTER_S
        waiters = self._waiters
        room = min(self.limit, self.sizer.worth) - self._open
        while waiters and (waiters[0][0].done() or (room > 0 and waiters[0][2] <= waited_since)):
            waiter, _, _ = waiters.popleft()
            if not waiter.done():
                self._open += 1
                room -= 1
                waiter.set_result(None)  # `_acquire` opens a connection in the slot
        if waiters and self._open < self.limit:
            self._growth_check = loop.call_later(GROW_AFTER_S, self._grow)

    def _free_slot(self) -> None:
        while self._waiters:
            waiter, _, _ = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes to the first waiter: `_open` is unchanged
                return
        self._open -= 1

    def _connection_lost(self, connection: _Connection) -> None:
        if connection in self._idle:  # closed by the peer while idle: free its slot now
            self._idle.remove(connection)
            self._retire(connection)
        # A busy connection is retired by the request running on it (or about to, which then finds
        # it closed before writing: `_acquire` and `_connect` check).


def _is_ipv6(host: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(host), ipaddress.IPv6Address)
    except ValueError:
        return False
