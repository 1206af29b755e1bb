"""The composer: pick a template or write freely, target, review, send.

    GET  /compose                      template cards, then the form (`?template=<id>` or `?template=free`)
    POST /compose                      create a draft, then its review page
    GET  /compose/{id}/edit            the draft's form again; POST saves it (alerting/drafts.py)
    GET  /compose/{id}/review          the final confirmation: LIVE or DRILL, audience, channels, exact texts
    POST /compose/{id}/send            console/send_flow.submit, then /alerts/{id}
    POST /compose/preview              (script) what each channel will say while composing (HTML fragment)

Every check is the core's (alerts.create_alert, templates.alert_data, drafts.update_draft); the form's
fields become the core's JSON, and its errors messages next to the fields, in console/compose_form.py;
the channel previews are console/compose_previews.py. The mode
(LIVE or DRILL) has no default: an operator must choose it, and the review page and its button repeat it.
"""
from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerting import alerts, drafts, personalize, targeting, templates, zones
from alerting.errors import Conflict, ValidationError
from alerting.models import Alert, AlertTemplate, EscalationPolicy, Group, RecipientLocation, Zone
from alerting.rendering import sms_text
from alerting.statuses import AlertStatus, Role, Severity
from console import send_flow
from console.compose_form import (NO_POLICY, alert_json, blank_form, field_errors, form_from_alert, form_from_post,
                                  form_from_template, mode_error)
from console.compose_previews import all_previews, form_previews
from console.db import in_transaction
from console.keys import RUNTIME
from console.paths import path_id
from console.render import CHANNEL_NAMES, render
from console.session import require_page


def setup(app: web.Application) -> None:
    """Register this module's routes."""
    app.router.add_get("/compose", compose_page)
    app.router.add_post("/compose", compose_submit)
    app.router.add_post("/compose/preview", channel_preview)
    app.router.add_get("/compose/{alert_id}/edit", edit_page)
    app.router.add_post("/compose/{alert_id}/edit", edit_submit)
    app.router.add_get("/compose/{alert_id}/review", review_page)
    app.router.add_post("/compose/{alert_id}/send", send)


# ---- the form (console/compose_form.py turns its fields into the core's JSON) ----------------------

def _alert_id(request: web.Request) -> int:
    return path_id(request, "alert_id")


class _Refused(Exception):
    """Rolls a form's transaction back after the core accepted it (the mode was missing)."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("refused")
        self.errors = errors


# ---- page data -----------------------------------------------------------------------------------

def _choices(session: Session) -> dict[str, Any]:
    """The groups, zones and policies to choose from, and the zones' shapes for the map."""
    zone_rows = list(session.scalars(select(Zone).order_by(Zone.name)))
    shapes = {}
    for zone in zone_rows:
        try:
            shapes[zone.name] = zones.zone_as_dict(session, zone)["display"]
        except ValidationError:
            continue  # a zone that no longer parses is still listed, just not drawn
    bounds = session.execute(select(func.min(RecipientLocation.lat), func.min(RecipientLocation.lon),
                                    func.max(RecipientLocation.lat), func.max(RecipientLocation.lon))).one()
    return {"groups": list(session.scalars(select(Group.name).order_by(Group.name))),
            "zone_names": [z.name for z in zone_rows], "zone_shapes": shapes,
            "people_bounds": list(bounds) if bounds[0] is not None else None,
            "policies": list(session.scalars(select(EscalationPolicy.name).order_by(EscalationPolicy.name)))}


def _default_policy(session: Session) -> str:
    exists = session.scalar(select(EscalationPolicy.id).where(EscalationPolicy.name == alerts.DEFAULT_POLICY))
    return alerts.DEFAULT_POLICY if exists is not None else NO_POLICY


def _placeholders_of(template: AlertTemplate | None) -> list[str]:
    return templates.operator_placeholders(template) if template is not None else []


def _form_page(request: web.Request, session: Session, form: dict[str, Any], *, action: str,
               errors: dict[str, str] | None = None, editing: Alert | None = None) -> dict[str, Any]:
    template = session.get(AlertTemplate, form["template_id"]) if form["template_id"] else None
    org_name = request.app[RUNTIME].settings.org_name
    return {**_choices(session), "form": form, "errors": errors or {}, "action": action, "editing": editing,
            "template": template, "placeholders": [] if editing else _placeholders_of(template),
            "severities": [str(s) for s in Severity], "no_policy": NO_POLICY,
            "previews": form_previews(form, org_name, request.app[RUNTIME].available_channels),
            "map_tile_url": request.app[RUNTIME].settings.map_tile_url or "",
            "personal": templates.PERSONAL, "languages": templates.LANGUAGES}


# ---- previews ------------------------------------------------------------------------------------

