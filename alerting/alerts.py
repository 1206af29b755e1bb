"""Composing alerts and reading their progress: what an operator sees before and after sending."""
from __future__ import annotations

from typing import Any, Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerting import audit, targeting
from alerting.errors import NotFound, ValidationError
from alerting.models import Alert, AlertRecipient, AlertTemplate, Delivery, EscalationPolicy, Incident, Recipient
from alerting.statuses import NO_RESPONSE, AlertStatus, DeliveryStatus, ResponseKind, Severity
from alerting.rendering import sms_text
from alerting.timefmt import iso
from channels.segments import count_segments

MAX_TITLE = 300
#: Long enough for an email or a voice script; SMS splits it into segments.
MAX_MESSAGE = 5000
#: Always reported for each channel, so clients can read them without checking for absence.
REPORTED_DELIVERY_STATUSES = tuple(DeliveryStatus)


def _required_text(data: dict[str, Any], key: str, limit: int) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{key} is required and must not be empty", field=key)
    if len(value) > limit:
        raise ValidationError(f"{key} is longer than {limit} characters ({len(value)})", field=key)
    return value.strip()


def _channels(value: Any, available: Iterable[str]) -> list[str]:
    available = list(available)
    if not isinstance(value, list) or not value or not all(isinstance(c, str) for c in value):
        raise ValidationError(f"channels must be a non-empty list, e.g. {available[:2]}", field="channels")
    unknown = [c for c in value if c not in available]
    if unknown:
        raise ValidationError(f"channel {unknown[0]!r} is not configured; configured channels: "
                              f"{', '.join(available)}", field="channels")
    return list(dict.fromkeys(value))


def create_alert(session: Session, data: Any, *, actor: str, available_channels: Iterable[str],
                 warnings: list[str] | None = None) -> Alert:
    """Check and store a draft alert; it opens a new incident unless it names an open one.

    What was accepted leniently (a repaired polygon) is appended to `warnings`."""
    fields = _content_fields(session, data, available_channels=available_channels, warnings=warnings)
    template_id = data.get("template_id")
    if template_id is not None and (not isinstance(template_id, int) or session.get(AlertTemplate, template_id) is None):
        raise ValidationError(f"no template with id {template_id!r}", field="template_id")
    origin = data.get("origin")
    if origin is not None and (not isinstance(origin, str) or len(origin) > 60):
        raise ValidationError("origin must be a short text such as console or api", field="origin")
    fields["policy"] = _policy_name(session, data.get("policy", DEFAULT_POLICY_MARK))
    incident = _incident_for(session, data, fields["title"], actor)
    alert = Alert(incident=incident, **fields, status=AlertStatus.DRAFT, created_by=actor, template_id=template_id,
                  origin=origin)
    session.add(alert)
    session.flush()
    audit.record(session, actor, "alert.create", "alert", alert.id, incident_id=incident.id,
                 channels=alert.channels, drill=alert.drill)
    return alert


def checked_fields(session: Session, data: Any, *, available_channels: Iterable[str],
                   warnings: list[str] | None = None) -> dict[str, Any]:
    """What an operator may set or edit on an alert (words, channels, target, severity, mode,
    variants, translations, policy), checked; the one check behind creating and editing drafts."""
    fields = _content_fields(session, data, available_channels=available_channels, warnings=warnings)
    fields["policy"] = _policy_name(session, data.get("policy", DEFAULT_POLICY_MARK))
    return fields


def _content_fields(session: Session, data: Any, *, available_channels: Iterable[str],
                    warnings: list[str] | None) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValidationError("the alert must be a JSON object")
    title = _required_text(data, "title", MAX_TITLE)
    message = _required_text(data, "message", MAX_MESSAGE)
    channels = _channels(data.get("channels"), available_channels)
    target = targeting.normalize_target(session, data.get("target"), warnings=warnings)
    severity = str(data.get("severity", Severity.SEVERE)).lower()
    if severity not in set(Severity):
        raise ValidationError(f"severity must be one of {', '.join(Severity)}", field="severity")
    drill = data.get("drill", False)
    if not isinstance(drill, bool):
        raise ValidationError("drill must be true or false", field="drill")
    return {"title": title, "message": message, "channels": channels, "target": target, "severity": severity,
            "drill": drill, "variants": _variants(data.get("variants"), channels),
            "translations": _translations(data.get("translations"), channels)}


#: The policy an alert follows when it names none (created by `tocsin serve`, see escalation/policies.py).
DEFAULT_POLICY = "default"
DEFAULT_POLICY_MARK = object()


def _policy_name(session: Session, value: Any) -> str | None:
    """The escalation policy the alert follows: the one it names; `null`: none; not given: the
    installation's "default" policy when there is one."""
    if value is DEFAULT_POLICY_MARK:
        exists = session.scalar(select(EscalationPolicy.id).where(EscalationPolicy.name == DEFAULT_POLICY))
        return DEFAULT_POLICY if exists is not None else None
    if value is None:
        return None
    if not isinstance(value, str) or session.scalar(
            select(EscalationPolicy.id).where(EscalationPolicy.name == value)) is None:
        raise ValidationError(f"no escalation policy named {value!r}", field="policy")
    return value


