"""The fake Twilio REST Messages resource, wire-compatible with the official client.

Mounted under `/sandbox/twilio`, so a client rebased there reaches
`/sandbox/twilio/2010-04-01/Accounts/{AccountSid}/Messages.json`. Any SID and
token are accepted, but as on Twilio the Basic auth username must be the
account in the path. Errors use Twilio's JSON shape and codes, so the client
raises `TwilioRestException` with the real `.status` and `.code`.

Before answering, each call applies the configured behaviour, in this order:
latency (per-account `latency_ms` replaces the global one), `drop`, auth,
`fail_status`, then `rate_limit_per_s` (a fixed window per clock second).

This is the benchmarked hot path: no per-message task, no per-message log line.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import time

from aiohttp import hdrs, web

from .config import AccountBehaviour
from .keys import SANDBOX_STATE, TWILIO_WEBHOOKS
from .sms import E164, SmsMessage, count_segments, new_sid
from .state import SandboxState

MAX_BODY_CHARS = 1600  # Twilio refuses longer bodies with 21617

# Twilio error code for a forced `fail_status`; 5xx all become 20500 as on Twilio.
_FAIL_CODES = {400: 20001, 401: 20003, 403: 20403, 404: 20404, 405: 20004, 429: 20429}
BEHAVE = AccountBehaviour()  # an account with no configured faults
_WWW_AUTHENTICATE = {hdrs.WWW_AUTHENTICATE: 'Basic realm="Twilio API"'}


def twilio_error(
    status: int, code: int, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    """A response in Twilio's error shape, which the official client turns into TwilioRestException."""
    return web.json_response(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status=status,
        headers=headers,
    )


def _forced_failure(status: int) -> web.Response:
    if status >= 500:
        return twilio_error(status, 20500, "Internal Server Error")
    if status == 429:
        return twilio_error(status, 20429, "Too Many Requests")
    return twilio_error(status, _FAIL_CODES.get(status, 20000 + status), f"Sandbox configured to fail with HTTP {status}")


#: Decoded Basic auth headers: a client sends the same one with every call (bounded: any SID is accepted).
_CREDENTIALS: dict[str, tuple[str, str] | None] = {}
_CREDENTIALS_LIMIT = 1024


def _basic_credentials(header: str) -> tuple[str, str] | None:
    try:
        return _CREDENTIALS[header]
    except KeyError:
        pass
    credentials = _decode_basic(header)
    if len(_CREDENTIALS) >= _CREDENTIALS_LIMIT:
        _CREDENTIALS.clear()
    _CREDENTIALS[header] = credentials
    return credentials


