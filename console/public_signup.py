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

No login and no cookie. Each form carries a signed token (itsdangerous) that is its CSRF defence
and its clock: a form sent back sooner than `min_fill_s` after it was served is refused, as is a
form whose honeypot field (hidden from people) is filled; a bot is answered as if it succeeded.
POSTs are limited per client IP (Redis); codes and links per number and address (the database,
alerting/subscriptions.py). Codes are single-use, expire, and die after five wrong tries.
Verification messages go straight through the channel adapters (the normal providers), not a queue:
the person is waiting for them.
"""
from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Mapping

from aiohttp import web
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerting import consent, privacy, subscriptions, zones as zone_store
from alerting.contacts import ContactError, normalize_email, normalize_phone
from alerting.errors import PermissionDenied, ValidationError
from alerting.models import OptOut, Recipient, Subscriber, SubscriptionRequest, Zone
from alerting.statuses import Channel
from channels.base import Outbound, Outcome
from console.db import in_thread, in_transaction
from console.keys import RUNTIME
from console.public_pages import COMMON_HEADERS
from console.render import render
from console.subscribe_texts import texts

log = logging.getLogger(__name__)

LANGUAGES = {"en": "English", "es": "Español", "fr": "Français"}
HONEYPOT = "website"
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
       "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")


@dataclass(frozen=True)
class SignupConfig:
    #: A form sent back sooner than this after it was served is a bot's.
    min_fill_s: float = 3.0
    #: How long a served form stays usable.
    form_max_age_s: int = 2 * 3600
    code_ttl: timedelta = timedelta(minutes=10)
    link_ttl: timedelta = timedelta(hours=24)
    #: Codes or links per number or address and hour.
    per_address_per_hour: int = 3
    #: POSTs per client IP and hour: generous, because a campus or a library signs people up from
    #: behind one address; the per-number limit is what protects people from being texted codes.
    per_ip_per_hour: int = 120
    #: A manage link works this long.
    manage_max_age_s: int = 2 * 24 * 3600


SIGNUP_CONFIG = web.AppKey("signup_config", SignupConfig)


def setup(app: web.Application, config: SignupConfig | None = None) -> None:
    if SIGNUP_CONFIG not in app:
        app[SIGNUP_CONFIG] = config or SignupConfig()
    app.router.add_get("/subscribe", form_page)
    app.router.add_post("/subscribe", submit)
    app.router.add_post("/subscribe/verify", _public(verify_code))
    app.router.add_get("/subscribe/email/{token}", _public(email_page))
    app.router.add_post("/subscribe/email/{token}", _public(confirm_email))
    app.router.add_get("/subscribe/manage", manage_request_page)
    app.router.add_post("/subscribe/manage", send_manage_link)
    app.router.add_get("/subscribe/manage/{token}", _public(manage_page))
    app.router.add_post("/subscribe/manage/{token}", _public(update_subscription))
    app.router.add_post("/subscribe/manage/{token}/delete", _public(delete_subscription))


def _public(handler: Any) -> Any:
    """A bad or expired signed token becomes this page's message (403), not the API's JSON error."""
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except PermissionDenied as exc:
            return _page(request, "subscribe_message.html", {"heading": "This link cannot be used",
                                                             "message": f"{str(exc).capitalize()}."}, status=403)
    return wrapped


# ---- signed tokens ------------------------------------------------------------------------------

def _serializer(request: web.Request, purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(request.app[RUNTIME].secret_key, salt=f"tocsin.subscribe.{purpose}")


def form_token(request: web.Request) -> str:
    # The exact time it was served (the signature's own timestamp is in whole seconds).
    return _serializer(request, "form").dumps(round(time.time(), 3))


def _check_form_token(request: web.Request, token: Any) -> str | None:
    """None if the form may be used; else why not."""
    config = request.app[SIGNUP_CONFIG]
    try:
        served_at = float(_serializer(request, "form").loads(str(token or ""), max_age=config.form_max_age_s))
    except SignatureExpired:
        return "This form was open too long. Please fill it in again."
    except (BadSignature, TypeError, ValueError):
        return "This form did not come from this page. Please fill it in again."
    if time.time() - served_at < config.min_fill_s:
        return "That was quicker than a person can type. Please check the form and send it again."
    return None


def _sign(request: web.Request, purpose: str, value: int) -> str:
    return _serializer(request, purpose).dumps(value)


def _unsign(request: web.Request, purpose: str, token: str, max_age: float) -> int:
    try:
        value = _serializer(request, purpose).loads(token, max_age=max_age)
    except SignatureExpired:
        raise PermissionDenied("this link has expired; ask for a new one") from None
    except BadSignature:
        raise PermissionDenied("this link is not valid") from None
    return int(value)


# ---- limits -------------------------------------------------------------------------------------

def ip_key(ip: str, hour: int) -> str:
    """The Redis counter of one client's sign-up requests in one hour (the IP hashed: no addresses)."""
    return f"tocsin:signup:ip:{hashlib.sha256(ip.encode()).hexdigest()[:24]}:{hour}"


