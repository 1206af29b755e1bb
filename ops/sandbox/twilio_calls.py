"""The fake Twilio REST Calls resource, wire-compatible with the official client.

    POST .../Accounts/{sid}/Calls.json          place a call (`client.calls.create_async`)
    GET  .../Accounts/{sid}/Calls/{sid}.json    the call as it is now
    POST .../Accounts/{sid}/Calls/{sid}.json    `Status=completed|canceled`: hang up

Calls go through the same admission as Messages (`twilio_api.admit_api_call`:
latency, drop, auth, fail_status, rate_limit_per_s), then the account's
`calls_per_s`, in a window of its own. The 201 answers with status `queued`;
the fake carrier (`voice_carrier.py`) plays the call afterwards.
"""

from __future__ import annotations

import time

from aiohttp import web

from .keys import SANDBOX_STATE, VOICE_CARRIER
from .sms import E164, new_sid
from .twilio_api import BEHAVE, admit_api_call, over_rate_limit, twilio_error
from .twiml import TwimlError
from .voice_call import MACHINE_DETECTION, STATUS_EVENTS, VoiceCall
from .voice_twiml import parse_voice_twiml

MAX_TWIML_CHARS = 4000  # Twilio's limit for inline `Twiml`
_METHODS = ("GET", "POST")


def _is_url(value: object) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://"))


def _method(value: object, name: str) -> str | web.Response:
    method = str(value or "POST").upper()
    if method not in _METHODS:
        return twilio_error(400, 21207 if name == "Method" else 21610, f"{name} must be GET or POST, got {value}")
    return method


async def create_call(request: web.Request) -> web.StreamResponse:
    """POST .../Accounts/{account_sid}/Calls.json: accept, record, answer 201, then ring."""
    state = request.app[SANDBOX_STATE]
    account_sid = request.match_info["account_sid"]
    token = await admit_api_call(request, state, account_sid)
    if not isinstance(token, str):
        return token
    behaviour = state.config.accounts.get(account_sid) or BEHAVE
    if behaviour.calls_per_s is not None and over_rate_limit(state, f"{account_sid}/calls", behaviour.calls_per_s):
        return twilio_error(429, 20429, "Too Many Requests")
    form = await request.post()
    to, from_number = form.get("To"), form.get("From")
    url, twiml = form.get("Url") or None, form.get("Twiml") or None
    callback = form.get("StatusCallback") or None
    detection = form.get("MachineDetection") or None
    if not to:
        return twilio_error(400, 21201, "No 'To' number is specified")
    if not isinstance(to, str) or not E164.match(to):
        return twilio_error(400, 21211, f"Invalid 'To' Phone Number: {to}")
    if not from_number:
        return twilio_error(400, 21213, "No 'From' number is specified")
    if not isinstance(from_number, str) or not E164.match(from_number):
        return twilio_error(400, 21212, f"Invalid 'From' Phone Number: {from_number}")
    if url is None and twiml is None:
        return twilio_error(400, 21205, "Either a 'Url' or a 'Twiml' parameter is required.")
    if url is not None and not _is_url(url):
        return twilio_error(400, 21205, f"Url is not a valid URL: {url}")
    if url is not None:
        twiml = None  # as on Twilio, Url wins when both are given
    elif not isinstance(twiml, str) or len(twiml) > MAX_TWIML_CHARS:
        return twilio_error(400, 21232, f"Twiml must be at most {MAX_TWIML_CHARS} characters.")
    else:
        try:
            parse_voice_twiml(twiml)
        except TwimlError as exc:
            return twilio_error(400, 12100, f"Document parse failure: {exc}")
    if callback is not None and not _is_url(callback):
        return twilio_error(400, 21609, f"The StatusCallback URL {callback} is not a valid URL.")
    if detection is not None and detection not in MACHINE_DETECTION:
        return twilio_error(400, 21626, f"MachineDetection must be Enable or DetectMessageEnd, got {detection}")
    events = {event for value in form.getall("StatusCallbackEvent", []) for event in str(value).split()}
    if not events <= STATUS_EVENTS:
        bad = ", ".join(sorted(events - STATUS_EVENTS))
        return twilio_error(400, 21626, f"Invalid StatusCallbackEvent: {bad}")
    method = _method(form.get("Method"), "Method")
    callback_method = _method(form.get("StatusCallbackMethod"), "StatusCallbackMethod")
    if isinstance(method, web.Response):
        return method
    if isinstance(callback_method, web.Response):
        return callback_method
    now = time.time()
    call = VoiceCall(
        to=to,
        sender=from_number,
        at=now,
        updated_at=now,
        sid=new_sid("CA"),
        account_sid=account_sid,
        url=url if isinstance(url, str) else None,
        method=method,
        twiml=twiml if isinstance(twiml, str) else None,
        status_callback=callback if isinstance(callback, str) else None,
        status_callback_method=callback_method,
        status_events=frozenset(events or {"completed"}),
        machine_detection=detection if isinstance(detection, str) else None,
        auth_token=token,
    )
    state.account_tokens[account_sid] = token
    state.record(call)
    resource = call.resource()  # built before the carrier can move the status on
    request.app[VOICE_CARRIER].call_placed(call)
    return web.json_response(resource, status=201)


def _find_call(request: web.Request, account_sid: str) -> VoiceCall | web.Response:
    sid = request.match_info["call_sid"]
    call = request.app[SANDBOX_STATE].find(sid)
    if not isinstance(call, VoiceCall) or call.account_sid != account_sid:
        return twilio_error(
            404, 20404, f"The requested resource /2010-04-01/Accounts/{account_sid}/Calls/{sid}.json was not found"
        )
    return call


async def fetch_call(request: web.Request) -> web.StreamResponse:
    """GET .../Accounts/{account_sid}/Calls/{call_sid}.json: the call as it is now."""
    account_sid = request.match_info["account_sid"]
    token = await admit_api_call(request, request.app[SANDBOX_STATE], account_sid)
    if not isinstance(token, str):
        return token
    call = _find_call(request, account_sid)
    return call if isinstance(call, web.Response) else web.json_response(call.resource())


async def update_call(request: web.Request) -> web.StreamResponse:
    """POST .../Calls/{call_sid}.json `Status=completed|canceled`: end the call now."""
    account_sid = request.match_info["account_sid"]
    token = await admit_api_call(request, request.app[SANDBOX_STATE], account_sid)
    if not isinstance(token, str):
        return token
    call = _find_call(request, account_sid)
    if isinstance(call, web.Response):
        return call
    form = await request.post()
    status = form.get("Status")
    if status not in ("completed", "canceled"):
        return twilio_error(400, 21218, f"Status must be completed or canceled, got {status}")
    if status == "canceled" and call.status not in ("queued", "initiated", "ringing"):
        return twilio_error(400, 21220, "Call is not in a cancelable state (it was answered or is over).")
    request.app[VOICE_CARRIER].hang_up(call, status if call.start_time is None else "completed")
    return web.json_response(call.resource())


def add_twilio_call_routes(app: web.Application, prefix: str = "/twilio") -> None:
    """Register the Calls resource under `prefix` (Twilio's API root)."""
    base = f"{prefix}/2010-04-01/Accounts/{{account_sid}}"
    app.router.add_post(f"{base}/Calls.json", create_call)
    app.router.add_get(f"{base}/Calls/{{call_sid}}.json", fetch_call)
    app.router.add_post(f"{base}/Calls/{{call_sid}}.json", update_call)
