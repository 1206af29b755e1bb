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

from channels.twilio_lean import Created, LeanCreate, LeanMessages, form_quote


class LeanCalls(LeanCreate):
    """`client.calls.create_async` for what Tocsin asks: To, From, Url, Method, the status callback
    with its method and events, MachineDetection. Build it with `for_client`."""

    RESOURCE = "Calls"

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
        return await self._post(form)
