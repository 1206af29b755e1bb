"""Follow-ups: a correction, a false alarm, an update or an all-clear to the people an alert reached.

The Hawaii lesson (2018: a false missile alert, 38 minutes to correct it because nothing was
prepared): every sent alert can be followed up at once, pre-filled, and the follow-up reaches
exactly the same people on the same channels. So a follow-up is a new alert

- in the same incident, with the same channels and the same drill flag (a drill's false alarm is
  a drill too: every message still says TEST);
- whose target is `{"alerts": [original id]}`: the people the original was written for when it
  went out (its alert_recipients), not its target read again, so people added to a group since do
  not receive a false alarm about an alert they never had;
- naming the alert it follows (`follows_alert_id`, `follow_kind`).

Policies, each written here once for the console and the API:

- Only an alert whose send has started, and whose recipients are written, can be followed up (a
  draft reached no one; an alert sent seconds ago whose recipients are not yet written is cancelled
  instead, which stops it before anything goes out).
- A false alarm also stops the original (cancelled: nothing more of it is sent and it escalates no
  further), so no one is called about an emergency that does not exist.
- False alarms and all-clears tell people the danger is over: severity minor and no escalation
  policy (there is nothing to chase anyone for). Corrections and updates keep the original's
  severity and policy: the people still silent are chased with the corrected instructions.
- The same follow-up (kind and text) of the same alert is created once: a double click, or two
  operators pressing the same button, gives back the first one, which send_flow then sends once.
"""
from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from alerting import alerts, audit
from alerting.errors import Conflict, ValidationError
from alerting.models import Alert, AlertRecipient, AlertTemplate, utcnow
from alerting.statuses import OPEN_ALERT_STATUSES, AlertStatus, Severity


class FollowKind(StrEnum):
    CORRECTION = "correction"
    FALSE_ALARM = "false_alarm"
    UPDATE = "update"
    ALL_CLEAR = "all_clear"


#: Kinds whose text the operator must write (a false alarm and an all-clear come pre-written).
NEEDS_TEXT = (FollowKind.CORRECTION, FollowKind.UPDATE)
#: Kinds that say the danger is over: no escalation, lowest severity.
STAND_DOWN = (FollowKind.FALSE_ALARM, FollowKind.ALL_CLEAR)
TITLE_PREFIX = {FollowKind.CORRECTION: "CORRECTION", FollowKind.FALSE_ALARM: "FALSE ALARM",
                FollowKind.UPDATE: "UPDATE", FollowKind.ALL_CLEAR: "ALL CLEAR"}
#: The library template an all-clear is written from, when the installation has it (alerting/templates.py).
ALL_CLEAR_TEMPLATE = "All clear"
#: Alerts that never went out: nothing to follow up.
NOT_SENT = (AlertStatus.DRAFT, AlertStatus.SCHEDULED, AlertStatus.AWAITING_APPROVAL)


def sent_at_words(alert: Alert) -> str:
    """When the alert went out, as people read it in a message ("14:05 UTC on 23 Nov 2026")."""
    moment = alert.send_requested_at or alert.created_at
    return moment.strftime("%H:%M UTC on %d %b %Y").lstrip("0")


def _kind(value: Any) -> FollowKind:
    try:
        return FollowKind(value)
    except ValueError:
        raise ValidationError(f"kind must be one of {', '.join(FollowKind)}, got {value!r}", field="kind") from None


def _all_clear_text(session: Session, original: Alert) -> str:
    template = session.scalar(select(AlertTemplate).where(AlertTemplate.name == ALL_CLEAR_TEMPLATE,
                                                          AlertTemplate.archived_at.is_(None)))
    if template is not None and "{incident}" in template.message:
        # Filled by hand: only {incident} is known here; any other placeholder would stay visible.
        text = template.message.replace("{incident}", original.incident.name)
        if "{" not in text:
            return text
    return f"ALL CLEAR: the emergency of the alert '{original.title}' is over. You may resume normal activity."


def prefilled_text(session: Session, original: Alert, kind: Any) -> str:
    """What the confirmation form shows before the operator edits it (empty: they must write it)."""
    kind = _kind(kind)
    if kind == FollowKind.FALSE_ALARM:
        return (f"FALSE ALARM: the alert '{original.title}' sent at {sent_at_words(original)} was sent in error. "
                f"There is no emergency. No action is needed.")
    if kind == FollowKind.ALL_CLEAR:
        return _all_clear_text(session, original)
    return ""


