"""The sandbox's own endpoints: look at inboxes and stats, configure, reset, and reply.

These take no credentials: the sandbox is a test double on a private port or
under `/sandbox/` of a development server, never a production component.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from .config import ConfigError
from .http_json import json_error, json_object
from .keys import PUSH_SERVICE, SANDBOX_STATE, TWILIO_WEBHOOKS
from .sms import API_VERSION, SmsMessage, count_segments, new_sid
from .twilio_webhooks import WEBHOOK_ERRORS
from .twiml import TwimlError, parse_twiml_messages


async def list_messages(request: web.Request) -> web.Response:
    """GET /sandbox/messages[?to=ADDRESS]: an inbox, or the last 1,000 messages to anyone; oldest first."""
    state = request.app[SANDBOX_STATE]
    to = request.query.get("to")
    messages = state.recent() if to is None else state.inbox(to)
    return web.json_response([message.to_json() for message in messages])


async def stats(request: web.Request) -> web.Response:
    """GET /sandbox/stats: per channel (sms, voice, push, email) `{count, first_at, last_at}`, plus callbacks.

    Counts are what the providers accepted: API calls for SMS and voice, pushes,
    and one per recipient for email. `callbacks.pending` includes calls the fake
    carrier has not finished playing (up to a waiting <Gather>).
    """
    state = request.app[SANDBOX_STATE]
    body: dict[str, Any] = {channel: counts.to_json() for channel, counts in state.stats().items()}
    body["callbacks"] = {
        "sent": state.callbacks.sent,
        "failed": state.callbacks.failed,
        "pending": request.app[TWILIO_WEBHOOKS].pending,
    }
    return web.json_response(body)


async def tally(request: web.Request) -> web.Response:
    """GET /sandbox/tally?channel=sms[&contains=TEXT]: `{address: messages received}` on that channel,
    counting only bodies that hold TEXT; for counting missing and duplicated messages in bulk."""
    channel = request.query.get("channel")
    if not channel:
        return json_error(400, "'channel' is required (sms, voice, push or email)", field="channel")
    return web.json_response(request.app[SANDBOX_STATE].tally(channel, request.query.get("contains", "")))


def _config_json(request: web.Request) -> dict[str, Any]:
    state = request.app[SANDBOX_STATE]
    # Where the SMTP server listens is a fact of this process, not settable config.
    return {**state.config.to_json(), "smtp_host": state.smtp_host, "smtp_port": state.smtp_port}


async def get_config(request: web.Request) -> web.Response:
    """GET /sandbox/config: the configuration in force, plus where the SMTP server listens."""
    return web.json_response(_config_json(request))


async def post_config(request: web.Request) -> web.Response:
    """POST /sandbox/config: merge a JSON object into the configuration; 400 names a bad field."""
    patch = await json_object(request)
    if isinstance(patch, web.Response):
        return patch
    state = request.app[SANDBOX_STATE]
    try:
        state.configure(patch)
    except ConfigError as exc:
        return json_error(400, str(exc), field=exc.field)
    return web.json_response(_config_json(request))


async def reset(request: web.Request) -> web.Response:
    """POST /sandbox/reset: forget messages and stats.

    `{"config": true}` also restores the starting config; `{"push": true}` also
    forgets the push subscriptions, which otherwise survive (they stand for
    browsers that an app under test may have registered).
    """
    payload = await json_object(request, optional=True)
    if isinstance(payload, web.Response):
        return payload
    flags = {}
    for name in ("config", "push"):
        flags[name] = payload.get(name, False)
        if not isinstance(flags[name], bool):
            return json_error(400, f"{name} must be true or false, got {flags[name]!r}", field=name)
    request.app[SANDBOX_STATE].reset(config=flags["config"])
    if flags["push"]:
        request.app[PUSH_SERVICE].clear()
    return web.json_response({"reset": True, **flags})


async def sms_reply(request: web.Request) -> web.Response:
    """POST /sandbox/sms/reply `{"from", "body"}`: a phone answers the last SMS it received.

    Delivers a signed inbound-SMS webhook to the configured `inbound_sms_url`, as
    Twilio would, and records each `<Message>` of the TwiML answer in the
    phone's inbox (uncounted in stats: no API call was made).
    """
    payload = await json_object(request)
    if isinstance(payload, web.Response):
        return payload
    phone, body = payload.get("from"), payload.get("body")
    if not isinstance(phone, str) or not phone:
        return json_error(400, "'from' (the replying phone number) is required", field="from")
    if not isinstance(body, str) or not body:
        return json_error(400, "'body' (the reply text) is required", field="body")
    state = request.app[SANDBOX_STATE]
    config = state.config
    url = config.inbound_sms_url
    if url is None:
        return json_error(
            409,
            "no inbound SMS URL: pass inbound_sms_url to create_sandbox_app or POST /sandbox/config "
            '{"inbound_sms_url": "http://..."}',
        )
    last = state.latest_to(phone, "sms")
    if isinstance(last, SmsMessage) and last.account_sid:
        account_sid, token, number = last.account_sid, last.auth_token, last.sender
        service_sid = last.messaging_service_sid
    elif config.default_account is not None and config.default_from is not None:
        account_sid, token = config.default_account.sid, config.default_account.token
        number, service_sid = config.default_from, None
    else:
        return json_error(
            409,
            f"{phone} never received an SMS from the sandbox, so there is nothing to reply to; "
            "send it one first or configure default_account and default_from",
        )
    sid = new_sid()
    params = {
        "MessageSid": sid,
        "SmsSid": sid,
        "SmsMessageSid": sid,
        "AccountSid": account_sid,
        "From": phone,
        "To": number,
        "Body": body,
        "NumMedia": "0",
        "NumSegments": str(count_segments(body)),
        "SmsStatus": "received",
        "ApiVersion": API_VERSION,
    }
    if service_sid:
        params["MessagingServiceSid"] = service_sid
    try:
        answer = await request.app[TWILIO_WEBHOOKS].post(url, params, token)
    except WEBHOOK_ERRORS as exc:
        return json_error(502, f"inbound SMS webhook failed: {exc!r}", delivered=False, webhook_status=None, replies=[])
    result: dict[str, Any] = {
        "delivered": 200 <= answer.status < 300,
        "webhook_status": answer.status,
        "message_sid": sid,
        "replies": [],
    }
    if not result["delivered"]:
        return web.json_response(result)
    try:
        replies = parse_twiml_messages(answer.text)
    except TwimlError as exc:
        result["twiml_error"] = str(exc)
        return web.json_response(result)
    now = time.time()
    for reply in replies:
        state.record(
            SmsMessage(
                to=reply.to or phone,
                sender=reply.from_ or number,
                body=reply.body,
                at=now,
                updated_at=now,
                sid=new_sid(),
                account_sid=account_sid,
                status="delivered",
                from_number=reply.from_ or (number if service_sid is None else None),
                messaging_service_sid=service_sid,
                auth_token=token,
                num_segments=count_segments(reply.body),
                direction="outbound-reply",
            ),
            count=False,
        )
        result["replies"].append(reply.body)
    return web.json_response(result)
