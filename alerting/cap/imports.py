"""A parsed CAP message becomes a draft alert, or changes the alert it references.

- `Alert`: a new draft. Each `<info>` is a language: the English one (else the first) is the
  alert's own title (headline, else event) and message (description, then instruction); the others
  become `translations`. Every `<area>` of every `<info>` is kept, as the `cap_areas` target part,
  so the draft reaches exactly the people located inside its polygons and circles.
- `Update` naming an alert we know (by sender, identifier and sent, from any earlier import or our
  own export): a draft is replaced in place; an alert already sent gets a follow-up draft in its
  incident (`follow_kind` "update"). An Update naming nothing we know is imported as a new draft.
- `Cancel` naming an alert we know cancels it (through the `cancel` callable, which the caller
  supplies: escalation's cancel stops sends and escalation runs); if that alert had gone out, the
  Cancel's own text becomes a follow-up draft ("cancel") so the operator can tell the same people.
  A Cancel naming nothing we know is refused (NotFound).
- `Ack` and `Error` messages are not alerts and are refused.
Every import is recorded in `cap_seen` with the alert it became, which is how later references
find it. Long texts get WEA-sized SMS (360) and push (90) variants (alerting/cap/short.py).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerting import alerts, audit, targeting
from alerting.cap.document import CapInfo, CapMessage
from alerting.cap.parse import ParsedCap
from alerting.cap.short import shorten, short_texts
from alerting.errors import NotFound, ValidationError
from alerting.models import Alert, CapSeen, Incident
from alerting.statuses import AlertStatus, Channel

#: `cancel(session, alert_id)`: cancel an alert (escalation.accountability.cancel, bound by the caller).
Cancel = Callable[[Session, int], Any]
#: Our own export identifiers: tocsin-<org>-<alert id> (alerting/cap/export.py).
OWN_IDENTIFIER = re.compile(r"^tocsin-.*-(\d+)$")
#: Channel -> the WEA length its variant uses.
SHORT_VARIANTS = {Channel.SMS: "360", Channel.PUSH: "90"}


@dataclass
class ImportResult:
    alert: Alert
    #: "created", "replaced" (a draft updated in place), "follow_up" (a draft after a sent alert),
    #: "cancelled" (the referenced alert; `alert` is then the follow-up draft if one was made).
    action: str
    warnings: list[str] = field(default_factory=list)
    short_texts: dict[str, dict[str, str]] = field(default_factory=dict)
    referenced_alert_id: int | None = None
    created: bool = True


def utc_sent(sent: str) -> str:
    """A CAP time as ISO 8601 in UTC, so "10:55:55-00:00" and "10:55:55+00:00" are the same key."""
    try:
        return datetime.fromisoformat(sent).astimezone(timezone.utc).isoformat()
    except ValueError:
        return sent


def import_message(session: Session, parsed: ParsedCap, *, actor: str, available_channels: Iterable[str],
                   cancel: Cancel, channels: list[str] | None = None, own_sender: str | None = None,
                   seen: CapSeen | None = None, origin: str = "cap",
                   extra: dict[str, Any] | None = None) -> ImportResult:
    """Apply one CAP message (see the module docstring). `seen`: the row a feed inserted first;
    `extra`: more create_alert fields (policy, template_id) for a feed's rule."""
    message = parsed.message
    warnings = list(parsed.warnings)
    if message.msgType in ("Ack", "Error"):
        raise ValidationError(f"a CAP {message.msgType} message is not an alert; nothing to import", field="msgType")
    available = list(available_channels)
    channels = list(channels or available)
    referenced = find_referenced(session, message, own_sender=own_sender)
    if seen is None:
        seen = CapSeen(feed_id=None, sender=message.sender[:300], identifier=message.identifier[:300],
                       sent=utc_sent(message.sent)[:40])
        session.add(seen)
    if message.msgType == "Cancel":
        if referenced is None:
            raise NotFound(f"the Cancel references no alert Tocsin knows ({message.references or 'no references'})")
        result = _cancel(session, message, referenced, actor=actor, channels=channels, available=available,
                         cancel=cancel, warnings=warnings, origin=origin)
    else:
        data, shorts = alert_data(message, channels, warnings)
        data.update(extra or {}, origin=origin)
        if message.msgType == "Update" and referenced is None:
            warnings.append(f"the Update references no alert Tocsin knows ({message.references or 'none'}); "
                            "imported as a new draft")
        if message.msgType == "Update" and referenced is not None and referenced.status == AlertStatus.DRAFT:
            _replace(session, referenced, data, actor=actor, warnings=warnings)
            result = ImportResult(referenced, "replaced", warnings, shorts, referenced.id, created=False)
        elif message.msgType == "Update" and referenced is not None:
            alert = _create(session, {**data, **_incident_of(session, referenced)}, actor=actor,
                            available=available, warnings=warnings)
            alert.follows_alert_id, alert.follow_kind = referenced.id, "update"
            result = ImportResult(alert, "follow_up", warnings, shorts, referenced.id)
        else:
            result = ImportResult(_create(session, data, actor=actor, available=available, warnings=warnings),
                                  "created", warnings, shorts)
    if result.created or result.action == "replaced":
        result.alert.cap = {**message.to_json(), "short_texts": result.short_texts}
    seen.alert_id = result.alert.id
    seen.outcome = result.action
    session.flush()
    return result


