"""The public sign-up page: residents subscribe, verify, manage and delete their subscription.

    GET  /subscribe                      the form: phone and/or email, language, zones or a pin, consent
    POST /subscribe                      checked; a code is texted, a link emailed
    POST /subscribe/verify               the code: subscribed (SMS)
    GET  /subscribe/email/{token}        the emailed link: a button (link scanners only GET) ...
    POST /subscribe/email/{token}        ... that subscribes (email)
    GET  /subscribe/manage               ask for a manage link, by text or email
    POST /subscribe/manage               sends it (the same answer whether or not we know the address)
    GET  /subscribe/manage/{token}       the person's subscription; POST changes it
    POST /subscribe/manage/{token}/delete  deletes it (a self-subscriber is erased: alerting/privacy.py)

Helpers shared with the manage pages: console/public_signup_support.py; those pages:
console/public_signup_manage.py. No login and no cookie. Each form carries a signed token (itsdangerous) that is its CSRF defence
and its clock: a form sent back sooner than `min_fill_s` after it was served is refused, as is a
form whose honeypot field (hidden from people) is filled; a bot is answered as if it succeeded.
POSTs are limited per client IP (Redis); codes and links per number and address (the database,
alerting/signup_codes.py). Codes are single-use, expire, and die after five wrong tries.
Verification messages go straight through the channel adapters (the normal providers), not a queue:
the person is waiting for them.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerting import consent, signup_codes, subscriptions
from alerting.contacts import ContactError, normalize_email, normalize_phone
from alerting.errors import ValidationError
from alerting.models import OptOut, Recipient, SubscriptionRequest, Zone
from alerting.statuses import Channel
from console import public_signup_manage as manage
from console.db import in_transaction
from console.keys import RUNTIME
from console.public_signup_support import (HONEYPOT, SIGNUP_CONFIG, SignupConfig, check_form_token, form_context,
                                           ip_allowed, language_of, page, public, send_now, sign, too_many, unsign)
from console.subscribe_texts import texts

__all__ = ["SIGNUP_CONFIG", "SignupConfig", "setup"]

log = logging.getLogger(__name__)


def setup(app: web.Application, config: SignupConfig | None = None) -> None:
    if SIGNUP_CONFIG not in app:
        app[SIGNUP_CONFIG] = config or SignupConfig()
    app.router.add_get("/subscribe", form_page)
    app.router.add_post("/subscribe", submit)
    app.router.add_post("/subscribe/verify", public(verify_code))
    app.router.add_get("/subscribe/email/{token}", public(email_page))
    app.router.add_post("/subscribe/email/{token}", public(confirm_email))
    app.router.add_get("/subscribe/manage", manage.manage_request_page)
    app.router.add_post("/subscribe/manage", manage.send_manage_link)
    app.router.add_get("/subscribe/manage/{token}", public(manage.manage_page))
    app.router.add_post("/subscribe/manage/{token}", public(manage.update_subscription))
    app.router.add_post("/subscribe/manage/{token}/delete", public(manage.delete_subscription))


async def form_page(request: web.Request) -> web.Response:
    language = language_of(request.query.get("lang"))
    return page(request, "subscribe.html", {**await form_context(request, language), "values": {}, "errors": {}})


@dataclass
class Signup:
    phone: str | None
    email: str | None
    language: str
    zones: list[str]
    pin: tuple[float, float] | None
    #: The consent text version the page showed (a page loaded before a new version keeps its own).
    consent_version: str = consent.WEB_VERSION


def _parse(form: Any, zone_names: set[str], channels: tuple[str, ...]) -> tuple[Signup, dict[str, str]]:
    errors: dict[str, str] = {}
    language = language_of(form.get("language"))
    t = texts(language)
    phone = email = None
    if str(form.get("phone", "")).strip():
        try:
            phone = normalize_phone(str(form["phone"]))
        except ContactError:
            errors["phone"] = t["error_phone"]
        if Channel.SMS not in channels:
            errors["phone"] = t["error_no_sms"]
    if str(form.get("email", "")).strip():
        try:
            email = normalize_email(str(form["email"]))
        except ContactError:
            errors["email"] = t["error_email"]
        if Channel.EMAIL not in channels:
            errors["email"] = t["error_no_email"]
    if not phone and not email and not errors:
        errors["phone"] = t["error_contact"]
    chosen = [z for z in form.getall("zones", []) if isinstance(z, str)]
    unknown = [z for z in chosen if z not in zone_names]
    if unknown:
        errors["zones"] = t["error_zones"]
    pin = None
    lat, lon = str(form.get("lat", "")).strip(), str(form.get("lon", "")).strip()
    if lat or lon:
        try:
            pin = (float(lat), float(lon))
            if not (-90 <= pin[0] <= 90 and -180 <= pin[1] <= 180):
                raise ValueError
        except ValueError:
            errors["pin"] = t["error_pin"]
            pin = None
    if form.get("consent") != "yes":
        errors["consent"] = t["error_consent"]
    shown = form.get("consent_version")
    version = shown if shown in consent.DEFAULT_TEXTS and str(shown).startswith("web-") else consent.WEB_VERSION
    return Signup(phone, email, language, sorted(set(chosen) - set(unknown)), pin, version), errors


async def submit(request: web.Request) -> web.Response:
    if not await ip_allowed(request):
        return too_many(request)
    form = await request.post()
    language = language_of(form.get("language"))
    if str(form.get(HONEYPOT, "")).strip():
        log.info("sign-up honeypot filled; answered as a success, nothing sent")
        return page(request, "subscribe_message.html", {"heading": texts(language)["check_both"],
                                                        "message": texts(language)["emailed"],
                                                        "language": language})
    runtime = request.app[RUNTIME]
    channels = runtime.available_channels
    zone_names = set(await in_transaction(request, lambda s: list(s.scalars(select(Zone.name)))))
    signup, errors = _parse(form, zone_names, channels)
    refused = check_form_token(request, form.get("form_token"))
    if refused:
        errors["form"] = refused
    if not errors:
        try:
            started = await in_transaction(request, lambda s: _start(s, runtime.secret_key, signup,
                                                                     request.app[SIGNUP_CONFIG]))
        except ValidationError as exc:
            errors[exc.field or "form"] = exc.message
    if errors:
        values = {k: str(form.get(k, "")) for k in ("phone", "email", "lat", "lon")}
        values["zones"] = signup.zones
        values["consent"] = form.get("consent") == "yes"
        return page(request, "subscribe.html", {**await form_context(request, language), "values": values,
                                                "errors": errors}, status=422)
    phone_request, code, email_request = started
    if email_request is not None:
        link = f"{runtime.settings.effective_public_url}/subscribe/email/{sign(request, 'email', email_request)}"
        await send_now(request, Channel.EMAIL, signup.email or "", _email_body(runtime.settings.org_name, link),
                       subject=f"{runtime.settings.org_name}: confirm your emergency alerts")
    sent_code = False
    if phone_request is not None:
        sent_code = await send_now(request, Channel.SMS, signup.phone or "",
                                   f"{runtime.settings.org_name}: your code to confirm emergency alerts is {code}. "
                                   f"It expires in {int(request.app[SIGNUP_CONFIG].code_ttl.total_seconds() // 60)} "
                                   f"minutes.")
    return page(request, "subscribe_verify.html", {
        "verify_token": sign(request, "code", phone_request) if phone_request else "",
        "sent_code": sent_code, "emailed": email_request is not None, "errors": {}, "language": language})


def _start(session: Session, key: str, signup: Signup, config: SignupConfig) -> tuple[int | None, str, int | None]:
    payload = {"language": signup.language, "zones": signup.zones,
               "pin": list(signup.pin) if signup.pin else None, "consent_version": signup.consent_version}
    phone_request = email_request = None
    code = ""
    if signup.phone and session.scalar(select(OptOut.id).where(OptOut.channel == Channel.SMS,
                                                               OptOut.address == signup.phone)):
        # A number that texted STOP gets no code from a web form (anyone may type a number here).
        raise ValidationError("This number asked us to stop texting it. Text START to us from it first, "
                              "then sign up again.", field="phone")
    if signup.phone:
        request, code = signup_codes.start_verification(
            session, key, signup_codes.PHONE_CODE, Channel.SMS, signup.phone, payload, ttl=config.code_ttl,
            per_hour=config.per_address_per_hour, field_name="phone")
        phone_request = request.id
        consent.requested(session, key, Channel.SMS, signup.phone, method=consent.Method.WEB,
                          text_version=consent.WEB_VERSION, locale=signup.language, actor="web-signup")
    if signup.email:
        request, _ = signup_codes.start_verification(
            session, key, signup_codes.EMAIL_LINK, Channel.EMAIL, signup.email,
            {**payload, "sibling": phone_request}, ttl=config.link_ttl, per_hour=config.per_address_per_hour,
            field_name="email")
        email_request = request.id
        if phone_request is not None:
            first = session.get(SubscriptionRequest, phone_request)
            first.payload = {**first.payload, "sibling": email_request}
        consent.requested(session, key, Channel.EMAIL, signup.email, method=consent.Method.WEB,
                          text_version=consent.WEB_VERSION, locale=signup.language, actor="web-signup")
    return phone_request, code, email_request


def _email_body(org_name: str, link: str) -> str:
    return (f"Someone (we hope you) asked to receive emergency alerts from {org_name} at this address.\n\n"
            f"To confirm, open this link and press the button:\n{link}\n\n"
            f"If it was not you, ignore this email: nothing will be sent to you.")


async def verify_code(request: web.Request) -> web.Response:
    if not await ip_allowed(request):
        return too_many(request)
    form = await request.post()
    token = str(form.get("verify_token", ""))
    config = request.app[SIGNUP_CONFIG]
    request_id = unsign(request, "code", token, config.code_ttl.total_seconds() + 60)
    runtime = request.app[RUNTIME]
    outcome = await in_transaction(request, lambda s: _redeem_code(s, runtime.secret_key, request_id,
                                                                   str(form.get("code", ""))))
    if isinstance(outcome, str):
        return page(request, "subscribe_verify.html", {"verify_token": token, "sent_code": True, "emailed": False,
                                                       "errors": {"code": outcome},
                                                       "language": language_of(form.get("language"))}, status=422)
    return _subscribed(request, *outcome)


def _redeem_code(session: Session, key: str, request_id: int, code: str) -> tuple[int, str, str] | str:
    """(the subscribed person's id, the channel, their language), or why the code was refused
    (returned, not raised, so that the transaction commits the wrong attempt it counted)."""
    try:
        found = signup_codes.redeem(session, key, request_id, signup_codes.PHONE_CODE, code)
    except ValidationError as exc:
        return exc.message
    language = language_of(found.payload.get("language"))
    return _activate(session, key, found, Channel.SMS), Channel.SMS, language


def _activate(session: Session, key: str, found: Any, channel: str) -> int:
    payload, address = found.payload, found.address
    pin = tuple(payload["pin"]) if payload.get("pin") else None
    sibling = payload.get("sibling")
    earlier = None
    if sibling:
        # The same sign-up's other contact, verified already: one person with both, never two.
        other = session.get(SubscriptionRequest, sibling)
        if other is not None and other.used_at is not None:
            earlier = session.get(Recipient, other.payload.get("recipient_id"))
    phone = address if channel == Channel.SMS else (earlier.phone if earlier else None)
    email = address if channel == Channel.EMAIL else (earlier.email if earlier else None)
    person = subscriptions.subscribe(session, source="web", locale=payload.get("language", "en"), phone=phone,
                                     email=email, zones=payload.get("zones", []), pin=pin)
    consent.opt_in(session, key, channel, address, method=consent.Method.WEB,
                   text_version=payload.get("consent_version"), locale=payload.get("language", "en"),
                   recipient_id=person.id, actor="web-signup")
    found.payload = {"recipient_id": person.id}
    found.address = None
    return person.id


def _subscribed(request: web.Request, recipient_id: int, channel: str, language: str) -> web.Response:
    link = f"/subscribe/manage/{sign(request, 'manage', recipient_id)}"
    t = texts(language)
    return page(request, "subscribe_message.html", {
        "heading": t["subscribed"], "message": t["subscribed_sms" if channel == Channel.SMS else "subscribed_email"],
        "manage_link": link, "language": language})


async def email_page(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    request_id = unsign(request, "email", token, request.app[SIGNUP_CONFIG].link_ttl.total_seconds())

    def requested_language(session: Session) -> str:
        found = session.get(SubscriptionRequest, request_id)
        return language_of((found.payload or {}).get("language") if found is not None else None)

    return page(request, "subscribe_verify.html", {"email_token": token, "errors": {},
                                                   "language": await in_transaction(request, requested_language)})


async def confirm_email(request: web.Request) -> web.Response:
    if not await ip_allowed(request):
        return too_many(request)
    token = request.match_info["token"]
    request_id = unsign(request, "email", token, request.app[SIGNUP_CONFIG].link_ttl.total_seconds())
    key = request.app[RUNTIME].secret_key

    def work(session: Session) -> tuple[int, str]:
        found = signup_codes.redeem(session, key, request_id, signup_codes.EMAIL_LINK)
        language = language_of(found.payload.get("language"))
        return _activate(session, key, found, Channel.EMAIL), language

    try:
        recipient_id, language = await in_transaction(request, work)
    except ValidationError as exc:
        return page(request, "subscribe_message.html", {"heading": "This link cannot be used",
                                                        "message": exc.message}, status=410)
    return _subscribed(request, recipient_id, Channel.EMAIL, language)
