"""The live incident view: the alerts list, an alert's page (progress per channel, the accountability
board, live over SSE), each person's timeline, and the actions an operator takes on a sent alert.

Every action is a GET that shows a confirmation stating LIVE or DRILL, the audience and the
channels in words, then a POST (with the CSRF token) that does it: escalate now, cancel, close, and
the follow-ups (correction, false alarm, update, all clear; alerting/follow_ups.py), which are sent
through send_flow like any alert. Viewers see everything and can do none of it. The domain lives in
alerting/ and escalation/; this module reads, renders and routes.
"""
from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerting import alerts, follow_ups
from alerting.errors import NotFound, ValidationError
from alerting.models import Alert, AlertRecipient, Delivery, EscalationPolicy, EscalationStep, Recipient, Response
from alerting.statuses import NO_RESPONSE, OPEN_ALERT_STATUSES, AlertStatus, ResponseKind, Role
from console import api_escalation, live, send_flow
from console.auth import require
from console.db import in_transaction
from console.errors import read_json
from console.keys import RUNTIME
from console.render import CHANNEL_NAMES, render
from console.session import require_page
from escalation import accountability, engine

#: People shown per board group (and per page of a group's full list).
PAGE = 100
#: Alerts per page of the list.
LIST_PAGE = 50
LIST_MODES = {"all": None, "live": False, "drills": True}
#: The board's order: who needs help first, then who is silent, then who is safe.
BOARD_GROUPS = ((ResponseKind.NEED_HELP.value, "Need help"), (NO_RESPONSE, "Silent"),
                (ResponseKind.SAFE.value, "Safe"), (ResponseKind.ACKNOWLEDGED.value, "Acknowledged"))
#: Delivery statuses as the progress table counts them.
PROGRESS = {"queued": ("pending", "sending", "queued"), "sent": ("sent",), "delivered": ("delivered",),
            "failed": ("failed", "undelivered", "bounced", "busy", "no_answer"), "cancelled": ("cancelled",)}
ACTIONS = ("escalate", "cancel", "close")


def setup(app: web.Application) -> None:
    """Register this module's routes."""
    app.router.add_get("/alerts", alerts_list)
    app.router.add_get(r"/alerts/{alert_id:\d+}", alert_page)
    app.router.add_get(r"/alerts/{alert_id:\d+}/board.json", board_json)
    app.router.add_get(r"/alerts/{alert_id:\d+}/events", events)
    app.router.add_get(r"/alerts/{alert_id:\d+}/people", people_page)
    app.router.add_get(r"/alerts/{alert_id:\d+}/people/{external_id}", person_page)
    app.router.add_get(r"/alerts/{alert_id:\d+}/actions/{action}", confirm_action)
    app.router.add_post(r"/alerts/{alert_id:\d+}/actions/{action}", do_action)
    app.router.add_get(r"/alerts/{alert_id:\d+}/follow-up", follow_up_form)
    app.router.add_post(r"/alerts/{alert_id:\d+}/follow-up", send_follow_up)
    app.router.add_post(r"/api/v1/alerts/{alert_id:\d+}/follow-ups", api_follow_up)
    app.router.add_post(r"/api/v1/alerts/{alert_id:\d+}/escalate", api_escalation.escalate_now)
    live.setup(app)


# ---- reading ------------------------------------------------------------------------------------

def in_words(channels: list[str]) -> str:
    """["sms", "voice", "email"] -> "SMS, voice call and email"."""
    names = [CHANNEL_NAMES.get(c, c) for c in channels]
    if len(names) < 2:
        return names[0] if names else "no channel"
    return ", ".join(names[:-1]) + " and " + names[-1]


