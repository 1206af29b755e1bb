"""Twilio webhooks: inbound SMS and message status callbacks.

The signature is checked before anything in the body is used. Twilio signs the public URL it
called, so the check uses Tocsin's configured public URL, not the URL this process sees (they
differ behind a proxy). Two auth tokens may be valid at once while credentials rotate.
"""
from __future__ import annotations

import logging
from typing import Mapping

from aiohttp import web
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from alerting import deliveries, replies, telemetry
from alerting.contacts import ContactError, normalize_phone
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


async def verified_form(request: web.Request) -> Mapping[str, str]:
    signature = request.headers.get("X-Twilio-Signature", "")
    form = await request.post()
    params = {k: v for k, v in form.items() if isinstance(v, str)}
    url = request.app[RUNTIME].settings.effective_public_url + request.path_qs
    if not signature or not any(RequestValidator(t).validate(url, params, signature)
                                for t in request.app[TWILIO_TOKENS]):
        log.warning("refused a Twilio webhook with a missing or wrong signature on %s", request.path)
        telemetry.webhook(_hook_name(request), "refused")
        raise web.HTTPForbidden(text="invalid Twilio signature")
    telemetry.webhook(_hook_name(request), "accepted")
    return params


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
