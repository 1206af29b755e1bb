"""HTTP clients that let the official Twilio library talk to another host.

Twilio's `edge`/`region` settings only rewrite `*.twilio.com` host names, so the
supported seam for pointing `twilio.rest.Client` at the sandbox (or a recording
proxy) is its `http_client=` argument. These subclasses change nothing but the
URL: the library still builds the request, form-encodes it, signs it with Basic
auth and parses the answer exactly as it does against Twilio.

    http = RebasedAsyncTwilioHttpClient("http://127.0.0.1:8080/sandbox/twilio")
    client = Client(sid, token, http_client=http)
    await client.messages.create_async(to=..., from_=..., body=...)
    await http.close()
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp
from twilio.http import HttpClient
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from yarl import URL

from channels.http1 import CONNECT_TIMEOUT, Http1Pool
from channels.http1_client import Http1Client

_logger = logging.getLogger(__name__)

_JSON_TYPES = ("application/json", "application/scim+json")


def rebase_twilio_url(url: str, api_base: str | None) -> str:
    """Move an `https://<anything>.twilio.com/<path>?<query>` URL under `api_base`.

    Every Twilio domain (api, messaging, voice...) lands on the same base, so a
    fake serving several products must tell them apart by path. Other URLs, and
    all URLs when `api_base` is None, come back unchanged.
    """
    if api_base is None:
        return url
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" or not (host == "twilio.com" or host.endswith(".twilio.com")):
        return url
    rebased = api_base.rstrip("/") + (parts.path or "/")
    return f"{rebased}?{parts.query}" if parts.query else rebased


def _check_api_base(api_base: str | None) -> None:
    if api_base is None:
        return
    parts = urlsplit(api_base)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
        raise ValueError(f"api_base must be an http:// or https:// URL without a query, got {api_base!r}")


class RebasedAsyncTwilioHttpClient(AsyncTwilioHttpClient):
    """`AsyncTwilioHttpClient` that sends Twilio's requests to `api_base`.

    Owns one `aiohttp.ClientSession`, so it must be built inside a running event
    loop and closed with `close()` (or `async with`). Unlike the parent it does
    not wrap the session in aiohttp_retry: retries and failover are the
    dispatcher's decision, and a retry hidden here would double-send alerts.
    Request logging happens only when the `twilio`-style logger is at DEBUG, to
    keep the per-message cost down.
    """

    def __init__(
        self,
        api_base: str | None = None,
        *,
        max_connections: int = 200,
        timeout: float = 30.0,
    ) -> None:
        _check_api_base(api_base)
        if max_connections < 1:
            raise ValueError(f"max_connections must be >= 1, got {max_connections!r}")
        # Skip AsyncTwilioHttpClient.__init__: it opens its own session with the
        # default 100-connection cap and no way to pass ours.
        HttpClient.__init__(self, _logger, True, timeout)
        self.api_base = api_base
        self.proxy_url = None
        self.trace_configs = None
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=max_connections),
            timeout=aiohttp.ClientTimeout(total=timeout),
            # Twilio's REST API is stateless (Basic auth on every call): no cookie to keep or to send,
            # and no jar to search on every request of the hot path.
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        self._auth_cache: tuple[tuple[str, str], str] | None = None
        self.max_connections = max_connections
        #: The session as built here: `LeanMessages` mirrors it only while it is still this one.
        self.own_session = self.session
        self._http1: Http1Client | None = None

    def http1_pool(self, url: URL) -> Http1Pool:
        """The lean HTTP/1.1 pool for `url`'s origin (`channels.twilio_lean`), with this client's
        connection limit and timeout; made on first use and closed with the session."""
        if self._http1 is None:
            total = self.session.timeout.total or self.timeout
            # aiohttp's session has only a total timeout; connecting gets at most 10 s of it.
            self._http1 = Http1Client(limit_per_origin=self.max_connections, timeout=total,
                                      connect_timeout=min(CONNECT_TIMEOUT, total))
        if url.scheme not in ("http", "https") or not url.raw_host:
            raise ValueError(f"url must be an http:// or https:// URL, got {str(url)!r}")
        return self._http1.pool(url.scheme, url.raw_host, url.port)

    def _authorization(self, auth: tuple[str, str]) -> str:
        # One client usually serves one account: keep the last encoded header.
        cached = self._auth_cache
        if cached is not None and cached[0] == auth:
            return cached[1]
        header = aiohttp.encode_basic_auth(auth[0], auth[1])
        self._auth_cache = (auth, header)
        return header

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        """Send one request to the rebased URL and wrap the answer for the Twilio library."""
        if timeout is not None and timeout <= 0:
            raise ValueError(timeout)
        target = rebase_twilio_url(url, self.api_base)
        if params:
            target += ("&" if "?" in target else "?") + urlencode(params, doseq=True)
        if auth is not None:
            headers = {**(headers or {}), "Authorization": self._authorization(tuple(auth))}
        kwargs: dict[str, Any] = {"headers": headers, "allow_redirects": allow_redirects}
        if timeout is not None:
            kwargs["timeout"] = aiohttp.ClientTimeout(total=timeout)
        if data is not None:
            content_type = (headers or {}).get("Content-Type", "")
            if content_type in _JSON_TYPES:
                kwargs["json"] = data
            elif isinstance(data, Mapping):
                # urlencode(doseq) sends lists (MediaUrl=a&MediaUrl=b) as requests would.
                kwargs["data"] = urlencode(data, doseq=True).encode()
                if not content_type:
                    kwargs["headers"] = {**(headers or {}), "Content-Type": "application/x-www-form-urlencoded"}
            else:
                kwargs["data"] = data
        if self.logger.isEnabledFor(logging.DEBUG):
            self.logger.debug("%s %s", method.upper(), target.split("?", 1)[0])
        async with self.session.request(method.upper(), target, **kwargs) as response:
            text = await response.text()
            return Response(response.status, text, response.headers)

    async def close(self) -> None:
        """Close the session, the lean pools, and their connections."""
        await self.session.close()
        if self._http1 is not None:
            await self._http1.aclose()

    async def __aexit__(self, *excinfo: object) -> None:
        await self.close()


class RebasedTwilioHttpClient(TwilioHttpClient):
    """Blocking twin of `RebasedAsyncTwilioHttpClient` for the CLI and baseline benchmarks."""

    def __init__(self, api_base: str | None = None, *, timeout: float = 30.0) -> None:
        _check_api_base(api_base)
        super().__init__(timeout=timeout, logger=_logger)
        self.api_base = api_base

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        """Send the request to the rebased URL through the parent's `requests` session."""
        return super().request(
            method,
            rebase_twilio_url(url, self.api_base),
            params=params,
            data=data,
            headers=headers,
            auth=auth,
            timeout=timeout,
            allow_redirects=allow_redirects,
        )

    def close(self) -> None:
        """Close the pooled `requests` session."""
        if self.session is not None:
            self.session.close()
