"""Twilio's Calls `create`, sent as the official client sends it, with less work per call.

The same reasoning as `channels.twilio_lean.LeanMessages` (read it first): profiling a worker
placing calls showed ~80% of its CPU per call inside `client.calls.create_async` (four layers of
request building, aiohttp's client, a `CallInstance` of 30 deserialised fields with RFC 2822
dates). `LeanCalls` sends the same bytes (same URL, headers, Basic auth, form fields in the
official order with `StatusCallbackEvent` repeated as `urlencode(doseq=True)` writes it) through
the lean HTTP/1.1 pool, and reads only `sid`, `status` and `error_code`. A non-2xx answer raises
the official client's own exception, an unreadable one `ValueError`/`TypeError`, so
`create_and_receipt` gives the same receipts. tests/test_voice_lean_wire.py proves the bytes.
"""
from __future__ import annotations

from collections.abc import Sequence

from twilio.rest import Client
from yarl import URL

from channels.twilio_http import RebasedAsyncTwilioHttpClient, rebase_twilio_url
from channels.twilio_lean import (
    API_VERSION,
    TWILIO_API,
    Created,
    LeanMessages,
    _wire_headers,
    form_quote,
    post_create,
)


class LeanCalls:
    """`client.calls.create_async` for what Tocsin asks: To, From, Url, Method, the status callback
    with its method and events, MachineDetection. Build it with `for_client`."""

    def __init__(self, client: Client, http: RebasedAsyncTwilioHttpClient) -> None:
        if client.username is None or client.password is None:
            raise ValueError("LeanCalls needs a client with an account SID and auth token")
        self._uri = f"{TWILIO_API}/{API_VERSION}/Accounts/{client.account_sid}/Calls.json"
        url = URL(rebase_twilio_url(self._uri, http.api_base), encoded=True)
        self._pool = http.http1_pool(url)
        self._target = url.raw_path_qs.encode("ascii")
        # The official create path's headers, in its order (see LeanMessages.__init__).
        headers = client.get_headers("POST", {"Content-Type": "application/x-www-form-urlencoded",
                                              "Accept": "application/json"})
        headers["Authorization"] = http._authorization(client.auth)
        self._headers = _wire_headers(headers)

    @classmethod
    def for_client(cls, client: Client) -> LeanCalls | None:
        """A lean caller for `client`, or None where only the official path is faithful: exactly
        where `LeanMessages.for_client` says None (another http client, a proxy, an edge...)."""
        if LeanMessages.for_client(client) is None:
            return None
        return cls(client, client.http_client)

    async def create(self, *, to: str, from_: str, url: str, method: str | None = None,
                     status_callback: str | None = None, status_callback_event: Sequence[str] | None = None,
                     status_callback_method: str | None = None, machine_detection: str | None = None) -> Created:
        """Place one call; raises what the official client raises for an error answer."""
        # The official field order (CallList._create_async): To, From, Method, ..., StatusCallback,
        # StatusCallbackEvent, StatusCallbackMethod, ..., MachineDetection, ..., Url.
        form = "To=" + form_quote(to) + "&From=" + form_quote(from_)
        if method is not None:
            form += "&Method=" + form_quote(method)
        if status_callback is not None:
            form += "&StatusCallback=" + form_quote(status_callback)
        for event in status_callback_event or ():
            form += "&StatusCallbackEvent=" + form_quote(event)
        if status_callback_method is not None:
            form += "&StatusCallbackMethod=" + form_quote(status_callback_method)
        if machine_detection is not None:
            form += "&MachineDetection=" + form_quote(machine_detection)
        form += "&Url=" + form_quote(url)
        return await post_create(self._pool, self._target, self._headers, form, self._uri)
