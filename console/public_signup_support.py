"""What the public sign-up pages share (console/public_signup.py, console/public_signup_manage.py):
their settings, signed tokens, the per-IP limit, the page shell with its strict headers, and sending
one verification message now through the channel adapters."""
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

from alerting import consent, zones as zone_store
from alerting.errors import PermissionDenied
from alerting.models import Zone
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


def public(handler: Any) -> Any:
    """A bad or expired signed token becomes this page's message (403), not the API's JSON error."""
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except PermissionDenied as exc:
            return page(request, "subscribe_message.html", {"heading": "This link cannot be used",
                                                            "message": f"{str(exc).capitalize()}."}, status=403)
    return wrapped


# ---- signed tokens ------------------------------------------------------------------------------

def serializer(request: web.Request, purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(request.app[RUNTIME].secret_key, salt=f"tocsin.subscribe.{purpose}")


def form_token(request: web.Request) -> str:
    # The exact time it was served (the signature's own timestamp is in whole seconds).
    return serializer(request, "form").dumps(round(time.time(), 3))


def check_form_token(request: web.Request, token: Any) -> str | None:
    """None if the form may be used; else why not."""
    config = request.app[SIGNUP_CONFIG]
    try:
        served_at = float(serializer(request, "form").loads(str(token or ""), max_age=config.form_max_age_s))
    except SignatureExpired:
        return "This form was open too long. Please fill it in again."
    except (BadSignature, TypeError, ValueError):
        return "This form did not come from this page. Please fill it in again."
    if time.time() - served_at < config.min_fill_s:
        return "That was quicker than a person can type. Please check the form and send it again."
    return None


def sign(request: web.Request, purpose: str, value: int) -> str:
    return serializer(request, purpose).dumps(value)


def unsign(request: web.Request, purpose: str, token: str, max_age: float) -> int:
    try:
        value = serializer(request, purpose).loads(token, max_age=max_age)
    except SignatureExpired:
        raise PermissionDenied("this link has expired; ask for a new one") from None
    except BadSignature:
        raise PermissionDenied("this link is not valid") from None
    return int(value)


# ---- limits -------------------------------------------------------------------------------------

def ip_key(ip: str, hour: int) -> str:
    """The Redis counter of one client's sign-up requests in one hour (the IP hashed: no addresses)."""
    return f"tocsin:signup:ip:{hashlib.sha256(ip.encode()).hexdigest()[:24]}:{hour}"


async def ip_allowed(request: web.Request) -> bool:
    runtime = request.app[RUNTIME]
    key = ip_key(request.remote or "unknown", int(time.time() // 3600))

    def count() -> int:
        with runtime.redis.pipeline() as pipe:
            pipe.incr(key)
            pipe.expire(key, 3600)
            return int(pipe.execute()[0])

    return await in_thread(request, count) <= request.app[SIGNUP_CONFIG].per_ip_per_hour


def too_many(request: web.Request) -> web.Response:
    return page(request, "subscribe_message.html", {
        "heading": "Too many requests", "message": "Too many sign-up requests came from your network in the "
        "last hour. Please try again later."}, status=429)


# ---- pages --------------------------------------------------------------------------------------

def page(request: web.Request, template: str, context: Mapping[str, Any], *, status: int = 200) -> web.Response:
    language = language_of(context.get("language"))
    response = render(request, template, {"languages": LANGUAGES, "language": language, "t": texts(language),
                                          **context}, status=status)
    response.headers.update({"Content-Security-Policy": CSP, **COMMON_HEADERS})
    return response


def language_of(value: Any) -> str:
    return value if value in LANGUAGES else "en"


def zone_choices(session: Session) -> list[dict[str, Any]]:
    return [{"name": z.name, "description": z.description,
             "display": zone_store.zone_as_dict(session, z)["display"]}
            for z in session.scalars(select(Zone).order_by(Zone.name))]


async def form_context(request: web.Request, language: str) -> dict[str, Any]:
    settings = request.app[RUNTIME].settings

    def load(session: Session) -> dict[str, Any]:
        wording = consent.consent_text(session, consent.WEB_VERSION, language, org_name=settings.org_name)
        return {"zones": zone_choices(session), "consent_text": wording.text, "consent_version": wording.version}

    context = await in_transaction(request, load)
    channels = request.app[RUNTIME].available_channels
    return {**context, "language": language, "form_token": form_token(request), "honeypot": HONEYPOT,
            "sms_available": Channel.SMS in channels, "email_available": Channel.EMAIL in channels,
            "map_tiles": settings.map_tile_url or ""}


async def send_now(request: web.Request, channel: str, to: str, body: str, *, subject: str | None = None) -> bool:
    """Send one message now through the channel's adapter (failover and all); True if a provider took it."""
    adapter = request.app[RUNTIME].make_adapter(channel)
    try:
        receipt = await adapter.send(Outbound(key=0, to=to, body=body, subject=subject))
    finally:
        await adapter.aclose()
    if receipt.outcome != Outcome.ACCEPTED:
        log.warning("a sign-up %s message was not accepted by %s: %s", channel, receipt.provider, receipt.error_code)
    return receipt.outcome == Outcome.ACCEPTED
