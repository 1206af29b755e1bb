"""The callee's side of a sandbox call: press keys, or let a <Gather> time out.

    POST /sandbox/voice/press    {"to": "+1...", "digits": "1"}
    POST /sandbox/voice/timeout  {"to": "+1..."}

Both act on the latest call to that phone waiting in a `<Gather>` (409 if none)
and answer with what the phone heard next:
`{"call_sid", "status", "spoken": [...], "gather": {...} | null, "error"}`.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .http_json import json_error, json_object
from .keys import VOICE_CARRIER
from .voice_call import VoiceCall
from .voice_carrier import NoWaitingCall


def _answer(call: VoiceCall, spoken: list[str], **extra: Any) -> web.Response:
    return web.json_response(
        {
            "call_sid": call.sid,
            "status": call.status,
            "spoken": spoken,
            "gather": None if call.gather is None else call.gather.to_json(),
            "error": call.error,
            **extra,
        }
    )


async def _phone(request: web.Request) -> tuple[dict[str, Any], str] | web.Response:
    payload = await json_object(request)
    if isinstance(payload, web.Response):
        return payload
    phone = payload.get("to")
    if not isinstance(phone, str) or not phone:
        return json_error(400, "'to' (the called phone number) is required", field="to")
    return payload, phone


async def press(request: web.Request) -> web.Response:
    """POST /sandbox/voice/press: key `digits` into the waiting <Gather> of the latest call to `to`."""
    parsed = await _phone(request)
    if isinstance(parsed, web.Response):
        return parsed
    payload, phone = parsed
    digits = payload.get("digits")
    if isinstance(digits, int) and not isinstance(digits, bool):
        digits = str(digits)
    if not isinstance(digits, str) or not digits or not set(digits) <= set("0123456789*#"):
        return json_error(400, f"'digits' must be keys 0-9, * or #, got {digits!r}", field="digits")
    try:
        call, spoken = await request.app[VOICE_CARRIER].press(phone, digits)
    except NoWaitingCall as exc:
        return json_error(409, str(exc))
    return _answer(call, spoken, digits=digits)


async def timeout(request: web.Request) -> web.Response:
    """POST /sandbox/voice/timeout: the waiting <Gather> of the latest call to `to` gets no keys."""
    parsed = await _phone(request)
    if isinstance(parsed, web.Response):
        return parsed
    _, phone = parsed
    try:
        call, spoken = await request.app[VOICE_CARRIER].timeout(phone)
    except NoWaitingCall as exc:
        return json_error(409, str(exc))
    return _answer(call, spoken)