async def channel_preview(request: web.Request) -> web.Response:
    """The previews for the form as it stands, as an HTML fragment the composer's script swaps in."""
    require_page(request, Role.OPERATOR)
    form = form_from_post(await request.post())
    runtime = request.app[RUNTIME]
    previews = form_previews(form, runtime.settings.org_name, list(runtime.available_channels))
    return render(request, "compose_previews.html", {"previews": previews})


# ---- compose and edit ----------------------------------------------------------------------------

async def compose_page(request: web.Request) -> web.Response:
    require_page(request, Role.OPERATOR)
    choice = request.query.get("template", "")

    def page(session: Session) -> dict[str, Any]:
        library = [templates.as_dict(t) for t in templates.list_templates(session)]
        if choice == "free":
            form = {**blank_form(), "channels": list(request.app[RUNTIME].available_channels),
                    "policy": _default_policy(session)}
        elif choice.isdigit():
            template = templates.get_template(session, int(choice))
            if template.archived_at is not None:
                raise Conflict(f"the template {template.name!r} is archived")
            form = form_from_template(template, _default_policy(session))
        else:
            return {"library": library, "form": None, "editing": None, "errors": {}}
        return {"library": library, **_form_page(request, session, form, action="/compose")}

    return render(request, "compose.html", await in_transaction(request, page))


async def compose_submit(request: web.Request) -> web.Response:
    operator = require_page(request, Role.OPERATOR)
    form = form_from_post(await request.post())
    runtime = request.app[RUNTIME]

    def create(session: Session) -> int:
        errors = mode_error(form)
        try:
            data = alert_json(session, form, drill=form["mode"] == "drill", with_values=True)
            alert = alerts.create_alert(session, data, actor=operator.actor, available_channels=runtime.available_channels)
        except ValidationError as exc:
            raise _Refused({**errors, **field_errors(exc)}) from None
        if errors:
            raise _Refused(errors)  # rolls the draft back: nothing is kept until the mode is chosen
        return alert.id

    try:
        alert_id = await in_transaction(request, create)
    except _Refused as refused:
        return await _form_again(request, form, refused.errors, action="/compose")
    raise web.HTTPSeeOther(f"/compose/{alert_id}/review")


async def _form_again(request: web.Request, form: dict[str, Any], errors: dict[str, str], *, action: str,
                      editing_id: int | None = None) -> web.Response:
    def page(session: Session) -> dict[str, Any]:
        editing = alerts.get_alert(session, editing_id) if editing_id else None
        return {"library": [], **_form_page(request, session, form, action=action, errors=errors, editing=editing)}

    return render(request, "compose.html", await in_transaction(request, page), status=422)


async def edit_page(request: web.Request) -> web.Response:
    require_page(request, Role.OPERATOR)
    alert_id = _alert_id(request)

    def page(session: Session) -> dict[str, Any]:
        alert = alerts.get_alert(session, alert_id)
        if alert.status != AlertStatus.DRAFT:
            raise Conflict(f"alert {alert.id} is {alert.status} and can no longer be edited")
        form = {**form_from_alert(alert), "template_id": alert.template_id}
        return {"library": [], **_form_page(request, session, form, action=f"/compose/{alert_id}/edit", editing=alert)}

    return render(request, "compose.html", await in_transaction(request, page))


async def edit_submit(request: web.Request) -> web.Response:
    operator = require_page(request, Role.OPERATOR)
    alert_id = _alert_id(request)
    form = form_from_post(await request.post())
    runtime = request.app[RUNTIME]

    def save(session: Session) -> None:
        errors = mode_error(form)
        try:
            data = alert_json(session, form, drill=form["mode"] == "drill", with_values=False)
            drafts.update_draft(session, alert_id, data, actor=operator.actor,
                                available_channels=runtime.available_channels)
        except ValidationError as exc:
            raise _Refused({**errors, **field_errors(exc)}) from None
        if errors:
            raise _Refused(errors)

    try:
        await in_transaction(request, save)
    except _Refused as refused:
        return await _form_again(request, form, refused.errors, action=f"/compose/{alert_id}/edit",
                                 editing_id=alert_id)
    raise web.HTTPSeeOther(f"/compose/{alert_id}/review")


# ---- review and send -----------------------------------------------------------------------------

def reviewed_digest(alert: Alert) -> str:
    """A fingerprint of everything the review page shows: a send from a page that no longer
    matches the alert (edited in another tab) is refused, so what was confirmed is what goes."""
    content = {k: getattr(alert, k) for k in drafts.EDITABLE}
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:32]


