"""Editing a draft before it is sent: the same checks as creating it, and never once it has left.

The edit is a compare-and-set on the draft status, like `dispatch.request_send`: an operator
editing while another presses send either edits a draft that is then sent as edited, or is told
the alert has gone; the message sent is never changed under way.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from alerting import alerts, audit, targeting
from alerting.errors import Conflict, ValidationError
from alerting.models import Alert
from alerting.statuses import AlertStatus, Severity

#: What an edit may change; the incident, template and origin stay as created.
EDITABLE = ("title", "message", "channels", "target", "severity", "drill", "variants", "translations", "policy")


def checked_fields(session: Session, data: Any, *, available_channels: Iterable[str],
                   warnings: list[str] | None = None) -> dict[str, Any]:
    """The editable fields of an alert, checked exactly as `alerts.create_alert` checks them."""
    if not isinstance(data, dict):
        raise ValidationError("the alert must be a JSON object")
    title = alerts._required_text(data, "title", alerts.MAX_TITLE)
    message = alerts._required_text(data, "message", alerts.MAX_MESSAGE)
    channels = alerts._channels(data.get("channels"), available_channels)
    target = targeting.normalize_target(session, data.get("target"), warnings=warnings)
    severity = str(data.get("severity", Severity.SEVERE)).lower()
    if severity not in set(Severity):
        raise ValidationError(f"severity must be one of {', '.join(Severity)}", field="severity")
    drill = data.get("drill", False)
    if not isinstance(drill, bool):
        raise ValidationError("drill must be true or false", field="drill")
    return {"title": title, "message": message, "channels": channels, "target": target, "severity": severity,
            "drill": drill, "variants": alerts._variants(data.get("variants"), channels),
            "translations": alerts._translations(data.get("translations"), channels),
            "policy": alerts._policy_name(session, data.get("policy", alerts.DEFAULT_POLICY_MARK))}


def update_draft(session: Session, alert_id: int, data: Any, *, actor: str, available_channels: Iterable[str],
                 warnings: list[str] | None = None) -> Alert:
    """Replace a draft's words, target, channels, mode and policy; Conflict once it is no longer a draft."""
    alert = alerts.get_alert(session, alert_id)
    if alert.status != AlertStatus.DRAFT:
        raise Conflict(f"alert {alert.id} is {alert.status} and can no longer be edited")
    fields = checked_fields(session, data, available_channels=available_channels, warnings=warnings)
    old_title = alert.title
    changed = session.execute(update(Alert).where(Alert.id == alert.id, Alert.status == AlertStatus.DRAFT)
                              .values(**fields)).rowcount
    if not changed:
        raise Conflict(f"alert {alert.id} was sent while it was being edited; the edit was not saved")
    session.refresh(alert)
    alone = session.scalar(select(func.count()).select_from(Alert).where(Alert.incident_id == alert.incident_id)) == 1
    if alone and alert.incident.name == old_title:
        alert.incident.name = fields["title"]  # an incident named after its only draft follows its title
    audit.record(session, actor, "alert.edit", "alert", alert.id, channels=fields["channels"], drill=fields["drill"])
    return alert
