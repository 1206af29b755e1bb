"""Managing a subscription from the sign-up page: ask for a link by text or email, then change
the language, areas and pin, or delete the subscription (a self-subscriber is erased:
alerting/privacy.py). The signed link is the credential; the form token its CSRF defence."""
from __future__ import annotations

from datetime import timedelta
from typing import Any, Mapping

from aiohttp import web
from itsdangerous import BadSignature, SignatureExpired
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerting import privacy, signup_codes, subscriptions
from alerting.contacts import ContactError, normalize_email, normalize_phone
from alerting.errors import PermissionDenied, ValidationError
from alerting.models import Recipient, Subscriber, Zone
from alerting.statuses import Channel
from console.db import in_transaction
from console.keys import RUNTIME
from console.public_signup_support import (HONEYPOT, SIGNUP_CONFIG, check_form_token, form_context, form_token,
                                           ip_allowed, language_of, page, send_now, serializer, sign, too_many,
                                           unsign)


async def manage_request_page(request: web.Request) -> web.Response:
    return page(request, "subscribe_manage.html", {"person": None, "form_token": form_token(request),
                                                   "honeypot": HONEYPOT, "errors": {}, "values": {}})


async def send_manage_link(request: web.Request) -> web.Response:
    if not await ip_allowed(request):
        return too_many(request)
    form = await request.post()
    done = page(request, "subscribe_message.html", {
        "heading": "Check your phone or email",
        "message": "If we know this number or address, we sent it a link to manage your subscription."})
    if str(form.get(HONEYPOT, "")).strip():
        return done
    errors: dict[str, str] = {}
    refused = check_form_token(request, form.get("form_token"))
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
        return page(request, "subscribe_manage.html", {"person": None, "form_token": form_token(request),
                                                       "honeypot": HONEYPOT, "errors": errors,
                                                       "values": {"contact": contact}}, status=422)
    runtime, config = request.app[RUNTIME], request.app[SIGNUP_CONFIG]

    def work(session: Session) -> int | None:
        person = subscriptions.find_person(session, **({"phone": address} if channel == Channel.SMS
                                                       else {"email": address}))
        if person is None:
            return None
        signup_codes.start_verification(session, runtime.secret_key, signup_codes.MANAGE_LINK, channel, address,
                                        {}, ttl=timedelta(seconds=config.manage_max_age_s),
                                        per_hour=config.per_address_per_hour, field_name="contact")
        return person.id

    try:
        recipient_id = await in_transaction(request, work)
    except ValidationError:
        return done  # rate-limited: the same answer, nothing sent
    if recipient_id is not None:
        link = f"{runtime.settings.effective_public_url}/subscribe/manage/{sign(request, 'manage', recipient_id)}"
        if channel == Channel.SMS:
            await send_now(request, channel, address, f"{runtime.settings.org_name}: manage your alerts: {link}")
        else:
            await send_now(request, channel, address, f"Manage or delete your emergency alerts from "
                                                      f"{runtime.settings.org_name}:\n{link}\n",
                           subject=f"{runtime.settings.org_name}: manage your alerts")
    return done


def manage_form_ok(request: web.Request, form: Mapping[str, Any]) -> bool:
    """The manage link is the credential; the form token is its CSRF defence (no fill-time rule)."""
    try:
        serializer(request, "form").loads(str(form.get("form_token") or ""),
                                           max_age=request.app[SIGNUP_CONFIG].form_max_age_s)
    except (BadSignature, SignatureExpired):
        return False
    return True


def _manage_id(request: web.Request) -> int:
    return unsign(request, "manage", request.match_info["token"], request.app[SIGNUP_CONFIG].manage_max_age_s)


def _person_view(session: Session, recipient_id: int) -> dict[str, Any] | None:
    person = session.get(Recipient, recipient_id)
    if person is None or (person.attributes or {}).get("erased_at"):
        return None
    subscriber = session.get(Subscriber, recipient_id)
    zone_ids = {loc.label for loc in person.locations}
    chosen = [z.name for z in session.scalars(select(Zone)) if subscriptions.zone_label(z) in zone_ids]
    pin = next(((loc.lat, loc.lon) for loc in person.locations
                if loc.label == ("home" if subscriber else "signup-pin")), None)
    return {"phone": _mask(person.phone), "email": _mask(person.email), "language": language_of(person.locale),
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
        return page(request, "subscribe_message.html", {"heading": "Nothing to manage",
                                                        "message": "This subscription no longer exists."},
                    status=404)
    context = await form_context(request, view["language"])
    return page(request, "subscribe_manage.html", {**context, "person": view, "token": request.match_info["token"],
                                                   "errors": errors or {}}, status=status)


async def update_subscription(request: web.Request) -> web.Response:
    recipient_id = _manage_id(request)
    form = await request.post()
    if not manage_form_ok(request, form):
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
    language = language_of(form.get("language"))

    def work(session: Session) -> None:
        person = session.get(Recipient, recipient_id)
        if person is None:
            raise PermissionDenied("this subscription no longer exists")
        subscriptions.set_places(session, person, locale=language, zones=chosen, pin=pin)

    await in_transaction(request, work)
    return page(request, "subscribe_message.html", {"heading": "Saved", "message": "Your choices are saved.",
                                                    "manage_link": f"/subscribe/manage/{request.match_info['token']}"})


async def delete_subscription(request: web.Request) -> web.Response:
    recipient_id = _manage_id(request)
    form = await request.post()
    if not manage_form_ok(request, form):
        return await manage_page(request, errors={"form": "This form did not come from this page."}, status=422)
    key = request.app[RUNTIME].secret_key
    await in_transaction(request, lambda s: privacy.unsubscribe(s, key, recipient_id, actor="self-service"))
    return page(request, "subscribe_message.html", {
        "heading": "Subscription deleted",
        "message": "You will receive no more alerts from us, and we deleted your contact details."})