def find_referenced(session: Session, message: CapMessage, *, own_sender: str | None = None) -> Alert | None:
    """The most recent alert one of `references` names: imported before, or exported by us."""
    for sender, identifier, sent in reversed(message.reference_keys()):
        own = OWN_IDENTIFIER.match(identifier)
        if own and own_sender is not None and sender == own_sender:
            alert = session.get(Alert, int(own.group(1)))
            if alert is not None:
                return alert
        alert_id = session.scalar(select(CapSeen.alert_id).where(
            CapSeen.sender == sender, CapSeen.identifier == identifier, CapSeen.sent == utc_sent(sent),
            CapSeen.alert_id.is_not(None)).order_by(CapSeen.id.desc()).limit(1))
        if alert_id is not None:
            alert = session.get(Alert, alert_id)
            if alert is not None:
                return alert
    return None


# --- CAP to alert JSON -----------------------------------------------------------------------------

def primary_info(message: CapMessage) -> CapInfo | None:
    """The info block that speaks for the alert: the first English one, else the first."""
    return next((i for i in message.info if i.lang == "en"), message.info[0] if message.info else None)


def info_message(info: CapInfo) -> str:
    """description, then instruction (a blank line between); the headline or event if both are missing."""
    parts = [p for p in (info.description, info.instruction) if p]
    return "\n\n".join(parts) if parts else (info.headline or info.event)


def alert_data(message: CapMessage, channels: list[str], warnings: list[str]) -> tuple[dict[str, Any], dict]:
    """The JSON alerts.create_alert takes, and the WEA short texts per language."""
    primary = primary_info(message)
    if primary is None:
        raise ValidationError("the CAP message has no <info> block: nothing to tell anyone", field="/alert/info")
    title, text, variants, shorts = _texts(primary, channels, warnings)
    translations: dict[str, Any] = {}
    short_by_lang = {primary.lang: shorts}
    for info in message.info:
        if info is primary:
            continue
        lang = info.lang
        if lang == primary.lang or lang in translations or not re.fullmatch(r"[a-z]{2}", lang):
            if lang != primary.lang or _texts_differ(info, primary):
                warnings.append(f"<info> in {info.language!r} was not used as a translation (one per language); "
                                "its areas are kept")
            continue
        t_title, t_text, t_variants, t_shorts = _texts(info, channels, warnings)
        translations[lang] = {"title": t_title, "message": t_text, **({"variants": t_variants} if t_variants else {})}
        short_by_lang[lang] = t_shorts
    # Exercise is a drill; Test and System are not for the public either. Draft (our own export of
    # an unsent alert, say) is what every import becomes anyway: a draft, actual unless said otherwise.
    drill = message.status in ("Exercise", "Test", "System")
    if message.status in ("Test", "System"):
        warnings.append(f"the CAP status is {message.status}: imported as a drill, not an actual alert")
    data = {"title": title, "message": text, "channels": channels, "severity": primary.severity.lower(),
            "drill": drill, "variants": variants, "translations": translations, "target": _target(message, warnings)}
    return data, short_by_lang