def _decode_basic(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        login, colon, password = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
    except (ValueError, binascii.Error):
        return None
    return (login, password) if colon else None


def _authenticate(request: web.Request, account_sid: str) -> str | web.Response:
    """The auth token of a correctly authenticated call, or the 401 to answer."""
    credentials = _basic_credentials(request.headers.get(hdrs.AUTHORIZATION, ""))
    if credentials is None:
        return twilio_error(401, 20003, "Authenticate", _WWW_AUTHENTICATE)
    if credentials[0] != account_sid:
        return twilio_error(401, 20003, "Authentication Error - invalid username", _WWW_AUTHENTICATE)
    return credentials[1]


def over_rate_limit(state: SandboxState, account_sid: str, limit: int) -> bool:
    second = int(time.monotonic())
    window, calls = state.rate_windows.get(account_sid, (second, 0))
    if window != second:
        window, calls = second, 0
    calls += 1
    state.rate_windows[account_sid] = (window, calls)
    return calls > limit


async def admit_api_call(request: web.Request, state: SandboxState, account_sid: str) -> str | web.StreamResponse:
    """Apply latency and the account's configured faults; the auth token if the call may proceed."""
    config = state.config
    behaviour = config.accounts.get(account_sid) or BEHAVE
    latency_ms = config.latency_ms if behaviour.latency_ms is None else behaviour.latency_ms
    if latency_ms:
        await asyncio.sleep(latency_ms / 1000)
    if behaviour.drop:
        return _drop_connection(request)
    token = _authenticate(request, account_sid)
    if not isinstance(token, str):
        return token
    if behaviour.fail_status is not None:
        return _forced_failure(behaviour.fail_status)
    if behaviour.rate_limit_per_s is not None and over_rate_limit(state, account_sid, behaviour.rate_limit_per_s):
        return twilio_error(429, 20429, "Too Many Requests")
    return token


def _drop_connection(request: web.Request) -> web.StreamResponse:
    """Close the socket without a status line, as a crashed or unreachable provider would."""
    if request.transport is not None:
        request.transport.abort()
    # aiohttp still wants a response object; it cannot be written to a closed transport.
    return web.Response(status=503)


async def create_message(request: web.Request) -> web.StreamResponse:
    """POST .../Accounts/{account_sid}/Messages.json: accept, record and answer 201."""
    state = request.app[SANDBOX_STATE]
    account_sid = request.match_info["account_sid"]
    token = await admit_api_call(request, state, account_sid)
    if not isinstance(token, str):
        return token
    form = await request.post()
    to = form.get("To")
    body = form.get("Body")
    from_number = form.get("From") or None
    service_sid = form.get("MessagingServiceSid") or None
    callback = form.get("StatusCallback") or None
    if not to:
        return twilio_error(400, 21604, "A 'To' phone number is required.")
    if not isinstance(to, str) or not E164.match(to):
        return twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
    if not from_number and not service_sid:
        return twilio_error(400, 21603, "A 'From' phone number is required.")
    if not body or not isinstance(body, str):
        return twilio_error(400, 21602, "Message body is required.")
    if len(body) > MAX_BODY_CHARS:
        return twilio_error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
    if callback is not None and not (isinstance(callback, str) and callback.startswith(("http://", "https://"))):
        return twilio_error(400, 21609, f"The StatusCallback URL {callback} is not a valid URL.")
    now = time.time()
    message = SmsMessage(
        to=to,
        sender=str(from_number or service_sid),
        body=body,
        at=now,
        updated_at=now,
        sid=new_sid(),
        account_sid=account_sid,
        status="queued",
        from_number=from_number if isinstance(from_number, str) else None,
        messaging_service_sid=service_sid if isinstance(service_sid, str) else None,
        status_callback=callback,
        auth_token=token,
        num_segments=count_segments(body),
    )
    state.account_tokens[account_sid] = token
    state.record(message)
    resource = message.resource()  # built before the lifecycle can move the status on
    request.app[TWILIO_WEBHOOKS].message_accepted(message)
    return web.json_response(resource, status=201)


async def fetch_message(request: web.Request) -> web.StreamResponse:
    """GET .../Accounts/{account_sid}/Messages/{message_sid}.json: the message as it is now."""
    state = request.app[SANDBOX_STATE]
    account_sid = request.match_info["account_sid"]
    token = await admit_api_call(request, state, account_sid)
    if not isinstance(token, str):
        return token
    sid = request.match_info["message_sid"]
    message = state.find(sid)
    if not isinstance(message, SmsMessage) or message.account_sid != account_sid:
        return twilio_error(
            404, 20404, f"The requested resource /2010-04-01/Accounts/{account_sid}/Messages/{sid}.json was not found"
        )
    return web.json_response(message.resource())


def add_twilio_routes(app: web.Application, prefix: str = "/twilio") -> None:
    """Register the Messages resource under `prefix` (Twilio's API root)."""
    base = f"{prefix}/2010-04-01/Accounts/{{account_sid}}"
    app.router.add_post(f"{base}/Messages.json", create_message)
    app.router.add_get(f"{base}/Messages/{{message_sid}}.json", fetch_message)