def _variants(value: Any, channels: list[str]) -> dict[str, str]:
    """`{"sms": "...", "email": "..."}`: a text per channel, for channels the alert uses."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationError('variants must be an object such as {"sms": "short text"}', field="variants")
    result = {}
    for channel, text in value.items():
        if channel not in channels:
            raise ValidationError(f"variant for {channel!r}, which this alert does not use", field=f"variants.{channel}")
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_MESSAGE:
            raise ValidationError(f"variants.{channel} must be text of 1 to {MAX_MESSAGE} characters",
                                  field=f"variants.{channel}")
        result[channel] = text.strip()
    return result


def _translations(value: Any, channels: list[str]) -> dict[str, Any]:
    """`{"es": {"title": ..., "message": ..., "variants": {"sms": ...}}}`: the alert in other languages;
    people whose locale matches get it."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationError('translations must be an object such as {"es": {"message": "..."}}', field="translations")
    result: dict[str, Any] = {}
    for lang, entry in value.items():
        path = f"translations.{lang}"
        if not isinstance(lang, str) or len(lang) != 2 or not lang.isalpha() or not lang.islower():
            raise ValidationError(f"language {lang!r} must be a two-letter code such as es", field="translations")
        if not isinstance(entry, dict):
            raise ValidationError(f"{path} must be an object", field=path)
        message = entry.get("message")
        if not isinstance(message, str) or not message.strip() or len(message) > MAX_MESSAGE:
            raise ValidationError(f"{path}.message must be text of 1 to {MAX_MESSAGE} characters", field=f"{path}.message")
        clean: dict[str, Any] = {"message": message.strip()}
        title = entry.get("title")
        if title is not None:
            if not isinstance(title, str) or len(title) > MAX_TITLE:
                raise ValidationError(f"{path}.title must be text of at most {MAX_TITLE} characters", field=f"{path}.title")
            if title.strip():
                clean["title"] = title.strip()
        if entry.get("variants"):
            clean["variants"] = _variants(entry["variants"], channels)
        result[lang] = clean
    return result


def _incident_for(session: Session, data: dict[str, Any], title: str, actor: str) -> Incident:
    if data.get("incident_id") is not None:
        incident = session.get(Incident, data["incident_id"]) if isinstance(data["incident_id"], int) else None
        if incident is None:
            raise ValidationError(f"no incident with id {data['incident_id']!r}", field="incident_id")
        if incident.status != "open":
            raise ValidationError(f"incident {incident.id} is closed", field="incident_id")
        return incident
    name = data.get("incident") or title
    if not isinstance(name, str) or len(name) > MAX_TITLE:
        raise ValidationError(f"incident must be a name of at most {MAX_TITLE} characters", field="incident")
    incident = Incident(name=name.strip(), created_by=actor)
    session.add(incident)
    session.flush()
    audit.record(session, actor, "incident.open", "incident", incident.id)
    return incident


def get_alert(session: Session, alert_id: int) -> Alert:
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise NotFound(f"no alert with id {alert_id}")
    return alert


#: More segments than this and the operator is warned: long texts arrive split, late or not at all.
MAX_SMS_SEGMENTS = 3


def sms_preview(alert: Alert, org_name: str) -> dict[str, Any]:
    """The SMS exactly as sent, with its encoding and segment count (what carriers bill and split)."""
    text = sms_text(alert, org_name)
    count = count_segments(text)
    preview: dict[str, Any] = {"text": text, "encoding": count.encoding, "segments": count.segments,
                               "non_gsm_characters": list(count.non_gsm)}
    if count.segments > MAX_SMS_SEGMENTS:
        preview["warning"] = (f"the SMS takes {count.segments} segments ({count.encoding}); keep it to "
                              f"{MAX_SMS_SEGMENTS} or fewer" + (f" - replacing {''.join(count.non_gsm)} would allow "
                                                                f"more text per segment" if count.non_gsm else ""))
    return preview


#: Delivery outcomes that mean the message did not reach the person.
NOT_REACHED = (DeliveryStatus.FAILED, DeliveryStatus.UNDELIVERED, DeliveryStatus.BOUNCED, DeliveryStatus.BUSY,
               DeliveryStatus.NO_ANSWER, DeliveryStatus.CANCELLED)


def unreachable_count(session: Session, alert_id: int) -> int:
    """People without an answer whom nothing reached: every message failed, or they had no contact."""
    reached = select(Delivery.id).where(Delivery.alert_id == alert_id,
                                        Delivery.recipient_id == AlertRecipient.recipient_id,
                                        Delivery.status.not_in(NOT_REACHED)).exists()
    return session.scalar(select(func.count()).select_from(AlertRecipient).where(
        AlertRecipient.alert_id == alert_id, AlertRecipient.response.is_(None), ~reached)) or 0


def person_state(response: str | None, deliveries: dict[str, dict[str, Any]], resolved: bool) -> str:
    """One word for where a person stands: their answer, else delivered / pending / unreachable."""
    if response:
        return response
    statuses = [d["status"] for d in deliveries.values()]
    if any(s == DeliveryStatus.DELIVERED for s in statuses):
        return "delivered"
    if resolved and all(s in NOT_REACHED for s in statuses):
        return "unreachable"
    return "pending"


