"""The administration pages: escalation policies, providers, the audit log, users and API tokens.

Everyone signed in reads `/policies`, `/providers` and `/audit`; `/users` is for administrators
only, and so is every change here (checked on each POST; forms are hidden from the others). The
rules live in the core (escalation/policies.py, alerting/users.py, alerting/tokens.py); the
handlers turn form fields into the core's values and its errors into messages next to the fields.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Mapping
from urllib.parse import urlsplit

from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerting import audit, tokens, users
from alerting.errors import Conflict, NotFound, PermissionDenied, ValidationError
from alerting.models import User
from alerting.provider_health import LAG_SHARE, LAG_THRESHOLD, provider_health
from alerting.statuses import Role
from alerting.timefmt import as_utc
from channels.smtp_email import parse_smtp_url
from console.db import in_transaction
from console.keys import RUNTIME
from console.pages_directory import FieldErrors, can
from console.render import render
from console.session import require_page
from escalation import policies
from ops.settings import SANDBOX_ACCOUNT_SID

NOTICES = {
    "user-created": "The user was created. Give them their password in person or by phone, never by email.",
    "role-changed": "The role was changed; it applies from their next page.",
    "disabled": "The user was disabled and signed out everywhere.",
    "enabled": "The user was enabled; they can sign in again.",
    "unlocked": "The account was unlocked.",
    "password-set": "The password was set; the user was signed out everywhere.",
    "token-revoked": "The token was revoked; calls with it are refused from now on.",
}


def _text(form: Mapping[str, Any], key: str) -> str:
    value = form.get(key, "")
    return value.strip() if isinstance(value, str) else ""


def _id(request: web.Request, key: str) -> int:
    raw = request.match_info[key]
    if not raw.isdigit() or len(raw) > 12:
        raise web.HTTPNotFound()
    return int(raw)


# ---- escalation policies --------------------------------------------------------------------

async def policies_page(request: web.Request) -> web.Response:
    operator = require_page(request)
    listed = await in_transaction(request, policies.list_policies)
    for policy in listed:
        policy["words"] = policies.in_words(policy["steps"], policy["final"])
    return render(request, "policies.html", {"policies": listed, "can_edit": can(operator, Role.ADMIN),
                                             "created": request.query.get("created", "")})


#: Empty step rows the form offers beyond a policy's own steps.
SPARE_ROWS = 2
MIN_ROWS = 4


def _blank_values(steps: list[dict[str, Any]] | None = None, final: dict[str, Any] | None = None,
                  name: str = "") -> dict[str, Any]:
    """Form values (text, minutes) from a stored policy's steps (seconds), or an empty form."""
    def minutes(seconds: Any) -> str:
        return "" if seconds is None else (f"{seconds / 60:g}")
    rows = [{"after": minutes(s["after_s"]), "channels": list(s["channels"]),
             "repeat": str(s.get("repeat") or 1) if (s.get("repeat") or 1) > 1 else "",
             "every": minutes(s.get("every_s"))} for s in steps or []]
    count = min(policies.MAX_STEPS, max(MIN_ROWS, len(rows) + SPARE_ROWS))
    rows += [{"after": "", "channels": [], "repeat": "", "every": ""} for _ in range(count - len(rows))]
    final_values = {"after": minutes(final["after_s"]), "notify": ", ".join(final["notify"]),
                    "channels": list(final["channels"])} if final else {"after": "", "notify": "", "channels": []}
    return {"name": name, "steps": rows, "final": final_values}


def _policy_form(request: web.Request, values: dict[str, Any], *, errors: dict[str, str] | None = None,
                 copied_from: str = "", status: int = 200) -> web.Response:
    return render(request, "policy_form.html", {"values": values, "errors": FieldErrors(errors or {}),
                                                "copied_from": copied_from}, status=status)


