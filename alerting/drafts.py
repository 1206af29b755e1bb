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

from alerting import alerts, audit
from alerting.errors import Conflict
from alerting.models import Alert
from alerting.statuses import AlertStatus

#: What an edit may change; the incident, template and origin stay as created.
EDITABLE = ("title", "message", "channels", "target", "severity", "drill", "variants", "translations", "policy")


def update_draft(session: Session, alert_id: int, data: Any, *, actor: str, available_channels: Iterable[str],
                 warnings: list[str] | None = None) -> Alert:
    """Replace a draft's words, target, channels, mode and policy; Conflict once it is no longer a draft."""
    alert = alerts.get_alert(session, alert_id)
    if alert.status != AlertStatus.DRAFT:
        raise Conflict(f"alert {alert.id} is {alert.status} and can no longer be edited")
    fields = alerts.checked_fields(session, data, available_channels=available_channels, warnings=warnings)
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
