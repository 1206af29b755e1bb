"""The calendar (`/calendar`), the controls of scheduled alerts and of the two-person rule, and the
periodic safety net that gives a scheduled alert its job again if Redis lost it.

Pages: `/calendar` (viewer and up): what goes out, by day (UTC), for the coming weeks, with what went
out in the same period; alerts awaiting approval on top. Forms (operator and up) post to
`/alerts/{id}/approve|reject|reschedule|unschedule|cancel-schedule`; each first answers with a
confirmation page stating LIVE or DRILL, the audience and the channels in words, and acts only when
that page's button (`confirm=yes`) is pressed. No JavaScript is needed.

The JSON API routes of the same actions are registered here too (handlers in console/api_alerts.py).
"""
from __future__ import annotations

import asyncio
import logging
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, AsyncIterator

from aiohttp import web

from alerting import alerts, launching, targeting
from alerting.errors import ValidationError
from alerting.statuses import Role
from console import api_alerts, send_flow
from console.db import in_transaction
from console.keys import DB_EXECUTOR, RUNTIME
from console.paths import path_id
from console.render import render
from console.session import require_page
from ops.jobs import ensure_scheduled_jobs
from ops.reconcile import reconcile_if_redis_lost

log = logging.getLogger(__name__)

#: How often the web process checks that every scheduled alert still has its job.
SAFETY_NET_S = 30.0
#: Weeks the calendar shows from its first day.
CALENDAR_WEEKS = 4
ACTIONS = ("approve", "reject", "reschedule", "unschedule", "cancel-schedule")


def setup(app: web.Application) -> None:
    """Register this module's routes and the scheduled-send safety net."""
    app.router.add_get("/calendar", calendar_page)
    for action in ACTIONS:
        app.router.add_post(f"/alerts/{{alert_id}}/{action}", action_page)
    app.router.add_post("/api/v1/alerts/{alert_id}/approve", api_alerts.approve_alert)
    app.router.add_post("/api/v1/alerts/{alert_id}/reject", api_alerts.reject_alert)
    app.router.add_post("/api/v1/alerts/{alert_id}/unschedule", api_alerts.unschedule_alert)
    app.router.add_post("/api/v1/alerts/{alert_id}/reschedule", api_alerts.reschedule_alert)
    app.router.add_post("/api/v1/alerts/{alert_id}/cancel-schedule", api_alerts.cancel_scheduled_alert)
    app.cleanup_ctx.append(_safety_net)


async def _safety_net(app: web.Application) -> AsyncIterator[None]:
    """Every SAFETY_NET_S: each scheduled alert without its job (Redis restarted) gets it again; one
    past its time is then sent at once by a worker. Idempotent, and cheap (one indexed query)."""
    async def loop() -> None:
        while True:
            await asyncio.sleep(SAFETY_NET_S)
            try:
                # A Redis that lost its data gets all its work again (ops/reconcile.py), else the scheduled jobs.
                await asyncio.get_running_loop().run_in_executor(
                    app[DB_EXECUTOR], lambda: reconcile_if_redis_lost(app[RUNTIME]) or ensure_scheduled_jobs(app[RUNTIME]))
            except Exception:  # Redis or the database down for a moment: try again next time
                log.exception("the scheduled-send safety net failed; retrying in %s s", SAFETY_NET_S)
    task = asyncio.create_task(loop(), name="tocsin-scheduled-safety-net")
    yield
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


def _alert_id(request: web.Request) -> int:
    return path_id(request, "alert_id")


def _start_of(request: web.Request) -> date:
    raw = request.query.get("from")
    today = datetime.now(timezone.utc).date()
    if not raw:
        return today - timedelta(days=today.weekday())
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValidationError(f"from must be a date such as {today.isoformat()}", field="from") from None