async def policy_new(request: web.Request) -> web.Response:
    require_page(request, Role.ADMIN)
    source = request.query.get("from", "")
    if not source:
        return _policy_form(request, _blank_values())
    policy = await in_transaction(request, lambda s: policies.describe(policies.get_policy(s, source)))
    return _policy_form(request, _blank_values(policy["steps"], policy["final"], name=f"{source} (changed)"),
                        copied_from=source)


def _minutes_to_seconds(text: str, field: str, errors: dict[str, str]) -> int | None:
    """Minutes as typed ("5", "0.5", "2,5") in whole seconds; None if blank or not a number."""
    if not text:
        return None
    try:
        value = float(text.replace(",", "."))
    except ValueError:
        errors[field] = f"Enter a number of minutes, such as 5 or 0.5 (got {text[:20]!r})."
        return None
    if value != value or abs(value) > 10**7:
        errors[field] = "Enter a number of minutes, such as 5 or 0.5."
        return None
    return round(value * 60)


def _form_values(form: Any, rows: int) -> dict[str, Any]:
    steps = [{"after": _text(form, f"step-{i}-after"), "channels": [str(c) for c in form.getall(f"step-{i}-channels", [])],
              "repeat": _text(form, f"step-{i}-repeat"), "every": _text(form, f"step-{i}-every")} for i in range(rows)]
    final = {"after": _text(form, "final-after"), "notify": _text(form, "final-notify"),
             "channels": [str(c) for c in form.getall("final-channels", [])]}
    return {"name": _text(form, "name"), "steps": steps, "final": final}


def policy_from_form(values: dict[str, Any]) -> tuple[dict[str, Any], list[int], dict[str, str]]:
    """The policy as the core takes it (seconds), which form row each step came from, and the
    fields that are not numbers. Rows left blank are skipped."""
    errors: dict[str, str] = {}
    steps, rows = [], []
    for i, row in enumerate(values["steps"]):
        if not (row["after"] or row["channels"] or row["repeat"] or row["every"]):
            continue
        step: dict[str, Any] = {"after_s": _minutes_to_seconds(row["after"], f"step-{i}-after", errors),
                                "channels": row["channels"]}
        if not row["after"]:
            errors[f"step-{i}-after"] = "Say after how many minutes this step runs."
        if row["repeat"]:
            if row["repeat"].isdigit():
                step["repeat"] = int(row["repeat"])
            else:
                errors[f"step-{i}-repeat"] = "Enter a whole number of times, such as 3."
        every = _minutes_to_seconds(row["every"], f"step-{i}-every", errors)
        if every is not None:
            step["every_s"] = every
        steps.append(step)
        rows.append(i)
    data: dict[str, Any] = {"name": values["name"], "steps": steps}
    final = values["final"]
    if final["after"] or final["notify"] or final["channels"]:
        notify = [n for n in final["notify"].replace(";", ",").replace("\n", ",").split(",") if n.strip()]
        data["final"] = {"after_s": _minutes_to_seconds(final["after"], "final-after", errors),
                         "notify": [n.strip() for n in notify], "channels": final["channels"]}
        if not final["after"]:
            errors["final-after"] = "Say after how many minutes the supervisors are told."
    return data, rows, errors


def _policy_error_field(field: str | None, rows: list[int]) -> tuple[str, str]:
    """The form field behind a core error ("steps[1].every_s" -> "step-3-every") and its label."""
    if not field or field == "name":
        return "name", ""
    if field.startswith("steps["):
        index, _, member = field[len("steps["):].partition("].")
        if index.isdigit() and int(index) < len(rows):
            row = rows[int(index)]
            kind = {"after_s": "after", "channels": "channels", "repeat": "repeat", "every_s": "every"}.get(member, "after")
            return f"step-{row}-{kind}", f"steps[{index}]"
        return "steps", ""
    if field.startswith("final"):
        member = field.partition(".")[2]
        kind = {"after_s": "after", "notify": "notify", "channels": "channels"}.get(member, "after")
        return f"final-{kind}", ""
    return "steps", ""


