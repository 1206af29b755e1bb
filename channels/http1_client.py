"""Posting to full URLs (status callbacks, webhooks) through `channels.http1` pools, one per origin.

`Http1Pool` takes a request target and prepared header bytes; a sender of webhooks has URLs and
header dicts. `Http1Client` turns one into the other (the URL's part before a plain query parsed
once and cached) and keeps a pool per origin, with the same limits, timeouts and no-resend rule.
"""
from __future__ import annotations

import functools
import re
import ssl
from collections.abc import Mapping

from yarl import URL

from channels.http1 import (
    _BAD_HEADER_CHARS,
    _DEFAULT_PORTS,
    CONNECT_TIMEOUT,
    MAX_BODY,
    TIMEOUT,
    Http1Pool,
    Http1Response,
    PoolClosed,
)


class Http1Client:
    """Pools by origin, for callers that post to full URLs (status callbacks, webhooks).

        client = Http1Client(limit_per_origin=50)
        answer = await client.post_form("https://example.org/hook?d=1", b"a=1&b=2")
        await client.aclose()
    """

    def __init__(self, *, limit_per_origin: int = 100, connect_timeout: float = CONNECT_TIMEOUT,
                 timeout: float = TIMEOUT, ssl_context: ssl.SSLContext | None = None, max_body: int = MAX_BODY) -> None:
        self._options = {"limit": limit_per_origin, "connect_timeout": connect_timeout, "timeout": timeout,
                         "max_body": max_body}
        self._ssl_context = ssl_context
        self._pools: dict[tuple[str, str, int], Http1Pool] = {}
        self._closed = False

    def pool(self, scheme: str, host: str, port: int | None = None) -> Http1Pool:
        """The pool for one origin, made on first use."""
        if self._closed:
            raise PoolClosed("the client is closed")
        key = (scheme, host.lower(), port or _DEFAULT_PORTS.get(scheme, 0))
        pool = self._pools.get(key)
        if pool is None:
            if scheme == "https" and self._ssl_context is None:
                self._ssl_context = ssl.create_default_context()  # loading CA certificates costs ms: once
            pool = Http1Pool(scheme, host, port, ssl_context=self._ssl_context, **self._options)
            self._pools[key] = pool
        return pool

    async def request(self, method: str, url: str, headers: Mapping[str, str] | None = None,
                      body: bytes = b"") -> Http1Response:
        """Send `body` to a full http(s) URL with `headers`; see `Http1Pool.request`."""
        pool, target = self._route(url)
        return await pool.request(method, target, header_lines(headers or {}), body)

    def _route(self, url: str) -> tuple[Http1Pool, bytes]:
        """The pool and request target for `url`. Callback URLs differ only in a plain query
        (`.../status?d=123`): the part before it is parsed once (`_split_base`) and the query,
        when it holds only characters that need no quoting, is appended as it is; anything else
        is parsed whole, by yarl, as before."""
        base, _, query = url.partition("?")
        if _PLAIN_QUERY.fullmatch(query) and "#" not in base:
            scheme, host, port, path = _split_base(base)
            return self.pool(scheme, host, port), (path + "?" + query if query else path).encode("ascii")
        scheme, host, port, path = _split_base(url)
        return self.pool(scheme, host, port), path.encode("ascii")

    async def post_form(self, url: str, body: bytes, headers: Mapping[str, str] | None = None) -> Http1Response:
        """POST an already encoded form (`a=1&b=2`) to a full URL; Content-Type is added unless given."""
        fields = dict(headers or {})
        if not any(name.lower() == "content-type" for name in fields):
            fields["Content-Type"] = "application/x-www-form-urlencoded"
        return await self.request("POST", url, fields, body)

    async def aclose(self) -> None:
        """Close every pool."""
        self._closed = True
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.aclose()


#: A query string that yarl would send exactly as written (no quoting, no fragment).
_PLAIN_QUERY = re.compile(r"(?:[A-Za-z0-9._~=&+-]|%[0-9A-F]{2})*")


@functools.lru_cache(maxsize=256)
def _split_base(url: str) -> tuple[str, str, int | None, str]:
    """(scheme, host, port, target) of an http(s) URL, as yarl parses and quotes it; cached, since
    a sender posts to the same few URLs over and over."""
    parsed = URL(url)
    if parsed.scheme not in _DEFAULT_PORTS or not parsed.raw_host or parsed.raw_user or parsed.raw_password:
        raise ValueError(f"url must be an http:// or https:// URL without credentials, got {url!r}")
    target = (parsed.raw_path or "/") + (f"?{parsed.raw_query_string}" if parsed.raw_query_string else "")
    return parsed.scheme, parsed.raw_host, parsed.port, target


def header_lines(headers: Mapping[str, str]) -> bytes:
    """`Name: value\\r\\n` lines for `Http1Pool.request`; refuses names and values that would split a line."""
    lines = []
    for name, value in headers.items():
        if not name or ":" in name or " " in name or _BAD_HEADER_CHARS.intersection(name) \
                or _BAD_HEADER_CHARS.intersection(value):
            raise ValueError(f"header {name!r} has a character that cannot go in an HTTP header")
        if name.lower() in ("host", "content-length", "transfer-encoding"):
            raise ValueError(f"header {name!r} is set by the client itself")
        lines.append(f"{name}: {value}\r\n".encode("latin-1"))
    return b"".join(lines)