async def calendar_page(request: web.Request) -> web.Response:
    operator = require_page(request, Role.VIEWER)
    first = _start_of(request)
    last = first + timedelta(weeks=CALENDAR_WEEKS)
    start = datetime.combine(first, time(), tzinfo=timezone.utc)
    end = datetime.combine(last, time(), tzinfo=timezone.utc)

    def read(session: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        return launching.calendar(session, start, end), launching.awaiting_approval(session)

    entries, waiting = await in_transaction(request, read)
    by_day: dict[date, list[dict[str, Any]]] = {}
    for entry in entries:
        by_day.setdefault(entry["at"].date(), []).append(entry)
    days = [(first + timedelta(days=n), by_day.get(first + timedelta(days=n), []))
            for n in range((last - first).days)]
    return render(request, "calendar.html", {
        "days": days, "waiting": waiting, "first": first, "last": last - timedelta(days=1),
        "today": datetime.now(timezone.utc).date(), "can_act": operator.role in (Role.OPERATOR, Role.ADMIN),
        "previous": (first - timedelta(weeks=CALENDAR_WEEKS)).isoformat(), "next": last.isoformat(),
        "scheduled_count": sum(1 for e in entries if not e["sent"]), "done": _done_message(request)})


DONE = {"approve": "approved", "reject": "sent back to draft", "reschedule": "rescheduled",
        "cancel-schedule": "cancelled"}


def _done_message(request: web.Request) -> str:
    action, alert_id = request.query.get("done"), request.query.get("alert", "")
    if action not in DONE or not alert_id.isdigit():
        return ""
    return f"Alert {alert_id} {DONE[action]}."


def _safe_next(value: Any, default: str) -> str:
    """Only a path on this site (never //host or a scheme) may be where a form returns to."""
    if isinstance(value, str) and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return default


async def action_page(request: web.Request) -> web.Response:
    """One of ACTIONS on one alert: a confirmation page first, then (confirm=yes) the action."""
    operator = require_page(request, Role.OPERATOR)
    alert_id = _alert_id(request)
    action = request.path.rsplit("/", 1)[1]
    form = await request.post()
    back = _safe_next(form.get("next"), "/calendar")
    if form.get("confirm") != "yes":
        return await _confirmation(request, alert_id, action, form, back)
    actor = operator.actor
    if action == "approve":
        body = await send_flow.approve(request, alert_id, actor=actor)
    elif action == "reject":
        reason = form.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            return await _confirmation(request, alert_id, action, form, back, errors={
                "reason": "Say why the alert is refused; the submitter sees it in the audit log."})
        body = await send_flow.reject(request, alert_id, reason, actor=actor)
    elif action == "reschedule":
        try:
            body = await send_flow.reschedule(request, alert_id, form.get("scheduled_for"), actor=actor,
                                              naive_is_utc=True)
        except ValidationError as exc:
            return await _confirmation(request, alert_id, action, form, back, errors={"scheduled_for": exc.message})
    elif action == "unschedule":
        body = await send_flow.unschedule(request, alert_id, actor=actor)
        raise web.HTTPSeeOther(f"/compose/{body['id']}/edit")
    else:
        body = await send_flow.cancel(request, alert_id, actor=actor)
    raise web.HTTPSeeOther(back if back != "/calendar" else f"/calendar?done={action}&alert={body['id']}")


async def _confirmation(request: web.Request, alert_id: int, action: str, form: Any, back: str, *,
                        errors: dict[str, str] | None = None) -> web.Response:
    def read(session: Any) -> dict[str, Any]:
        alert = alerts.get_alert(session, alert_id)
        summary = alerts.summary(session, alert)
        summary["audience"] = targeting.count(session, alert.target)
        summary["state"] = launching.state_of(alert)
        return summary
    alert = await in_transaction(request, read)
    default_time = ""
    if alert["scheduled_for"]:
        default_time = launching.utc(datetime.fromisoformat(alert["scheduled_for"])).strftime("%Y-%m-%dT%H:%M")
    chosen = form.get("scheduled_for") if isinstance(form.get("scheduled_for"), str) else default_time
    return render(request, "schedule_confirm.html", {
        "alert": alert, "action": action, "next": back, "errors": errors or {},
        "scheduled_for_value": chosen, "reason": form.get("reason") or "",
        "mode": "drill" if alert["drill"] else "live"}, status=422 if errors else 200)