def in_words(items: list[str]) -> str:
    """"SMS, voice call and email"."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1] if items else ""


def review_context(request: web.Request, session: Session, alert_id: int) -> dict[str, Any]:
    alert = alerts.get_alert(session, alert_id)
    org_name = request.app[RUNTIME].settings.org_name
    ids = targeting.resolve(session, alert.target) if alert.status == AlertStatus.DRAFT else None
    people = int(ids.size) if ids is not None else (alert.recipient_count or 0)
    contacts = targeting.contacts_per_channel(session, ids) if ids is not None else {}
    template = session.get(AlertTemplate, alert.template_id) if alert.template_id else None
    return {"alert": alert, "people": people, "contacts": contacts, "template": template,
            "example": example_person(session, alert, ids, org_name) if ids is not None else None,
            "mode": "drill" if alert.drill else "live",
            "channel_words": in_words([CHANNEL_NAMES.get(c, c) for c in alert.channels]),
            "previews": all_previews(alert, org_name), "digest": reviewed_digest(alert),
            "sms": alerts.sms_preview(alert, org_name) if "sms" in alert.channels else None,
            "is_draft": alert.status == AlertStatus.DRAFT}


def example_person(session: Session, alert: Alert, ids: Any, org_name: str) -> dict[str, Any] | None:
    """One person of the audience and the SMS they would get, when the alert speaks to each person
    by name or zone: the operator sees the placeholders filled as the send will fill them."""
    if not len(ids) or not personalize.uses_personal(*personalize.alert_texts(alert)):
        return None
    rid = int(ids[0])
    person = personalize.people(session, alert, [rid]).get(rid)
    if person is None:
        return None
    return {"name": person.name or "(no name)", "locale": person.locale,
            "sms": sms_text(alert, org_name, locale=person.locale, values=person.values),
            "title": personalize.fill(alert.title_for(person.locale), person.values),
            "message": personalize.fill(alert.text_for("email", person.locale), person.values)}


async def review_page(request: web.Request) -> web.Response:
    require_page(request, Role.OPERATOR)
    alert_id = _alert_id(request)
    context = await in_transaction(request, lambda s: review_context(request, s, alert_id))
    return render(request, "compose_review.html", {**context, "errors": {}, "scheduled_for": ""})


def parse_scheduled_for(raw: str) -> datetime | None:
    """The datetime-local field, read as UTC (the field says so); empty: now."""
    raw = raw.strip()
    if not raw:
        return None
    for fmt in ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"):
        try:
            return datetime.strptime(raw, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise ValidationError(f"{raw!r} is not a date and time such as 2026-11-24T08:00", field="scheduled_for")


async def send(request: web.Request) -> web.Response:
    """Send the reviewed alert once: a repeated or stale press says so instead of sending again."""
    operator = require_page(request, Role.OPERATOR)
    alert_id = _alert_id(request)
    post = await request.post()
    raw_when = str(post.get("scheduled_for", ""))

    async def again(errors: dict[str, str], status: int = 422) -> web.Response:
        context = await in_transaction(request, lambda s: review_context(request, s, alert_id))
        return render(request, "compose_review.html", {**context, "errors": errors, "scheduled_for": raw_when},
                      status=status)

    state = await in_transaction(request, lambda s: _send_state(s, alert_id))
    if state["status"] in (AlertStatus.SENDING, AlertStatus.SENT):
        return _already_sent(request, state)
    if state["status"] != AlertStatus.DRAFT:
        raise web.HTTPSeeOther(f"/alerts/{alert_id}")
    if post.get("reviewed") != state["digest"]:
        return await again({"form": "This alert was changed after this page was shown. Check it again below, "
                                    "then send."}, status=409)
    try:
        when = parse_scheduled_for(raw_when)
        body = await send_flow.submit(request, alert_id, actor=operator.actor, scheduled_for=when)
    except ValidationError as exc:
        errors = field_errors(exc)
        return await again({("scheduled_for" if k == "scheduled_for" else "form"): v for k, v in errors.items()})
    except Conflict as exc:
        return await again({"form": str(exc)}, status=409)
    if not body.get("started") and body.get("status") in (AlertStatus.SENDING, AlertStatus.SENT):
        return _already_sent(request, await in_transaction(request, lambda s: _send_state(s, alert_id)))
    raise web.HTTPSeeOther(f"/alerts/{alert_id}")


def _send_state(session: Session, alert_id: int) -> dict[str, Any]:
    alert = alerts.get_alert(session, alert_id)
    return {"id": alert.id, "title": alert.title, "status": alert.status, "sent_by": alert.sent_by,
            "send_requested_at": alert.send_requested_at, "drill": alert.drill, "digest": reviewed_digest(alert)}


def _already_sent(request: web.Request, state: dict[str, Any]) -> web.Response:
    return render(request, "compose_sent.html", {"state": state, "mode": "drill" if state["drill"] else "live"},
                  status=200)
