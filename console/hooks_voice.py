"""Twilio voice webhooks: what a call says, the key the person pressed, and how the call ended.

    POST /hooks/twilio/voice?d=<delivery>          the call was answered: what to say (TwiML)
    POST /hooks/twilio/voice/gather?d=<delivery>   a key was pressed during the call
    POST /hooks/twilio/call-status?d=<delivery>    the call ended: completed, busy, no-answer, failed

Every request is signature-checked first, as the SMS webhooks are (console/hooks_twilio.py). The
delivery id in the URL is part of what Twilio signs, so it cannot be swapped for another. A request
naming no voice delivery of ours gets an empty answer: Twilio hangs up, and nothing is written.
URLs handed to Twilio are absolute on the public URL, the one its signatures are computed over.
The TwiML is written by console/voice_twiml.py: the same text as the official `VoiceResponse`,
without building an element tree for every call.
"""
from __future__ import annotations

import logging

from aiohttp import web

from alerting import deliveries, voice
from alerting.statuses import ResponseKind
from alerting.voice import CallContext
from console import live
from console import voice_twiml as twiml
from console.db import in_thread, in_transaction
from console.hooks_twilio import delivery_id_of, verified_form
from console.keys import RUNTIME, STATUS_WRITER

log = logging.getLogger(__name__)

#: Seconds the call waits for a key after the prompt before saying goodbye.
GATHER_TIMEOUT_S = 8


def _twiml(*verbs: str) -> web.Response:
    return web.Response(text=twiml.response(*verbs), content_type="application/xml")


def _urls(request: web.Request, delivery_id: int) -> tuple[str, str]:
    """(what-to-say URL, gather action URL) for this call."""
    base = request.app[RUNTIME].settings.effective_public_url
    return f"{base}/hooks/twilio/voice?d={delivery_id}", f"{base}/hooks/twilio/voice/gather?d={delivery_id}"


def _is_machine(answered_by: str) -> bool:
    """Twilio's AnsweredBy: human, machine_start, machine_end_beep/silence/other, fax or unknown.
    Only a known machine is treated as one: a person must never miss the chance to answer."""
    return answered_by.startswith("machine") or answered_by == "fax"


def _gather(request: web.Request, context: CallContext, text: str, *, loop: int = 1) -> tuple[str, ...]:
    """Say `text` (`loop` times) then the prompt, waiting for a key; say goodbye if none comes."""
    words, language = context.words, context.language
    _, action = _urls(request, context.delivery_id)
    return (twiml.gather(twiml.say(text, language=language, loop=loop), twiml.say(words.prompt, language=language),
                         num_digits=1, action=action, method="POST", timeout=GATHER_TIMEOUT_S),
            twiml.say(words.no_answer, language=language), twiml.hangup())


async def answered(request: web.Request) -> web.Response:
    """The call was picked up: say the alert and ask for a key; a machine gets the message and an SMS."""
    params = await verified_form(request)
    delivery_id = delivery_id_of(request)
    if delivery_id is None:
        return _twiml()
    machine = _is_machine(params.get("AnsweredBy", ""))

    def work(session):  # type: ignore[no-untyped-def]
        context = voice.call_context(session, delivery_id)
        sms_id = voice.sms_instead(session, context) if context is not None and machine else None
        return context, sms_id

    context, sms_id = await in_transaction(request, work)
    if context is None or not context.open:
        return _twiml()  # not one of ours, or the alert was cancelled or closed before anyone answered
    if sms_id is not None:
        # Enqueued only after the commit, so the worker finds the row it is given.
        runtime = request.app[RUNTIME]
        await in_thread(request, lambda: runtime.enqueuer.enqueue_sends(
            context.alert_id, "sms", [[sms_id]], urgent=not context.drill))
    settings = request.app[RUNTIME].settings
    if machine:
        # A machine presses no key: leave the message once, after the beep, and hang up.
        verbs: tuple[str, ...] = (twiml.say(context.script(settings.org_name), language=context.language),
                                  twiml.hangup())
    elif not context.asks_answer:
        # A false alarm or an all clear asks nothing: said twice, then goodbye.
        verbs = (twiml.say(context.script(settings.org_name), language=context.language, loop=2), twiml.hangup())
    else:
        # Said twice, so someone who picks up mid-sentence still hears it whole; a key cuts it short.
        verbs = _gather(request, context, context.script(settings.org_name), loop=2)
    log.info("voice call %s for delivery %s answered by %s%s", params.get("CallSid"), delivery_id,
             "a machine" if machine else "a person", f", sms delivery {sms_id} added" if sms_id else "",
             extra={"alert_id": context.alert_id, "delivery_id": delivery_id})
    return _twiml(*verbs)


async def gathered(request: web.Request) -> web.Response:
    """A key was pressed: 1 safe, 2 need help, 9 hear it again; anything else is asked again."""
    params = await verified_form(request)
    delivery_id = delivery_id_of(request)
    if delivery_id is None:
        return _twiml()
    digits, call_sid = params.get("Digits", ""), params.get("CallSid", "")
    settings = request.app[RUNTIME].settings

    def work(session):  # type: ignore[no-untyped-def]
        context = voice.call_context(session, delivery_id)
        recorded = context is not None and bool(call_sid) and voice.record_key(session, context, digits, call_sid)
        return context, recorded

    context, recorded = await in_transaction(request, work)
    if context is None:
        return _twiml()
    words, language = context.words, context.language
    verbs: tuple[str, ...]
    if digits == voice.REPEAT_KEY:
        verbs = (twiml.redirect(_urls(request, delivery_id)[0], method="POST"),)
    elif digits not in voice.KEYS:
        verbs = _gather(request, context, words.not_understood)
    elif not context.open:
        verbs = (twiml.say(words.closed, language=language), twiml.hangup())  # a closed alert's report stays as it was
    else:
        safe = voice.KEYS[digits] == ResponseKind.SAFE
        text = words.safe if safe else words.need_help.format(contact=settings.org_contact)
        verbs = (twiml.say(text, language=language), twiml.hangup())
    log.info("voice call %s for delivery %s: key %s%s", call_sid, delivery_id, digits or "(none)",
             " recorded" if recorded else "", extra={"alert_id": context.alert_id, "delivery_id": delivery_id})
    if recorded:
        await live.announce_response(request, context.alert_id, context.recipient_id, voice.KEYS[digits], "voice")
    return _twiml(*verbs)


async def call_status(request: web.Request) -> web.Response:
    """How the call went (completed, busy, no-answer, failed), applied by the group committer."""
    params = await verified_form(request)
    delivery_id = delivery_id_of(request)
    if delivery_id is None:
        return web.Response(status=204)  # not one of ours; acknowledged so Twilio does not retry
    await request.app[STATUS_WRITER].submit(deliveries.StatusReport(
        delivery_id, params.get("CallSid") or None, params.get("CallStatus", ""), params.get("ErrorCode") or None))
    return web.Response(status=204)
