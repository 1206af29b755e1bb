"""Twilio webhooks: inbound SMS and message status callbacks.

The signature is checked before anything in the body is used. Twilio signs the public URL it
called, so the check uses Tocsin's configured public URL, not the URL this process sees (they
differ behind a proxy). Two auth tokens may be valid at once while credentials rotate.

A status callback arrives for every message twice (sent, delivered), so this path is lean: the
form is read with a size cap and parsed with `parse_qsl`, and the signature checked by
`channels.twilio_signature` (one HMAC per URL variant and token, exactly what Twilio's
`RequestValidator` accepts) rather than aiohttp's form machinery and a validator built per request.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import lru_cache
from urllib.parse import parse_qsl

from aiohttp import web
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from twilio.twiml.messaging_response import MessagingResponse

from alerting import deliveries, replies, telemetry
from alerting.contacts import ContactError, normalize_phone
from channels.twilio_signature import SIGNATURE_HEADER, SignatureCheck
from console import live
from console.db import in_transaction
from console.keys import RUNTIME, STATUS_WRITER, TWILIO_TOKENS

log = logging.getLogger(__name__)


def _twiml(*messages: str) -> web.Response:
    response = MessagingResponse()
    for text in messages:
        response.message(text)
    return web.Response(text=str(response), content_type="application/xml")


#: Delivery ids fit a signed 64-bit integer; anything longer is not ours.
MAX_ID_DIGITS = 18


def delivery_id_of(request: web.Request) -> int | None:
    """The `d` query parameter our callback URLs carry, if it is a plausible delivery id."""
    raw = request.query.get("d", "")
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= MAX_ID_DIGITS else None


#: Twilio's forms are small: an inbound SMS of 1,600 characters, percent-encoded, is under 16 kB.
MAX_FORM_BYTES = 64 * 1024
MAX_FORM_FIELDS = 200
FORM_TYPE = "application/x-www-form-urlencoded"


async def verified_form(request: web.Request) -> Mapping[str, str]:
    """The webhook's form fields once its signature is Twilio's; 403 otherwise (and 400, 413 or 415
    for a body that is no small form). A field sent more than once is signed with all its values,
    as Twilio signs it, and read here as its first."""
    signature = request.headers.get(SIGNATURE_HEADER, "")
    try:
        fields = await _form_fields(request) if signature else []
    except web.HTTPClientError:
        telemetry.webhook(_hook_name(request), "refused")
        raise
    url = request.app[RUNTIME].settings.effective_public_url + request.path_qs
    if not signature or not _signature_check(request.app[TWILIO_TOKENS]).valid(url, fields, signature):
        log.warning("refused a Twilio webhook with a missing or wrong signature on %s", request.path)
        telemetry.webhook(_hook_name(request), "refused")
        raise web.HTTPForbidden(text="invalid Twilio signature")
    telemetry.webhook(_hook_name(request), "accepted")
    params: dict[str, str] = {}
    for name, value in fields:
        params.setdefault(name, value)
    return params


@lru_cache(maxsize=8)
def _signature_check(tokens: tuple[str, ...]) -> SignatureCheck:
    return SignatureCheck(tokens)


async def _form_fields(request: web.Request) -> list[tuple[str, str]]:
    """The body's (name, value) pairs, read no further than MAX_FORM_BYTES."""
    if (request.content_length or 0) > MAX_FORM_BYTES:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_FORM_BYTES, actual_size=request.content_length or 0)
    body = b""
    while chunk := await request.content.read(MAX_FORM_BYTES + 1 - len(body)):
        body += chunk
        if len(body) > MAX_FORM_BYTES:  # a chunked body without a length
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_FORM_BYTES, actual_size=len(body))
    if not body:
        return []
    if request.content_type != FORM_TYPE:
        raise web.HTTPUnsupportedMediaType(text=f"a Twilio webhook is a form ({FORM_TYPE}), "
                                                f"not {request.content_type}")
    charset = request.charset or "utf-8"
    try:
        return parse_qsl(body.decode(charset), keep_blank_values=True, encoding=charset,
                         max_num_fields=MAX_FORM_FIELDS)
    except (LookupError, UnicodeDecodeError, ValueError) as exc:
        raise web.HTTPBadRequest(text=f"the form cannot be read: {exc}") from None


def _hook_name(request: web.Request) -> str:
    """The route's path pattern: a fixed set of label values, whatever the request's path holds."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unknown"


async def inbound_sms(request: web.Request) -> web.Response:
    params = await verified_form(request)
    settings = request.app[RUNTIME].settings
    try:
        phone = normalize_phone(params.get("From", ""))
    except ContactError:
        log.info("ignored an inbound SMS from an unusable number (message %s)", params.get("MessageSid"))
        return _twiml()
    body = params.get("Body", "")
    def record(s: Session) -> replies.InboundResult:
        return replies.record_inbound_sms(s, phone, body, params.get("MessageSid") or None,
                                          org_name=settings.org_name, org_contact=settings.org_contact,
                                          consent_key=request.app[RUNTIME].secret_key)
    try:
        result = await in_transaction(request, record)
    except IntegrityError:
        # Two copies of one reply at once (a provider's retry racing the original) both passed the
        # duplicate check; the loser runs again, finds the winner's row and is a duplicate.
        result = await in_transaction(request, record)
    log.info("inbound sms %s: %s, alert %s%s", params.get("MessageSid"), result.intent, result.alert_id,
             " (duplicate)" if result.duplicate else "", extra={"alert_id": result.alert_id})
    if result.alert_id is not None and not result.duplicate:
        await live.announce_response(request, result.alert_id, None, result.intent, "sms")
    return _twiml(result.reply) if result.reply else _twiml()


async def status_callback(request: web.Request) -> web.Response:
    params = await verified_form(request)
    delivery_id = delivery_id_of(request)
    if delivery_id is None:
        return web.Response(status=204)  # not one of ours; acknowledged so Twilio does not retry
    status = params.get("MessageStatus") or params.get("SmsStatus") or ""
    await request.app[STATUS_WRITER].submit(deliveries.StatusReport(
        delivery_id, params.get("MessageSid") or None, status, params.get("ErrorCode") or None))
    return web.Response(status=204)