def message_for(session: Session, original: Alert, kind: Any, text: str | None) -> str:
    """The follow-up's message: the operator's text (a correction says what it corrects), or the
    pre-written one when they gave none."""
    kind = _kind(kind)
    text = (text or "").strip()
    if not text:
        if kind in NEEDS_TEXT:
            raise ValidationError(f"write the {kind.replace('_', ' ')} people should receive", field="message")
        return prefilled_text(session, original, kind)
    if kind == FollowKind.CORRECTION and not text.upper().startswith("CORRECTION"):
        return f"CORRECTION: {text} This corrects the alert '{original.title}' sent at {sent_at_words(original)}."
    if kind == FollowKind.UPDATE and not text.upper().startswith("UPDATE"):
        return f"UPDATE: {text}"
    return text


def check_can_follow(session: Session, alert: Alert) -> None:
    """A follow-up needs people to reach: the alert was sent and its recipients are written."""
    if alert.status in NOT_SENT or alert.send_requested_at is None:
        raise Conflict(f"alert {alert.id} was never sent ({alert.status}), so it reached no one: "
                       f"there is nothing to follow up")
    if audience(session, alert.id) == 0:
        raise Conflict(f"alert {alert.id} has not reached anyone yet (its send started moments ago): cancel it "
                       f"to stop it before anything goes out, or follow it up in a few seconds")


def audience(session: Session, alert_id: int) -> int:
    """How many people a follow-up of the alert reaches (its recipients, as written when it went out)."""
    return session.scalar(select(func.count()).select_from(AlertRecipient)
                          .where(AlertRecipient.alert_id == alert_id)) or 0


def create_follow_up(session: Session, alert_id: int, kind: Any, text: str | None, actor: str, *,
                     origin: str = "console") -> Alert:
    """Create (not send) the follow-up alert; see the module docstring for what it carries."""
    kind = _kind(kind)
    original = alerts.get_alert(session, alert_id)
    check_can_follow(session, original)
    message = message_for(session, original, kind, text)
    if len(message) > alerts.MAX_MESSAGE:
        raise ValidationError(f"message is longer than {alerts.MAX_MESSAGE} characters ({len(message)})",
                              field="message")
    same = session.scalar(select(Alert).where(Alert.follows_alert_id == original.id, Alert.follow_kind == kind,
                                              Alert.message == message).order_by(Alert.id).limit(1))
    if same is not None:
        return same
    if original.incident.status != "open":
        raise Conflict(f"incident {original.incident_id} is closed; reopen it to follow up alert {original.id}")
    data = {"title": f"{TITLE_PREFIX[kind]}: {original.title}"[:alerts.MAX_TITLE], "message": message,
            "channels": list(original.channels), "target": {"alerts": [original.id]}, "drill": original.drill,
            "incident_id": original.incident_id, "origin": origin,
            "severity": Severity.MINOR if kind in STAND_DOWN else original.severity,
            "policy": None if kind in STAND_DOWN else original.policy}
    # The original's channels were checked when it was created; the follow-up must use the same ones.
    follow_up = alerts.create_alert(session, data, actor=actor, available_channels=original.channels)
    follow_up.follows_alert_id = original.id
    follow_up.follow_kind = kind
    session.flush()
    audit.record(session, actor, "alert.follow_up", "alert", follow_up.id, follows=original.id, kind=str(kind))
    if kind == FollowKind.FALSE_ALARM:
        _stop(session, original, actor)
    return follow_up


def _stop(session: Session, original: Alert, actor: str) -> None:
    """Cancel the original (as escalation.accountability.cancel does): send jobs find it cancelled and
    mark their rows so, and escalation runs skip it."""
    stopped = session.execute(update(Alert).where(Alert.id == original.id, Alert.status.in_(OPEN_ALERT_STATUSES))
                              .values(status=AlertStatus.CANCELLED, cancelled_at=utcnow())).rowcount
    if stopped:
        session.refresh(original)
        audit.record(session, actor, "alert.cancel", "alert", original.id, reason="false_alarm")