def summary(session: Session, alert: Alert, *, org_name: str | None = None) -> dict[str, Any]:
    """The alert with its live counts; each message is counted once, under its current status."""
    deliveries: dict[str, dict[str, int]] = {c: dict.fromkeys(REPORTED_DELIVERY_STATUSES, 0) for c in alert.channels}
    for channel, status, n in session.execute(
            select(Delivery.channel, Delivery.status, func.count()).where(Delivery.alert_id == alert.id)
            .group_by(Delivery.channel, Delivery.status)):
        deliveries.setdefault(channel, dict.fromkeys(REPORTED_DELIVERY_STATUSES, 0))[status] = n
    responses = {k: 0 for k in (*ResponseKind, NO_RESPONSE)}
    for response, n in session.execute(
            select(AlertRecipient.response, func.count()).where(AlertRecipient.alert_id == alert.id)
            .group_by(AlertRecipient.response)):
        responses[response or NO_RESPONSE] = n
    if alert.status in (AlertStatus.DRAFT, AlertStatus.SCHEDULED, AlertStatus.AWAITING_APPROVAL):
        recipients = targeting.count(session, alert.target)  # not written yet: who the target reaches now
    else:
        recipients = sum(responses.values())
    reached = {c: session.scalar(select(func.count(func.distinct(Delivery.recipient_id)))
                                 .where(Delivery.alert_id == alert.id, Delivery.channel == c)) or 0
               for c in alert.channels} if alert.resolved_at else {}
    return {
        "id": alert.id, "status": alert.status, "title": alert.title, "message": alert.message,
        "variants": alert.variants or {}, "translations": alert.translations or {},
        "scheduled_for": iso(alert.scheduled_for), "submitted_by": alert.submitted_by,
        "approved_by": alert.approved_by, "follows_alert_id": alert.follows_alert_id,
        "follow_kind": alert.follow_kind, "template_id": alert.template_id, "origin": alert.origin,
        "severity": alert.severity, "channels": alert.channels, "target": alert.target, "drill": alert.drill,
        "incident": {"id": alert.incident.id, "name": alert.incident.name, "status": alert.incident.status},
        "created_by": alert.created_by, "sent_by": alert.sent_by,
        "created_at": iso(alert.created_at), "send_requested_at": iso(alert.send_requested_at),
        "resolved_at": iso(alert.resolved_at), "sent_at": iso(alert.sent_at),
        "cancelled_at": iso(alert.cancelled_at), "closed_at": iso(alert.closed_at),
        "policy": alert.policy,
        "recipients": recipients,
        "deliveries": deliveries,
        # People with no usable contact (or opted out) on a channel: counted, never silently lost.
        "skipped": {c: recipients - reached[c] for c in reached},
        "responses": responses,
        # No answer and nothing reached them (every channel failed, or no contact at all).
        "unreachable": unreachable_count(session, alert.id) if alert.resolved_at else 0,
        **({"sms": sms_preview(alert, org_name)} if org_name and "sms" in alert.channels else {}),
    }


def recipient_states(session: Session, alert: Alert, *, after: int = 0, limit: int = 500,
                     response: str | None = None) -> dict[str, Any]:
    """Each targeted person with their response and, per channel, their latest delivery status."""
    query = (select(AlertRecipient, Recipient.external_id, Recipient.name)
             .join(Recipient, Recipient.id == AlertRecipient.recipient_id)
             .where(AlertRecipient.alert_id == alert.id, AlertRecipient.recipient_id > after)
             .order_by(AlertRecipient.recipient_id).limit(limit))
    if response == NO_RESPONSE:
        query = query.where(AlertRecipient.response.is_(None))
    elif response:
        query = query.where(AlertRecipient.response == response)
    rows = session.execute(query).all()
    ids = [row[0].recipient_id for row in rows]
    latest: dict[int, dict[str, dict[str, Any]]] = {}
    if ids:
        for rid, channel, status, attempt, provider, error, note in session.execute(
                select(Delivery.recipient_id, Delivery.channel, Delivery.status, Delivery.attempt,
                       Delivery.provider, Delivery.error_code, Delivery.route_note)
                .where(Delivery.alert_id == alert.id, Delivery.recipient_id.in_(ids)).order_by(Delivery.attempt)):
            latest.setdefault(rid, {})[channel] = {"status": status, "attempt": attempt, "provider": provider,
                                                   "error": error, "route": note}
    people = [{"external_id": external_id, "name": name, "response": state.response or NO_RESPONSE,
               "state": person_state(state.response, latest.get(state.recipient_id, {}), alert.resolved_at is not None),
               "first_response_at": iso(state.first_response_at), "last_response_at": iso(state.last_response_at),
               "deliveries": latest.get(state.recipient_id, {})}
              for state, external_id, name in rows]
    next_after = ids[-1] if len(ids) == limit else None
    return {"recipients": people, "next_after": next_after}
