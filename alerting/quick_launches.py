"""Quick launch: a template, its values, a target, channels, a policy and live/drill, bound by an
admin to a secret launch URL (a panic button, a QR code on a security desk, another system).

The secret is the credential: random, shown once at creation, stored only as its SHA-256 digest.
An unknown and a revoked secret look the same (NotFound). A launch creates a new alert from the
template and sends it through alerting/launching.py like any other send, audited as
`quick_launch:<name>` with origin `quick_launch:<id>`.

Rate limit, also the double-press guard: one launch per quick launch per `WINDOW`. The first press
claims the window with a compare-and-set on `last_used_at`; a press inside it launches nothing and
gets the alert already launched (audited as a repeat).

The two-person rule applies to quick launches like any send, unless the admin marked the quick
launch `skip_approval` when creating it (a panic button nobody can wait on): that choice is
recorded in the audit log and shown on the list.
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any, Iterable

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from alerting import alerts, audit, launching, targeting, templates
from alerting.errors import Conflict, NotFound, ValidationError
from alerting.models import Alert, EscalationPolicy, QuickLaunch, utcnow

PREFIX = "ql_"
#: One launch per quick launch in this window; a press inside it returns the alert already launched.
WINDOW = timedelta(seconds=60)
#: Short, so `quick_launch:<name>` fits the audit log's actor.
MAX_NAME = 100
#: The policy choice meaning "the template's, else the installation's default".
TEMPLATE_POLICY = ""
NO_POLICY = "none"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def actor_of(quick_launch: QuickLaunch) -> str:
    return f"quick_launch:{quick_launch.name}"


def origin_of(quick_launch: QuickLaunch) -> str:
    return f"quick_launch:{quick_launch.id}"


def skips_approval(quick_launch: QuickLaunch) -> bool:
    return bool(quick_launch.skip_approval)


def _policy(session: Session, value: Any, template_policy: str | None) -> str | None:
    if value in (None, TEMPLATE_POLICY):
        if template_policy is not None:
            return template_policy
        exists = session.scalar(select(EscalationPolicy.id).where(EscalationPolicy.name == alerts.DEFAULT_POLICY))
        return alerts.DEFAULT_POLICY if exists is not None else None
    if value == NO_POLICY:
        return None
    if not isinstance(value, str) or session.scalar(
            select(EscalationPolicy.id).where(EscalationPolicy.name == value)) is None:
        raise ValidationError(f"no escalation policy named {value!r}", field="policy")
    return value


def create(session: Session, data: Any, *, actor: str, available_channels: Iterable[str]) -> tuple[QuickLaunch, str]:
    """Check and store a quick launch; returns it and its secret (shown once, never stored)."""
    if not isinstance(data, dict):
        raise ValidationError("the quick launch must be an object")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValidationError("name is required", field="name")
    name = name.strip()
    if len(name) > MAX_NAME:
        raise ValidationError(f"name is longer than {MAX_NAME} characters", field="name")
    if session.scalar(select(QuickLaunch.id).where(QuickLaunch.name == name)) is not None:
        raise Conflict(f"a quick launch named {name!r} already exists")
    template_id = data.get("template_id")
    if isinstance(template_id, str) and template_id.isdigit():
        template_id = int(template_id)
    if not isinstance(template_id, int):
        raise ValidationError("choose a template", field="template_id")
    try:
        template = templates.get_template(session, template_id)
    except NotFound:
        raise ValidationError(f"no template with id {template_id}", field="template_id") from None
    if template.archived_at is not None:
        raise ValidationError(f"template {template.name!r} is archived", field="template_id")
    values = templates.check_values(template, data.get("values"))
    target_in = data.get("target") if data.get("target") else template.target
    if not target_in:
        raise ValidationError("choose who it reaches: the template has no default target", field="target")
    target = targeting.normalize_target(session, target_in)
    if not targeting.reaches_anyone(session, target):
        raise ValidationError("the target reaches no one: no recipient is in its groups or areas", field="target")
    available = list(available_channels)
    channels = data.get("channels") or None
    if channels is not None:
        if not isinstance(channels, list) or not all(c in available for c in channels):
            raise ValidationError(f"channels must be among {', '.join(available)}", field="channels")
        channels = list(dict.fromkeys(channels))
    else:  # the template's, those configured here (stored, so the list shows exactly what it sends)
        channels = [c for c in template.channels if c in available]
    if not channels:
        raise ValidationError("choose one or more channels", field="channels")
    policy = _policy(session, data.get("policy"), template.policy)
    drill = data.get("drill", False)
    skip = data.get("skip_approval", False)
    if not isinstance(drill, bool) or not isinstance(skip, bool):
        raise ValidationError("drill and skip_approval must be true or false", field="drill")
    secret = PREFIX + secrets.token_urlsafe(32)
    stored_values = dict(values)
    quick_launch = QuickLaunch(name=name, token_hash=_digest(secret), template_id=template.id, target=target,
                               channels=channels, policy=policy, values=stored_values, drill=drill, skip_approval=skip,
                               created_by=actor)
    session.add(quick_launch)
    session.flush()
    # The alert it would send must be valid now, not discovered at the moment of need.
    templates.alert_data(template, values, target=target, channels=channels, policy=policy, drill=drill)
    audit.record(session, actor, "quick_launch.create", "quick_launch", quick_launch.id, name=name,
                 template_id=template.id, drill=drill, skip_approval=skip)
    return quick_launch, secret


def by_secret(session: Session, secret: str) -> QuickLaunch:
    """The quick launch behind a secret; NotFound alike for an unknown and a revoked one."""
    found = session.scalar(select(QuickLaunch).where(QuickLaunch.token_hash == _digest(secret or ""),
                                                     QuickLaunch.revoked_at.is_(None)))
    if found is None:
        raise NotFound("there is nothing at this address")
    return found


def revoke(session: Session, quick_launch_id: int, *, actor: str) -> QuickLaunch:
    quick_launch = session.get(QuickLaunch, quick_launch_id)
    if quick_launch is None:
        raise NotFound(f"no quick launch with id {quick_launch_id}")
    if quick_launch.revoked_at is None:
        quick_launch.revoked_at = utcnow()
        audit.record(session, actor, "quick_launch.revoke", "quick_launch", quick_launch.id, name=quick_launch.name)
    return quick_launch


def describe(session: Session, quick_launch: QuickLaunch) -> dict[str, Any]:
    """What a launch would send, in words for its confirmation page: LIVE/DRILL, audience, channels."""
    template = templates.get_template(session, quick_launch.template_id)
    values = dict(quick_launch.values or {})
    channels = quick_launch.channels or list(template.channels)
    return {"id": quick_launch.id, "name": quick_launch.name, "template": template.name,
            "template_id": template.id, "title": templates.fill(template.title, values),
            "message": templates.fill(template.message, values), "severity": template.severity,
            "drill": quick_launch.drill, "channels": channels, "target": quick_launch.target,
            "audience": targeting.count(session, quick_launch.target), "policy": quick_launch.policy,
            "skip_approval": skips_approval(quick_launch), "created_by": quick_launch.created_by,
            "created_at": quick_launch.created_at, "last_used_at": quick_launch.last_used_at,
            "revoked": quick_launch.revoked_at is not None}


def list_all(session: Session) -> list[dict[str, Any]]:
    return [describe(session, q) for q in session.scalars(select(QuickLaunch).order_by(QuickLaunch.name))]


def launch(session: Session, secret: str, *, approval_severity: str | None, available_channels: Iterable[str],
           now: datetime | None = None) -> tuple[launching.Outcome, bool]:
    """Launch: create the alert and submit it. Returns (outcome, repeat); `repeat` is True for a press
    inside the window, which launches nothing and returns the alert already launched."""
    quick_launch = by_secret(session, secret)
    now = launching.utc(now or utcnow())
    actor = actor_of(quick_launch)
    claimed = session.execute(update(QuickLaunch).where(
        QuickLaunch.id == quick_launch.id, QuickLaunch.revoked_at.is_(None),
        or_(QuickLaunch.last_used_at.is_(None), QuickLaunch.last_used_at <= now - WINDOW))
        .values(last_used_at=now).execution_options(synchronize_session=False)).rowcount
    if not claimed:
        last = session.scalar(select(Alert).where(Alert.origin == origin_of(quick_launch))
                              .order_by(Alert.id.desc()).limit(1))
        if last is not None:
            audit.record(session, actor, "quick_launch.repeat", "quick_launch", quick_launch.id, alert_id=last.id)
            return launching.Outcome(last, False), True
        session.execute(update(QuickLaunch).where(QuickLaunch.id == quick_launch.id).values(last_used_at=now))
    template = templates.get_template(session, quick_launch.template_id)
    values = dict(quick_launch.values or {})
    data = templates.alert_data(template, values, target=quick_launch.target, channels=quick_launch.channels,
                                policy=quick_launch.policy, drill=quick_launch.drill)
    data["origin"] = origin_of(quick_launch)
    alert = alerts.create_alert(session, data, actor=actor, available_channels=available_channels)
    outcome = launching.submit(session, alert.id, actor=actor, approval_severity=approval_severity,
                               skip_approval=skips_approval(quick_launch))
    audit.record(session, actor, "quick_launch.launch", "quick_launch", quick_launch.id, alert_id=alert.id,
                 origin=data["origin"], drill=quick_launch.drill, state=outcome.state)
    return outcome, False