async def _ip_allowed(request: web.Request) -> bool:
    runtime = request.app[RUNTIME]
    key = ip_key(request.remote or "unknown", int(time.time() // 3600))

    def count() -> int:
        with runtime.redis.pipeline() as pipe:
            pipe.incr(key)
            pipe.expire(key, 3600)
            return int(pipe.execute()[0])

    return await in_thread(request, count) <= request.app[SIGNUP_CONFIG].per_ip_per_hour


def _too_many(request: web.Request) -> web.Response:
    return _page(request, "subscribe_message.html", {
        "heading": "Too many requests", "message": "Too many sign-up requests came from your network in the "
        "last hour. Please try again later."}, status=429)


# ---- pages --------------------------------------------------------------------------------------

def _page(request: web.Request, template: str, context: Mapping[str, Any], *, status: int = 200) -> web.Response:
    language = _language(context.get("language"))
    response = render(request, template, {"languages": LANGUAGES, "language": language, "t": texts(language),
                                          **context}, status=status)
    response.headers.update({"Content-Security-Policy": CSP, **COMMON_HEADERS})
    return response


def _language(value: Any) -> str:
    return value if value in LANGUAGES else "en"


def _zone_choices(session: Session) -> list[dict[str, Any]]:
    return [{"name": z.name, "description": z.description,
             "display": zone_store.zone_as_dict(session, z)["display"]}
            for z in session.scalars(select(Zone).order_by(Zone.name))]


async def _form_context(request: web.Request, language: str) -> dict[str, Any]:
    settings = request.app[RUNTIME].settings

    def load(session: Session) -> dict[str, Any]:
        wording = consent.consent_text(session, consent.WEB_VERSION, language, org_name=settings.org_name)
        return {"zones": _zone_choices(session), "consent_text": wording.text, "consent_version": wording.version}

    context = await in_transaction(request, load)
    channels = request.app[RUNTIME].available_channels
    return {**context, "language": language, "form_token": form_token(request), "honeypot": HONEYPOT,
            "sms_available": Channel.SMS in channels, "email_available": Channel.EMAIL in channels,
            "map_tiles": settings.map_tile_url or ""}


async def form_page(request: web.Request) -> web.Response:
    language = _language(request.query.get("lang"))
    return _page(request, "subscribe.html", {**await _form_context(request, language), "values": {}, "errors": {}})


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
    language = _language(form.get("language"))
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
    if not await _ip_allowed(request):
        return _too_many(request)
    form = await request.post()
    language = _language(form.get("language"))
    if str(form.get(HONEYPOT, "")).strip():
        log.info("sign-up honeypot filled; answered as a success, nothing sent")
        return _page(request, "subscribe_message.html", {"heading": texts(language)["check_both"],
                                                         "message": texts(language)["emailed"],
                                                         "language": language})
    runtime = request.app[RUNTIME]
    channels = runtime.available_channels
    zone_names = set(await in_transaction(request, lambda s: list(s.scalars(select(Zone.name)))))
    signup, errors = _parse(form, zone_names, channels)
    refused = _check_form_token(request, form.get("form_token"))
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
        return _page(request, "subscribe.html", {**await _form_context(request, language), "values": values,
                                                 "errors": errors}, status=422)
    phone_request, code, email_request = started
    if email_request is not None:
        link = f"{runtime.settings.effective_public_url}/subscribe/email/{_sign(request, 'email', email_request)}"
        await _send(request, Channel.EMAIL, signup.email or "", _email_body(runtime.settings.org_name, link),
                    subject=f"{runtime.settings.org_name}: confirm your emergency alerts")
    sent_code = False
    if phone_request is not None:
        sent_code = await _send(request, Channel.SMS, signup.phone or "",
                                f"{runtime.settings.org_name}: your code to confirm emergency alerts is {code}. "
                                f"It expires in {int(request.app[SIGNUP_CONFIG].code_ttl.total_seconds() // 60)} "
                                f"minutes.")
    return _page(request, "subscribe_verify.html", {
        "verify_token": _sign(request, "code", phone_request) if phone_request else "",
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
        request, code = subscriptions.start_verification(
            session, key, subscriptions.PHONE_CODE, Channel.SMS, signup.phone, payload, ttl=config.code_ttl,
            per_hour=config.per_address_per_hour, field_name="phone")
        phone_request = request.id
        consent.requested(session, key, Channel.SMS, signup.phone, method=consent.Method.WEB,
                          text_version=consent.WEB_VERSION, locale=signup.language, actor="web-signup")
    if signup.email:
        request, _ = subscriptions.start_verification(
            session, key, subscriptions.EMAIL_LINK, Channel.EMAIL, signup.email,
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


async def _send(request: web.Request, channel: str, to: str, body: str, *, subject: str | None = None) -> bool:
    """Send one message now through the channel's adapter (failover and all); True if a provider took it."""
    adapter = request.app[RUNTIME].make_adapter(channel)
    try:
        receipt = await adapter.send(Outbound(key=0, to=to, body=body, subject=subject))
    finally:
        await adapter.aclose()
    if receipt.outcome != Outcome.ACCEPTED:
        log.warning("a sign-up %s message was not accepted by %s: %s", channel, receipt.provider, receipt.error_code)
    return receipt.outcome == Outcome.ACCEPTED


async def verify_code(request: web.Request) -> web.Response:
    if not await _ip_allowed(request):
        return _too_many(request)
    form = await request.post()
    token = str(form.get("verify_token", ""))
    config = request.app[SIGNUP_CONFIG]
    request_id = _unsign(request, "code", token, config.code_ttl.total_seconds() + 60)
    runtime = request.app[RUNTIME]
    outcome = await in_transaction(request, lambda s: _redeem_code(s, runtime.secret_key, request_id,
                                                                   str(form.get("code", ""))))
    if isinstance(outcome, str):
        return _page(request, "subscribe_verify.html", {"verify_token": token, "sent_code": True, "emailed": False,
                                                        "errors": {"code": outcome},
                                                        "language": _language(form.get("language"))}, status=422)
    return _subscribed(request, *outcome)


def _redeem_code(session: Session, key: str, request_id: int, code: str) -> tuple[int, str, str] | str:
    """(the subscribed person's id, the channel, their language), or why the code was refused
    (returned, not raised, so that the transaction commits the wrong attempt it counted)."""
    try:
        found = subscriptions.redeem(session, key, request_id, subscriptions.PHONE_CODE, code)
    except ValidationError as exc:
        return exc.message
    language = _language(found.payload.get("language"))
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
    manage = f"/subscribe/manage/{_sign(request, 'manage', recipient_id)}"
    t = texts(language)
    return _page(request, "subscribe_message.html", {
        "heading": t["subscribed"], "message": t["subscribed_sms" if channel == Channel.SMS else "subscribed_email"],
        "manage_link": manage, "language": language})


async def email_page(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    request_id = _unsign(request, "email", token, request.app[SIGNUP_CONFIG].link_ttl.total_seconds())

    def language_of(session: Session) -> str:
        found = session.get(SubscriptionRequest, request_id)
        return _language((found.payload or {}).get("language") if found is not None else None)

    return _page(request, "subscribe_verify.html", {"email_token": token, "errors": {},
                                                    "language": await in_transaction(request, language_of)})


async def confirm_email(request: web.Request) -> web.Response:
    if not await _ip_allowed(request):
        return _too_many(request)
    token = request.match_info["token"]
    request_id = _unsign(request, "email", token, request.app[SIGNUP_CONFIG].link_ttl.total_seconds())
    key = request.app[RUNTIME].secret_key

    def work(session: Session) -> tuple[int, str]:
        found = subscriptions.redeem(session, key, request_id, subscriptions.EMAIL_LINK)
        language = _language(found.payload.get("language"))
        return _activate(session, key, found, Channel.EMAIL), language

    try:
        recipient_id, language = await in_transaction(request, work)
    except ValidationError as exc:
        return _page(request, "subscribe_message.html", {"heading": "This link cannot be used",
                                                         "message": exc.message}, status=410)
    return _subscribed(request, recipient_id, Channel.EMAIL, language)


# ---- managing a subscription ---------------------------------------------------------------------

async def manage_request_page(request: web.Request) -> web.Response:
    return _page(request, "subscribe_manage.html", {"person": None, "form_token": form_token(request),
                                                    "honeypot": HONEYPOT, "errors": {}, "values": {}})


async def send_manage_link(request: web.Request) -> web.Response:
    if not await _ip_allowed(request):
        return _too_many(request)
    form = await request.post()
    done = _page(request, "subscribe_message.html", {
        "heading": "Check your phone or email",
        "message": "If we know this number or address, we sent it a link to manage your subscription."})
    if str(form.get(HONEYPOT, "")).strip():
        return done
    errors: dict[str, str] = {}
    refused = _check_form_token(request, form.get("form_token"))
    if refused:
        errors["form"] = refused
    contact = str(form.get("contact", "")).strip()
    channel, address = Channel.SMS, ""
    try:
        if "@" in contact:
            channel, address = Channel.EMAIL, normalize_email(contact)
        else:
            address = normalize_phone(contact)
    except ContactError:
        errors["contact"] = "Enter the mobile number or email address you subscribed with."
    if errors:
        return _page(request, "subscribe_manage.html", {"person": None, "form_token": form_token(request),
                                                        "honeypot": HONEYPOT, "errors": errors,
                                                        "values": {"contact": contact}}, status=422)
    runtime, config = request.app[RUNTIME], request.app[SIGNUP_CONFIG]

    def work(session: Session) -> int | None:
        person = subscriptions.find_person(session, **({"phone": address} if channel == Channel.SMS
                                                       else {"email": address}))
        if person is None:
            return None
        subscriptions.start_verification(session, runtime.secret_key, subscriptions.MANAGE_LINK, channel, address,
                                         {}, ttl=timedelta(seconds=config.manage_max_age_s),
                                         per_hour=config.per_address_per_hour, field_name="contact")
        return person.id

    try:
        recipient_id = await in_transaction(request, work)
    except ValidationError:
        return done  # rate-limited: the same answer, nothing sent
    if recipient_id is not None:
        link = f"{runtime.settings.effective_public_url}/subscribe/manage/{_sign(request, 'manage', recipient_id)}"
        if channel == Channel.SMS:
            await _send(request, channel, address, f"{runtime.settings.org_name}: manage your alerts: {link}")
        else:
            await _send(request, channel, address, f"Manage or delete your emergency alerts from "
                                                   f"{runtime.settings.org_name}:\n{link}\n",
                        subject=f"{runtime.settings.org_name}: manage your alerts")
    return done


def _manage_form_ok(request: web.Request, form: Mapping[str, Any]) -> bool:
    """The manage link is the credential; the form token is its CSRF defence (no fill-time rule)."""
    try:
        _serializer(request, "form").loads(str(form.get("form_token") or ""),
                                           max_age=request.app[SIGNUP_CONFIG].form_max_age_s)
    except (BadSignature, SignatureExpired):
        return False
    return True


def _manage_id(request: web.Request) -> int:
    return _unsign(request, "manage", request.match_info["token"], request.app[SIGNUP_CONFIG].manage_max_age_s)


def _person_view(session: Session, recipient_id: int) -> dict[str, Any] | None:
    person = session.get(Recipient, recipient_id)
    if person is None or (person.attributes or {}).get("erased_at"):
        return None
    subscriber = session.get(Subscriber, recipient_id)
    zone_ids = {loc.label for loc in person.locations}
    chosen = [z.name for z in session.scalars(select(Zone)) if subscriptions.zone_label(z) in zone_ids]
    pin = next(((loc.lat, loc.lon) for loc in person.locations
                if loc.label == ("home" if subscriber else "signup-pin")), None)
    return {"phone": _mask(person.phone), "email": _mask(person.email), "language": _language(person.locale),
            "zones": chosen, "pin": pin, "self_subscribed": subscriber is not None}


def _mask(value: str | None) -> str:
    if not value:
        return ""
    if "@" in value:
        local, domain = value.split("@", 1)
        return f"{local[:1]}***@{domain}"
    return f"{'*' * (len(value) - 4)}{value[-4:]}"


async def manage_page(request: web.Request, *, errors: dict[str, str] | None = None,
                      status: int = 200) -> web.Response:
    recipient_id = _manage_id(request)
    view = await in_transaction(request, lambda s: _person_view(s, recipient_id))
    if view is None:
        return _page(request, "subscribe_message.html", {"heading": "Nothing to manage",
                                                         "message": "This subscription no longer exists."},
                     status=404)
    context = await _form_context(request, view["language"])
    return _page(request, "subscribe_manage.html", {**context, "person": view, "token": request.match_info["token"],
                                                    "errors": errors or {}}, status=status)


async def update_subscription(request: web.Request) -> web.Response:
    recipient_id = _manage_id(request)
    form = await request.post()
    if not _manage_form_ok(request, form):
        return await manage_page(request, errors={"form": "This form did not come from this page."}, status=422)
    zone_names = set(await in_transaction(request, lambda s: list(s.scalars(select(Zone.name)))))
    chosen = [z for z in form.getall("zones", []) if isinstance(z, str)]
    errors: dict[str, str] = {}
    if any(z not in zone_names for z in chosen):
        errors["zones"] = "Choose areas from the list."
    pin = None
    if str(form.get("lat", "")).strip():
        try:
            pin = (float(str(form["lat"])), float(str(form.get("lon", ""))))
            if not (-90 <= pin[0] <= 90 and -180 <= pin[1] <= 180):
                raise ValueError
        except ValueError:
            errors["pin"] = "Place the pin on the map again."
    if errors:
        return await manage_page(request, errors=errors, status=422)
    language = _language(form.get("language"))

    def work(session: Session) -> None:
        person = session.get(Recipient, recipient_id)
        if person is None:
            raise PermissionDenied("this subscription no longer exists")
        subscriptions.set_places(session, person, locale=language, zones=chosen, pin=pin)

    await in_transaction(request, work)
    return _page(request, "subscribe_message.html", {"heading": "Saved", "message": "Your choices are saved.",
                                                     "manage_link": f"/subscribe/manage/{request.match_info['token']}"})


async def delete_subscription(request: web.Request) -> web.Response:
    recipient_id = _manage_id(request)
    form = await request.post()
    if not _manage_form_ok(request, form):
        return await manage_page(request, errors={"form": "This form did not come from this page."}, status=422)
    key = request.app[RUNTIME].secret_key
    await in_transaction(request, lambda s: privacy.unsubscribe(s, key, recipient_id, actor="self-service"))
    return _page(request, "subscribe_message.html", {
        "heading": "Subscription deleted",
        "message": "You will receive no more alerts from us, and we deleted your contact details."})
