"""Twilio's Messages `create`, sent as the official client sends it, with less work per message.

Profiling a worker showed the official async client spending most of its ~250 µs per message outside
the network: building the request through four layers, copying dicts, form-encoding, and turning
the answer into a `MessageInstance` of 25 deserialised fields; once that was gone, aiohttp's own
client machinery was ~40% of what remained. `LeanMessages` keeps the wire format and the auth
exactly (same URL, the headers the client computes and those aiohttp adds, in aiohttp's order, the
same Basic auth header, the same form fields in the same order, the status callback URL) but
prepares the request line and headers once as bytes, builds the form body directly, posts through
the lean HTTP/1.1 pool of `channels.http1` (the session's connection limit and timeout, closed with
it), undoes gzip/deflate as aiohttp would, and reads only `sid`, `status` and `error_code`.

Errors keep the official semantics: a non-2xx answer raises the very exception the official client
would (built by `twilio.base.version.Version.exception`), an unreadable answer raises `ValueError`,
so `create_and_receipt` turns both into the same receipts. Everything else (calls, fetches, account
work) stays with the official client. `tests/test_bench_lean_wire.py` proves the bytes on the wire
are the official client's.
"""
from __future__ import annotations

import json
from typing import NamedTuple
from urllib.parse import quote_plus

from aiohttp.client_reqrep import ClientRequest
from aiohttp.http import SERVER_SOFTWARE
from multidict import CIMultiDict
from twilio.base.version import Version
from twilio.http.response import Response
from twilio.rest import Client
from yarl import URL

from channels.http1_client import header_lines
from channels.twilio_http import RebasedAsyncTwilioHttpClient, rebase_twilio_url

#: Where the official client sends Messages (`client.api.v2010`'s base URL).
TWILIO_API = "https://api.twilio.com"
API_VERSION = "2010-04-01"


#: `quote_plus` as one C-level `str.translate` for ASCII text (the usual number, URL and alert text);
#: anything else goes through `quote_plus` itself. Same output, a fraction of the per-character work.
_ALWAYS_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")
_QUOTE_PLUS = {c: chr(c) if chr(c) in _ALWAYS_SAFE else "+" if c == 32 else f"%{c:02X}" for c in range(128)}


def form_quote(value: str) -> str:
    """`urllib.parse.quote_plus(value)`, faster."""
    return value.translate(_QUOTE_PLUS) if value.isascii() else quote_plus(value)


class Created(NamedTuple):
    """The fields of a created Message resource that a receipt needs."""

    sid: str | None
    status: str | None
    error_code: int | None


def _wire_headers(headers: dict[str, str]) -> bytes:
    """The header lines aiohttp writes after Host for a bytes body, in its order: the caller's headers,
    then its defaults for those missing (Accept, Accept-Encoding, User-Agent), then Content-Length
    (written by `Http1Pool`), then the body's Content-Type if none was given."""
    present = {name.lower() for name in headers}
    lines = dict(headers)
    for name, value in ClientRequest.DEFAULT_HEADERS.items():
        if name.lower() not in present:
            lines[name] = value
    if "user-agent" not in present:
        lines["User-Agent"] = SERVER_SOFTWARE
    if "content-type" not in present:
        raise ValueError("LeanMessages sends a form: Content-Type must be among the headers")
    return header_lines(lines)


class LeanCreate:
    """What a lean `create` of one account resource (Messages, Calls) prepares once and posts with:
    the official client's URL, its headers in its order and the pool of the client's session."""

    #: The resource's name in its URL: `.../Accounts/{sid}/{RESOURCE}.json`.
    RESOURCE = ""

    def __init__(self, client: Client, http: RebasedAsyncTwilioHttpClient) -> None:
        if client.username is None or client.password is None:
            raise ValueError(f"{type(self).__name__} needs a client with an account SID and auth token")
        self._uri = f"{TWILIO_API}/{API_VERSION}/Accounts/{client.account_sid}/{self.RESOURCE}.json"
        url = URL(rebase_twilio_url(self._uri, http.api_base), encoded=True)
        self._pool = http.http1_pool(url)  # same origin, connection limit and timeout as the session
        self._target = url.raw_path_qs.encode("ascii")
        # The same calls, in the same order, as the official client's create path: the resource's
        # two headers, then ClientBase.get_headers, then the http client's Basic auth; then what
        # aiohttp adds on its own.
        headers = client.get_headers("POST", {"Content-Type": "application/x-www-form-urlencoded",
                                              "Accept": "application/json"})
        headers["Authorization"] = http._authorization(client.auth)
        self._headers = _wire_headers(headers)

    async def _post(self, form: str) -> Created:
        """POST a create form and read the resource's sid, status and error code, as the official
        client would see them: a non-2xx answer raises `Version.exception(...)`, the exception the
        official client raises; an answer that is no JSON object raises ValueError or TypeError."""
        response = await self._pool.request("POST", self._target, self._headers, form.encode())
        status = response.status
        if status < 200 or status >= 300:
            raise Version.exception("POST", self._uri, Response(status, response.text(), CIMultiDict(response.headers)),
                                    "Unable to create record")
        raw = response.decoded_body()
        payload = json.loads(raw) if raw else {}
        if not isinstance(payload, dict):
            raise TypeError(f"the provider answered a {type(payload).__name__}, not a resource")
        code = payload.get("error_code")
        return Created(payload.get("sid"), payload.get("status"), code if isinstance(code, int) else None)


class LeanMessages(LeanCreate):
    """`client.messages.create_async` for the common case: To, From or MessagingServiceSid, Body,
    StatusCallback. Build it with `for_client`, which says None when the lean path does not apply."""

    RESOURCE = "Messages"

    @classmethod
    def for_client(cls, client: Client) -> LeanMessages | None:
        """A lean sender for `client`, or None when only the official path is faithful: an http client
        other than ours (or one that overrides `request`), a proxy, a session other than the one it
        built or given default headers or trace hooks, a credential provider, an edge or a region."""
        http = client.http_client
        if (not isinstance(http, RebasedAsyncTwilioHttpClient)
                or type(http).request is not RebasedAsyncTwilioHttpClient.request
                or http.proxy_url or http.trace_configs
                or http.session is not http.own_session or http.session.closed
                or http.session.headers or http.session.trace_configs or http.session.trust_env
                or client.credential_provider is not None or client.edge or client.region
                or client.username is None or client.password is None):
            return None
        return cls(client, http)

    async def create(self, *, to: str, body: str, from_: str | None = None,
                     messaging_service_sid: str | None = None, status_callback: str | None = None) -> Created:
        """Post one message; raises what the official client raises for an error answer."""
        # The official field order (MessageList._create_async): To, StatusCallback, ..., From, ...,
        # MessagingServiceSid, Body; None values are left out; quote_plus is what urlencode uses.
        form = "To=" + form_quote(to)
        if status_callback is not None:
            form += "&StatusCallback=" + form_quote(status_callback)
        if from_ is not None:
            form += "&From=" + form_quote(from_)
        if messaging_service_sid is not None:
            form += "&MessagingServiceSid=" + form_quote(messaging_service_sid)
        form += "&Body=" + form_quote(body)
        return await self._post(form)