def progress(deliveries: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """Per channel: queued (not yet with the carrier), sent, delivered, failed, cancelled and total."""
    table = {}
    for channel, counts in deliveries.items():
        row = {column: sum(counts.get(s, 0) for s in statuses) for column, statuses in PROGRESS.items()}
        row["total"] = sum(counts.values())
        table[channel] = row
    return table


def live_state(session: Session, alert_id: int) -> dict[str, Any]:
    """What the live view refreshes: status, progress per channel and response counts."""
    summary = alerts.summary(session, alerts.get_alert(session, alert_id))
    return {"id": summary["id"], "status": summary["status"], "recipients": summary["recipients"],
            "responses": summary["responses"], "unreachable": summary["unreachable"],
            "progress": progress(summary["deliveries"])}


def board(session: Session, alert: Alert, responses: dict[str, int]) -> list[dict[str, Any]]:
    """The accountability board: each group in order, its count and its first PAGE people."""
    groups = []
    for key, label in BOARD_GROUPS:
        page = alerts.recipient_states(session, alert, limit=PAGE, response=key) if responses.get(key) else \
            {"recipients": [], "next_after": None}
        groups.append({"key": key, "label": label, "count": responses.get(key, 0),
                       "people": [{"external_id": p["external_id"], "name": p["name"], "state": p["state"],
                                   "last_response_at": p["last_response_at"]} for p in page["recipients"]],
                       "more": (f"/alerts/{alert.id}/people?response={key}&after={page['next_after']}"
                                if page["next_after"] else None)})
    return groups


def _next_escalation(session: Session, alert: Alert) -> dict[str, Any] | None:
    if alert.status not in OPEN_ALERT_STATUSES or alert.policy is None:
        return None
    run = engine.next_run(session, alert)
    policy = session.scalar(select(EscalationPolicy).where(EscalationPolicy.name == alert.policy))
    if run is None or policy is None:
        return None
    final = run.step_index == len(policy.steps)
    channels = (policy.final or {}).get("channels", []) if final else policy.steps[run.step_index]["channels"]
    return {"step": run.step_index + 1, "round": run.round + 1, "final": final, "channels": in_words(channels),
            "after_s": run.after_s, "policy": policy.name}


def alert_view(session: Session, alert_id: int) -> dict[str, Any]:
    """Everything the alert page shows."""
    alert = alerts.get_alert(session, alert_id)
    summary = alerts.summary(session, alert)
    follows = session.get(Alert, alert.follows_alert_id) if alert.follows_alert_id else None
    followed_by = session.scalars(select(Alert).where(Alert.follows_alert_id == alert.id).order_by(Alert.id)).all()
    sent = alert.send_requested_at is not None and alert.status not in follow_ups.NOT_SENT
    return {"alert": summary, "mode": "drill" if alert.drill else "live",
            "channels_words": in_words(alert.channels), "progress": progress(summary["deliveries"]),
            "board": board(session, alert, summary["responses"]) if sent else [],
            "follows": {"id": follows.id, "title": follows.title} if follows else None,
            "followed_by": [{"id": a.id, "title": a.title, "kind": a.follow_kind, "status": a.status}
                            for a in followed_by],
            "sent": sent, "next_escalation": _next_escalation(session, alert),
            "can_cancel": alert.status in OPEN_ALERT_STATUSES,
            "can_close": sent and alert.status != AlertStatus.CLOSED}


def list_alerts(session: Session, drill: bool | None, before: int | None) -> dict[str, Any]:
    query = select(Alert).order_by(Alert.id.desc()).limit(LIST_PAGE + 1)
    if drill is not None:
        query = query.where(Alert.drill.is_(drill))
    if before:
        query = query.where(Alert.id < before)
    rows = session.scalars(query).all()
    more, rows = len(rows) > LIST_PAGE, rows[:LIST_PAGE]
    counts: dict[int, dict[str, int]] = {a.id: {k: 0 for k in (*ResponseKind, NO_RESPONSE)} for a in rows}
    if rows:
        for alert_id, response, n in session.execute(
                select(AlertRecipient.alert_id, AlertRecipient.response, func.count())
                .where(AlertRecipient.alert_id.in_(list(counts))).group_by(AlertRecipient.alert_id,
                                                                           AlertRecipient.response)):
            counts[alert_id][response or NO_RESPONSE] = n
    return {"alerts": [{"id": a.id, "title": a.title, "status": a.status, "drill": a.drill,
                        "channels": in_words(a.channels), "recipients": a.recipient_count,
                        "sent": a.send_requested_at is not None and a.status not in follow_ups.NOT_SENT,
                        "when": a.send_requested_at or a.scheduled_for or a.created_at, "follow_kind": a.follow_kind,
                        "responses": counts[a.id]} for a in rows],
            "next_before": rows[-1].id if more else None}


def _delivery_events(deliveries: list[Delivery]) -> list[dict[str, Any]]:
    """Each attempt when it was written, then each status the provider reported, with its notes."""
    events = []
    for d in deliveries:
        what = f"{CHANNEL_NAMES.get(d.channel, d.channel)} attempt {d.attempt}"
        events.append({"at": d.created_at, "kind": "delivery", "channel": d.channel, "status": "pending",
                       "what": f"{what} written (to {d.address or 'no address'})", "note": ""})
        for column, label in (("queued_at", "queued"), ("sent_at", "sent"), ("delivered_at", "delivered"),
                              ("failed_at", d.status)):
            if getattr(d, column) is None:
                continue
            error = f"error {d.error_code}: {d.error_message or ''}" if d.error_code and column == "failed_at" else ""
            parts = (f"provider {d.provider}" if d.provider else "", d.route_note or "", error)
            note = "; ".join(x for x in parts if x)
            events.append({"at": getattr(d, column), "kind": "delivery", "channel": d.channel, "status": label,
                           "what": f"{what} {label.replace('_', ' ')}", "note": note})
    return events


def _response_events(responses: list[Response]) -> list[dict[str, Any]]:
    events = []
    for r in responses:
        notes = [f"\u201c{r.raw_text}\u201d" if r.raw_text else "",
                 f"recorded by {r.recorded_by}" if r.recorded_by else "",
                 "" if r.counted else "(after close: not counted)"]
        events.append({"at": r.received_at, "kind": "response", "channel": r.channel, "status": r.kind,
                       "what": f"answered {r.kind.replace('_', ' ')}", "note": " ".join(n for n in notes if n)})
    return events


def _escalation_events(session: Session, alert: Alert, first_response_at: Any) -> list[dict[str, Any]]:
    """The runs that reached the person: a run acts on whoever has not answered when it runs."""
    steps = session.scalar(select(EscalationPolicy.steps).where(EscalationPolicy.name == alert.policy)) or []
    events = []
    for step in session.scalars(select(EscalationStep).where(EscalationStep.alert_id == alert.id)
                                .order_by(EscalationStep.ran_at)):
        if first_response_at is not None and _naive(first_response_at) <= _naive(step.ran_at):
            continue
        final = step.step_index >= len(steps)
        events.append({"at": step.ran_at, "kind": "escalation", "channel": "", "status": "escalation",
                       "what": ("named to supervisors as unaccounted for" if final else
                                f"escalation step {step.step_index + 1} (round {step.round + 1}) re-sent to them"),
                       "note": f"supervisors' alert {step.notice_alert_id}" if final and step.notice_alert_id else ""})
    return events


def timeline(session: Session, alert: Alert, external_id: str) -> dict[str, Any]:
    """One person's story in this alert, in time order: every delivery attempt and what became of
    it, every response, and the escalation runs that reached them."""
    person = session.execute(select(Recipient.id, Recipient.external_id, Recipient.name).join(
        AlertRecipient, AlertRecipient.recipient_id == Recipient.id).where(
        AlertRecipient.alert_id == alert.id, Recipient.external_id == external_id)).one_or_none()
    if person is None:
        raise NotFound(f"{external_id!r} is not among alert {alert.id}'s recipients")
    state = session.get(AlertRecipient, (alert.id, person.id))
    deliveries = list(session.scalars(select(Delivery).where(
        Delivery.alert_id == alert.id, Delivery.recipient_id == person.id)
        .order_by(Delivery.channel, Delivery.attempt)))
    responses = list(session.scalars(select(Response).where(
        Response.alert_id == alert.id, Response.recipient_id == person.id).order_by(Response.id)))
    events = [*_delivery_events(deliveries), *_response_events(responses),
              *_escalation_events(session, alert, state.first_response_at)]
    events.sort(key=lambda e: _naive(e["at"]))
    latest = {d.channel: {"status": d.status} for d in deliveries}
    return {"person": {"external_id": person.external_id, "name": person.name,
                       "state": alerts.person_state(state.response, latest, alert.resolved_at is not None)},
            "events": events}


def _naive(moment: Any) -> Any:
    return moment.replace(tzinfo=None) if moment is not None and moment.tzinfo else moment


def _alert_id(request: web.Request) -> int:
    return int(request.match_info["alert_id"])


# ---- pages --------------------------------------------------------------------------------------

async def alerts_list(request: web.Request) -> web.Response:
    require_page(request)
    mode = request.query.get("mode", "all")
    if mode not in LIST_MODES:
        mode = "all"
    before = request.query.get("before", "")
    page = await in_transaction(request, lambda s: list_alerts(s, LIST_MODES[mode],
                                                               int(before) if before.isdigit() else None))
    return render(request, "alerts_list.html", {**page, "list_mode": mode, "first_page": not before})


async def alert_page(request: web.Request) -> web.Response:
    require_page(request)
    alert_id = _alert_id(request)
    return render(request, "alert_page.html", await in_transaction(request, lambda s: alert_view(s, alert_id)))


async def board_json(request: web.Request) -> web.Response:
    """What the page's script refetches when something changed: the live state and the board."""
    require_page(request)
    alert_id = _alert_id(request)

    def read(session: Session) -> dict[str, Any]:
        state = live_state(session, alert_id)
        return {"alert": state, "board": board(session, alerts.get_alert(session, alert_id), state["responses"])}

    response = web.json_response(await in_transaction(request, read))
    response.headers["Cache-Control"] = "no-store"
    return response


async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: responses and escalation runs as they are announced, and the live state
    whenever it changes (see console/live.py)."""
    require_page(request)
    alert_id = _alert_id(request)
    await in_transaction(request, lambda s: alerts.get_alert(s, alert_id))  # 404 before streaming
    return await live.stream(request, alert_id, lambda: in_transaction(request, lambda s: live_state(s, alert_id)))


async def people_page(request: web.Request) -> web.Response:
    """One board group in full, PAGE people at a time."""
    require_page(request)
    alert_id = _alert_id(request)
    group = request.query.get("response", NO_RESPONSE)
    labels = dict(BOARD_GROUPS)
    if group not in labels:
        raise ValidationError(f"response must be one of {', '.join(labels)}", field="response")
    after = request.query.get("after", "0")

    def read(session: Session) -> dict[str, Any]:
        alert = alerts.get_alert(session, alert_id)
        page = alerts.recipient_states(session, alert, after=int(after) if after.isdigit() else 0, limit=PAGE,
                                       response=group)
        return {"alert": {"id": alert.id, "title": alert.title, "drill": alert.drill}, "group": group,
                "label": labels[group], "people": page["recipients"], "next_after": page["next_after"],
                "mode": "drill" if alert.drill else "live"}

    return render(request, "alert_people.html", await in_transaction(request, read))


async def person_page(request: web.Request) -> web.Response:
    require_page(request)
    alert_id, external_id = _alert_id(request), request.match_info["external_id"]

    def read(session: Session) -> dict[str, Any]:
        alert = alerts.get_alert(session, alert_id)
        return {"alert": {"id": alert.id, "title": alert.title, "drill": alert.drill, "status": alert.status},
                "mode": "drill" if alert.drill else "live", **timeline(session, alert, external_id)}

    return render(request, "alert_person.html", await in_transaction(request, read))


# ---- actions: escalate now, cancel, close -------------------------------------------------------

def _action(request: web.Request) -> str:
    action = request.match_info["action"]
    if action not in ACTIONS:
        raise web.HTTPNotFound()
    return action


async def confirm_action(request: web.Request) -> web.Response:
    require_page(request, Role.OPERATOR)
    alert_id, action = _alert_id(request), _action(request)
    view = await in_transaction(request, lambda s: alert_view(s, alert_id))
    return render(request, "alert_action.html", {**view, "action": action})


async def do_action(request: web.Request) -> web.Response:
    operator = require_page(request, Role.OPERATOR)
    alert_id, action = _alert_id(request), _action(request)
    runtime = request.app[RUNTIME]
    if action == "escalate":
        await api_escalation.run_next_step_now(request, alert_id, actor=operator.actor)
    elif action == "cancel":
        await in_transaction(request, lambda s: accountability.cancel(
            s, alert_id, None, actor=operator.actor, available_channels=runtime.available_channels))
    else:
        await in_transaction(request, lambda s: accountability.close(s, alert_id, actor=operator.actor))
    await live.announce(request, alert_id, {"type": action, "alert_id": alert_id})
    raise web.HTTPSeeOther(f"/alerts/{alert_id}")


# ---- follow-ups: correction, false alarm, update, all clear -------------------------------------

def _follow_up_view(session: Session, alert_id: int, kind: str, message: str | None) -> dict[str, Any]:
    view = alert_view(session, alert_id)
    original = alerts.get_alert(session, alert_id)
    follow_ups.check_can_follow(session, original)
    kind = follow_ups.FollowKind(kind)
    return {**view, "kind": kind.value, "kind_words": follow_ups.TITLE_PREFIX[kind],
            "audience": follow_ups.audience(session, alert_id), "sent_at_words": follow_ups.sent_at_words(original),
            "message": message if message is not None else follow_ups.prefilled_text(session, original, kind),
            "needs_text": kind in follow_ups.NEEDS_TEXT, "stops_original": kind == follow_ups.FollowKind.FALSE_ALARM}


def _kind_of(value: Any) -> str:
    if value not in set(follow_ups.FollowKind):
        raise ValidationError(f"kind must be one of {', '.join(follow_ups.FollowKind)}", field="kind")
    return str(value)


async def follow_up_form(request: web.Request) -> web.Response:
    """The pre-filled confirmation: one more press sends it."""
    require_page(request, Role.OPERATOR)
    alert_id, kind = _alert_id(request), _kind_of(request.query.get("kind"))
    return render(request, "alert_follow_up.html",
                  await in_transaction(request, lambda s: _follow_up_view(s, alert_id, kind, None)) | {"error": None})


async def send_follow_up(request: web.Request) -> web.Response:
    operator = require_page(request, Role.OPERATOR)
    alert_id = _alert_id(request)
    form = await request.post()
    kind, text = _kind_of(form.get("kind")), str(form.get("message", ""))
    try:
        new = await in_transaction(request, lambda s: follow_ups.create_follow_up(
            s, alert_id, kind, text, operator.actor).id)
    except ValidationError as exc:  # shown next to the message, the operator's text kept
        view = await in_transaction(request, lambda s: _follow_up_view(s, alert_id, kind, text))
        return render(request, "alert_follow_up.html", {**view, "error": exc.message}, status=422)
    await send_flow.submit(request, new, actor=operator.actor)
    raise web.HTTPSeeOther(f"/alerts/{new}")


async def api_follow_up(request: web.Request) -> web.Response:
    """`POST /api/v1/alerts/{id}/follow-ups` `{"kind", "message"?, "send"?}`: 201 with the new alert
    (sent at once when `send` is true; a draft otherwise)."""
    actor = require(request, Role.OPERATOR)
    alert_id = _alert_id(request)
    data = await read_json(request)
    if not isinstance(data, dict):
        raise ValidationError('the body must be a JSON object such as {"kind": "false_alarm", "send": true}')
    message, send = data.get("message"), data.get("send", False)
    if message is not None and not isinstance(message, str):
        raise ValidationError("message must be text", field="message")
    if not isinstance(send, bool):
        raise ValidationError("send must be true or false", field="send")
    kind = _kind_of(data.get("kind"))
    new = await in_transaction(request, lambda s: follow_ups.create_follow_up(
        s, alert_id, kind, message, actor, origin="api").id)
    if send:
        body = await send_flow.submit(request, new, actor=actor)
    else:
        body = await in_transaction(request, lambda s: alerts.summary(s, alerts.get_alert(s, new)))
    return web.json_response(body, status=201)