async def policy_create(request: web.Request) -> web.Response:
    operator = require_page(request, Role.ADMIN)
    form = await request.post()
    indexes = [key.split("-")[1] for key in form if key.startswith("step-") and key.count("-") == 2]
    rows = max((int(i) + 1 for i in indexes if i.isdigit() and len(i) < 3), default=1)
    values = _form_values(form, min(rows, policies.MAX_STEPS))
    data, row_of_step, errors = policy_from_form(values)
    copied_from = _text(form, "copied_from")
    if not errors:
        channels = request.app[RUNTIME].available_channels
        try:
            policy = await in_transaction(request, lambda s: policies.create_policy(
                s, data, actor=operator.actor, available_channels=channels))
        except ValidationError as exc:
            field, path = _policy_error_field(exc.field, row_of_step)
            message = exc.message
            if path and field.startswith("step-"):
                message = message.replace(f"{path}.", f"step {int(field.split('-')[1]) + 1}: ")
            errors = {field: message}
        except Conflict as exc:
            return _policy_form(request, values, errors={"name": str(exc)}, copied_from=copied_from, status=409)
        else:
            raise web.HTTPSeeOther(f"/policies?created={policy.id}#policy-{policy.id}")
    return _policy_form(request, values, errors=errors, copied_from=copied_from, status=422)


# ---- providers ---------------------------------------------------------------------------------

def _where(channel: str, account: dict[str, Any]) -> str:
    """Where a provider account sends, without credentials."""
    if channel in ("sms", "voice"):
        return urlsplit(account.get("base") or "https://api.twilio.com").netloc or "api.twilio.com"
    if channel == "email":
        target = parse_smtp_url(account["url"])
        return f"{target.host}:{target.port}"
    return "each browser's push service"