def _texts_differ(a: CapInfo, b: CapInfo) -> bool:
    return (a.headline, a.description, a.instruction) != (b.headline, b.description, b.instruction)


def _texts(info: CapInfo, channels: list[str], warnings: list[str]) -> tuple[str, str, dict[str, str], dict[str, str]]:
    title = (info.headline or info.event or "CAP alert").strip()
    if len(title) > alerts.MAX_TITLE:
        title = shorten(title, alerts.MAX_TITLE)
        warnings.append(f"the {info.language} headline was shortened to {alerts.MAX_TITLE} characters")
    text = info_message(info).strip() or title
    if len(text) > alerts.MAX_MESSAGE:
        text = shorten(text, alerts.MAX_MESSAGE)
        warnings.append(f"the {info.language} description and instruction were shortened to "
                        f"{alerts.MAX_MESSAGE} characters")
    shorts = short_texts(title, text, info.instruction)
    variants = {c: shorts[n] for c, n in SHORT_VARIANTS.items() if c in channels and n in shorts}
    return title, text, variants, shorts


def _target(message: CapMessage, warnings: list[str]) -> dict[str, Any]:
    """Every area of every info block (translations repeat theirs: kept once)."""
    areas: list[dict[str, Any]] = []
    for info in message.info:
        for area in info.area:
            entry = {"areaDesc": area.areaDesc, "polygon": area.polygon, "circle": area.circle,
                     "geocode": area.geocode, **{k: v for k in ("altitude", "ceiling")
                                                 if (v := getattr(area, k)) is not None}}
            if entry not in areas:
                areas.append(entry)
    if not areas:
        warnings.append("the CAP message names no area: choose who to alert before sending")
        return {"cap_areas": [{"areaDesc": "", "polygon": [], "circle": [], "geocode": []}]}
    if not any(a["polygon"] or a["circle"] for a in areas):
        codes = ", ".join(f"{n} {v}" for a in areas for n, v in a["geocode"][:5])
        warnings.append(f"the CAP areas have no polygon or circle, only geocodes ({codes or 'none'}), which "
                        "Tocsin cannot place: the draft reaches no one until you choose who to alert")
    return {"cap_areas": areas}


# --- applying it -----------------------------------------------------------------------------------

def _create(session: Session, data: dict[str, Any], *, actor: str, available: list[str],
            warnings: list[str]) -> Alert:
    return alerts.create_alert(session, data, actor=actor, available_channels=available, warnings=warnings)


def _incident_of(session: Session, alert: Alert) -> dict[str, Any]:
    incident = session.get(Incident, alert.incident_id)
    return {"incident_id": incident.id} if incident is not None and incident.status == "open" else {}


def _replace(session: Session, alert: Alert, data: dict[str, Any], *, actor: str, warnings: list[str]) -> None:
    """An Update to a draft: the draft now says what the Update says, on the draft's own channels."""
    alert.target = targeting.normalize_target(session, data["target"], warnings=warnings)
    for name in ("title", "message", "severity", "drill", "origin"):
        setattr(alert, name, data[name])
    alert.variants = {c: t for c, t in data["variants"].items() if c in alert.channels}
    alert.translations = {lang: {**t, "variants": {c: v for c, v in t.get("variants", {}).items()
                                                   if c in alert.channels}}
                          for lang, t in data["translations"].items()}
    session.flush()
    audit.record(session, actor, "alert.cap_update", "alert", alert.id)


def _cancel(session: Session, message: CapMessage, referenced: Alert, *, actor: str, channels: list[str],
            available: list[str], cancel: Cancel, warnings: list[str], origin: str) -> ImportResult:
    was_sent = referenced.send_requested_at is not None
    cancel(session, referenced.id)
    session.refresh(referenced)
    if not was_sent or not message.info:
        return ImportResult(referenced, "cancelled", warnings, {}, referenced.id, created=False)
    data, shorts = alert_data(message, channels, warnings)
    data.update(origin=origin, **_incident_of(session, referenced))
    alert = _create(session, data, actor=actor, available=available, warnings=warnings)
    alert.follows_alert_id, alert.follow_kind = referenced.id, "cancel"
    warnings.append(f"alert {referenced.id} is cancelled; draft {alert.id} tells its people (review and send)")
    return ImportResult(alert, "cancelled", warnings, shorts, referenced.id)