def provider_rows(runtime: Any, health: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each configured provider per channel with its recent health and limits; then any provider
    that sent recently but is no longer configured."""
    settings = runtime.settings
    by_key = {(h["channel"], h["provider"]): h for h in health}
    rows = []
    for channel in runtime.available_channels:
        for account in runtime._accounts(channel):
            name = account["name"]
            per_sender = settings.twilio_sender_rate_limit if channel == "sms" else 0
            rows.append({"channel": channel, "provider": name, "where": _where(channel, account),
                         "sandbox": channel in ("sms", "voice") and account.get("sid") == SANDBOX_ACCOUNT_SID,
                         "rate": runtime.rate_limits.get(f"{name}:{channel}"), "per_sender": per_sender or None,
                         "health": by_key.pop((channel, name), None), "configured": True})
    for (channel, name), entry in sorted(by_key.items()):
        rows.append({"channel": channel, "provider": name, "where": "", "sandbox": False, "rate": None,
                     "per_sender": None, "health": entry, "configured": False})
    return rows


WINDOWS = {15: "15 minutes", 60: "hour", 24 * 60: "24 hours"}


async def providers_page(request: web.Request) -> web.Response:
    require_page(request)
    raw = request.query.get("minutes", "60")
    minutes = int(raw) if raw.isdigit() and int(raw) in WINDOWS else 60
    runtime = request.app[RUNTIME]
    health = await in_transaction(request, lambda s: provider_health(s, window=timedelta(minutes=minutes)))
    return render(request, "providers.html", {
        "rows": provider_rows(runtime, health), "minutes": minutes, "windows": WINDOWS,
        "lag_minutes": int(LAG_THRESHOLD.total_seconds() // 60), "lag_percent": round(LAG_SHARE * 100)})


# ---- audit log -------------------------------------------------------------------------------

async def audit_page(request: web.Request) -> web.Response:
    require_page(request)
    filters = {k: request.query.get(k, "").strip()[:200] for k in ("actor", "action", "object")}
    raw_before = request.query.get("before", "")
    before = int(raw_before) if raw_before.isdigit() and len(raw_before) < 15 else None

    def load(session: Session) -> tuple[list[dict[str, Any]], list[str]]:
        entries = audit.search(session, actor=filters["actor"], action=filters["action"], subject=filters["object"],
                               before=before, limit=audit.PAGE_SIZE + 1)
        return [{"id": e.id, "at": e.at, "actor": e.actor, "action": e.action, "subject_type": e.subject_type,
                 "subject_id": e.subject_id, "details": e.details or {}} for e in entries], audit.known_actions(session)

    entries, actions = await in_transaction(request, load)
    more = len(entries) > audit.PAGE_SIZE
    entries = entries[:audit.PAGE_SIZE]
    return render(request, "audit.html", {
        "entries": entries, "filters": filters, "actions": actions, "before": before,
        "older": entries[-1]["id"] if more and entries else None})


# ---- users and API tokens ------------------------------------------------------------------------



def _users_overview(session: Session) -> dict[str, Any]:
    now = datetime.now(timezone.utc)
    listed = [{"id": u.id, "email": u.email, "name": u.name, "role": u.role, "last_login_at": u.last_login_at,
               "created_at": u.created_at, "disabled": u.disabled_at is not None,
               "locked": (as_utc(u.locked_until) if u.locked_until else now) > now} for u in users.list_users(session)]
    api_tokens = [{"id": t.id, "label": t.label, "role": t.role, "created_at": t.created_at,
                   "last_used_at": t.last_used_at, "revoked_at": t.revoked_at} for t in tokens.list_tokens(session)]
    return {"users": listed, "tokens": api_tokens}


async def users_page(request: web.Request, *, errors: dict[str, str] | None = None,
                     values: dict[str, str] | None = None, new_token: dict[str, str] | None = None,
                     status: int = 200) -> web.Response:
    require_page(request, Role.ADMIN)
    overview = await in_transaction(request, _users_overview)
    return render(request, "users.html", {
        **overview, "roles": [str(r) for r in Role], "errors": FieldErrors(errors or {}), "new_token": new_token,
        "values": values or {"email": "", "name": "", "role": "operator", "label": "", "token_role": "operator"},
        "notice": NOTICES.get(request.query.get("done", ""), ""), "min_password": users.MIN_PASSWORD}, status=status)


def _enabled_admins(session: Session, *, besides: int) -> int:
    return session.scalar(select(func.count()).select_from(User).where(
        User.role == Role.ADMIN, User.disabled_at.is_(None), User.id != besides)) or 0


def keep_an_admin(session: Session, acting_user_id: int, user_id: int, *, new_role: str | None = None,
                  disabling: bool = False) -> None:
    """Refuse a change that would lock everyone out: an administrator disabling or demoting
    themselves, or the last enabled administrator losing the role."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user with id {user_id}")
    loses_admin = user.role == Role.ADMIN and (disabling or (new_role is not None and new_role != Role.ADMIN))
    if not loses_admin:
        return
    if user_id == acting_user_id:
        what = "disable" if disabling else "demote"
        raise PermissionDenied(f"you cannot {what} yourself; another administrator can")
    if user.disabled_at is None and _enabled_admins(session, besides=user_id) == 0:
        raise Conflict(f"{user.email} is the last enabled administrator; make someone else an administrator first")


async def _user_action(request: web.Request, work: Any, done: str) -> web.Response:
    """Run one change to a user; a refusal is shown on that user's row, on the same page."""
    operator = require_page(request, Role.ADMIN)
    user_id = _id(request, "user_id")
    form = await request.post()
    try:
        await in_transaction(request, lambda s: work(s, operator, user_id, form))
    except (ValidationError, Conflict, PermissionDenied) as exc:
        message = exc.message if isinstance(exc, ValidationError) else str(exc)
        return await users_page(request, errors={f"user-{user_id}": message[:1].upper() + message[1:] + "."},
                                status=409 if isinstance(exc, Conflict) else
                                403 if isinstance(exc, PermissionDenied) else 422)
    raise web.HTTPSeeOther(f"/users?done={done}#user-{user_id}")


async def user_create(request: web.Request) -> web.Response:
    operator = require_page(request, Role.ADMIN)
    form = await request.post()
    values = {"email": _text(form, "email"), "name": _text(form, "name"), "role": _text(form, "role"),
              "label": "", "token_role": "operator"}
    password = form.get("password", "")
    try:
        await in_transaction(request, lambda s: users.create_user(
            s, values["email"], password, values["role"], name=values["name"], actor=operator.actor))
    except ValidationError as exc:
        return await users_page(request, errors={f"new-{exc.field or 'email'}": exc.message}, values=values, status=422)
    except Conflict as exc:
        return await users_page(request, errors={"new-email": str(exc)}, values=values, status=409)
    raise web.HTTPSeeOther("/users?done=user-created")


async def user_role(request: web.Request) -> web.Response:
    def work(session: Session, operator: Any, user_id: int, form: Any) -> None:
        role = _text(form, "role")
        keep_an_admin(session, operator.user_id, user_id, new_role=role)
        users.set_role(session, user_id, role, actor=operator.actor)
    return await _user_action(request, work, "role-changed")


async def user_disable(request: web.Request) -> web.Response:
    def work(session: Session, operator: Any, user_id: int, form: Any) -> None:
        keep_an_admin(session, operator.user_id, user_id, disabling=True)
        users.set_disabled(session, user_id, True, actor=operator.actor)
    return await _user_action(request, work, "disabled")


async def user_enable(request: web.Request) -> web.Response:
    def work(session: Session, operator: Any, user_id: int, form: Any) -> None:
        users.set_disabled(session, user_id, False, actor=operator.actor)
    return await _user_action(request, work, "enabled")


async def user_unlock(request: web.Request) -> web.Response:
    def work(session: Session, operator: Any, user_id: int, form: Any) -> None:
        users.unlock(session, user_id, actor=operator.actor)
    return await _user_action(request, work, "unlocked")


async def user_password(request: web.Request) -> web.Response:
    def work(session: Session, operator: Any, user_id: int, form: Any) -> None:
        users.set_password(session, user_id, form.get("password", ""), actor=operator.actor)
    return await _user_action(request, work, "password-set")


async def token_create(request: web.Request) -> web.Response:
    """Create an API token and show it this once: only its digest is kept."""
    operator = require_page(request, Role.ADMIN)
    form = await request.post()
    label, role = _text(form, "label")[:200], _text(form, "role")
    values = {"email": "", "name": "", "role": "operator", "label": label, "token_role": role}
    if not label:
        return await users_page(request, errors={"token-label": "Say what the token is for, such as \"HR sync\"."},
                                values=values, status=422)
    try:
        secret = await in_transaction(request, lambda s: tokens.create_token(s, role, label=label, actor=operator.actor))
    except ValidationError as exc:
        return await users_page(request, errors={"token-role": exc.message}, values=values, status=422)
    return await users_page(request, new_token={"label": label, "role": role, "secret": secret})


async def token_revoke(request: web.Request) -> web.Response:
    operator = require_page(request, Role.ADMIN)
    token_id = _id(request, "token_id")
    await in_transaction(request, lambda s: tokens.revoke_token(s, token_id, actor=operator.actor))
    raise web.HTTPSeeOther("/users?done=token-revoked#tokens")


def setup(app: web.Application) -> None:
    """Register this module's routes."""
    app.router.add_get("/policies", policies_page)
    app.router.add_get("/policies/new", policy_new)
    app.router.add_post("/policies", policy_create)
    app.router.add_get("/providers", providers_page)
    app.router.add_get("/audit", audit_page)
    app.router.add_get("/users", users_page)
    app.router.add_post("/users", user_create)
    app.router.add_post("/users/{user_id}/role", user_role)
    app.router.add_post("/users/{user_id}/disable", user_disable)
    app.router.add_post("/users/{user_id}/enable", user_enable)
    app.router.add_post("/users/{user_id}/unlock", user_unlock)
    app.router.add_post("/users/{user_id}/password", user_password)
    app.router.add_post("/users/tokens", token_create)
    app.router.add_post("/users/tokens/{token_id}/revoke", token_revoke)
