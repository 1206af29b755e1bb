"""Alert templates: ready alerts with `{placeholders}`, the way campuses and towns prepare them.

Two kinds of placeholder:
- the operator's (`{building}`, `{time}`, `{road}`): filled when composing, all required;
- each person's (`{first_name}`, `{name}`, `{zone}`): left in the alert and filled per recipient at
  send time (alerting/personalize.py).

Placeholders are data, never code: a value is inserted as text, once, and never re-read as a
template (so a value containing `{hazard}` or `{{7*7}}` stays literally that). A value spelling a
per-person placeholder (`{first_name}`) is refused, since the send would fill it per person. Only
`{lowercase_name}` is a placeholder; other braces are ordinary text.
"""
from __future__ import annotations

import re
from typing import Any, Iterable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alerting import audit
from alerting.errors import Conflict, NotFound, ValidationError
from alerting.models import AlertTemplate, EscalationPolicy, utcnow
from alerting.statuses import Severity

PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]{0,39})\}")
#: Filled per person at send time, never asked of the operator.
PERSONAL = ("first_name", "name", "zone")
MAX_VALUE = 200
MAX_NAME = 200
MAX_TEXT = 5000
LANGUAGES = ("en", "es", "fr", "de", "pt", "it", "zh", "vi", "ar", "ko", "ht", "tl", "ru", "pl")

#: The library a fresh installation starts with (created once; admins edit or archive them).
LIBRARY: list[dict[str, Any]] = [
    {"name": "Shelter in place", "severity": "extreme",
     "description": "A hazard outside (chemical release, armed person nearby): stay indoors.",
     "title": "Shelter in place: {building}",
     "message": "{first_name}, shelter in place now because of {hazard} near {building}. Go indoors, close "
                "doors and windows, stay away from them, and wait for the all clear.",
     "variants": {"sms": "SHELTER IN PLACE now: {hazard} near {building}. Go indoors, close doors and windows. "
                         "Wait for all clear."},
     "translations": {"es": {"title": "Refúgiese en el lugar: {building}",
                             "message": "{first_name}, refúgiese ahora por {hazard} cerca de {building}. Entre, "
                                        "cierre puertas y ventanas y espere el aviso de fin."},
                      "fr": {"title": "Confinement : {building}",
                             "message": "{first_name}, confinez-vous maintenant : {hazard} près de {building}. "
                                        "Entrez, fermez portes et fenêtres et attendez la fin de l'alerte."}},
     "channels": ["sms", "voice", "push", "email"]},
    {"name": "Evacuate building", "severity": "extreme",
     "description": "Fire, gas leak or structural danger: leave one building.",
     "title": "Evacuate {building} now",
     "message": "Evacuate {building} now. Leave by the nearest safe exit, do not use elevators, and go to "
                "{assembly_point}. Do not re-enter until told it is safe.",
     "variants": {"sms": "EVACUATE {building} NOW. Nearest exit, no elevators, go to {assembly_point}."},
     "translations": {"es": {"title": "Evacúe {building} ahora",
                             "message": "Evacúe {building} ahora. Salga por la salida segura más cercana, no use "
                                        "ascensores y vaya a {assembly_point}."}},
     "channels": ["sms", "voice", "push", "email"]},
    {"name": "Lockdown", "severity": "extreme",
     "description": "An active threat on site: lock, hide, stay silent.",
     "title": "LOCKDOWN: {location}",
     "message": "Lockdown: {threat} reported at {location}. Lock or barricade your door, turn off lights, "
                "silence your phone and stay out of sight. Do not open the door until police arrive.",
     "variants": {"sms": "LOCKDOWN: {threat} at {location}. Lock doors, lights off, silence phone, stay hidden."},
     "channels": ["sms", "voice", "push", "email"]},
    {"name": "Severe weather", "severity": "severe",
     "description": "Tornado, storm or flood warning.",
     "title": "{weather} warning until {time}",
     "message": "A {weather} warning is in effect until {time}. Move to the lowest floor, to an interior room "
                "away from windows, and stay there until the warning ends.",
     "channels": ["sms", "push", "email"]},
    {"name": "Boil water notice", "severity": "moderate",
     "description": "Drinking water may be contaminated in an area.",
     "title": "Boil water notice: {area}",
     "message": "Boil water notice for {area} until further notice. Bring tap water to a rolling boil for one "
                "minute before drinking, cooking or brushing teeth. Details: {link}",
     "channels": ["sms", "email"]},
    {"name": "Road closure", "severity": "minor",
     "description": "A road or entrance closed; planned or not.",
     "title": "{road} closed",
     "message": "{road} is closed {time} because of {reason}. Use {detour} instead.",
     "channels": ["sms", "email"]},
    {"name": "All clear", "severity": "minor",
     "description": "The danger is over; normal activity may resume.",
     "title": "All clear: {incident}",
     "message": "All clear: the {incident} is over. You may resume normal activity. Thank you for your "
                "cooperation.",
     "translations": {"es": {"title": "Fin de la alerta: {incident}",
                             "message": "Fin de la alerta: {incident} ha terminado. Puede volver a la "
                                        "normalidad."}},
     "channels": ["sms", "push", "email"]},
]


def placeholders(*texts: str | None) -> list[str]:
    """The placeholders these texts use, in order of first use."""
    found: dict[str, None] = {}
    for text in texts:
        for match in PLACEHOLDER.finditer(text or ""):
            found.setdefault(match.group(1), None)
    return list(found)


def template_texts(template: AlertTemplate) -> list[str]:
    texts = [template.title, template.message, *(template.variants or {}).values()]
    for translation in (template.translations or {}).values():
        texts.extend([translation.get("title") or "", translation.get("message") or "",
                      *(translation.get("variants") or {}).values()])
    return texts


def operator_placeholders(template: AlertTemplate) -> list[str]:
    """What the operator must fill for this template."""
    return [p for p in placeholders(*template_texts(template)) if p not in PERSONAL]


def fill(text: str, values: dict[str, str], *, keep: Iterable[str] = PERSONAL) -> str:
    """Replace `{name}` with `values[name]` in one pass; names in `keep` stay for later. A value is
    never re-scanned, so it cannot inject placeholders or anything else."""
    keep = set(keep)

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in keep:
            return match.group(0)
        if name not in values:
            raise ValidationError(f"fill in {{{name}}}", field=f"values.{name}")
        return values[name]

    return PLACEHOLDER.sub(replace, text)


def check_values(template: AlertTemplate, values: Any, *, texts: dict[str, Any] | None = None) -> dict[str, str]:
    """The operator's values, checked: every operator placeholder the texts use must have one line of
    text. Every missing or bad value is reported at once (`errors`), each naming its placeholder.

    A value may not spell a per-person placeholder (`{first_name}`): it would be filled per person at
    send time, which is not what the operator who typed it could have meant."""
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ValidationError('values must be an object such as {"building": "Library"}', field="values")
    needed = operator_placeholders(template) if texts is None else [
        p for p in placeholders(*_texts_of(texts)) if p not in PERSONAL]
    clean: dict[str, str] = {}
    errors: list[dict[str, str]] = []
    for name in needed:
        value = values.get(name)
        field = f"values.{name}"
        if not isinstance(value, str) or not value.strip():
            errors.append({"field": field, "message": f"fill in {{{name}}}"})
        elif len(value) > MAX_VALUE or "\n" in value.strip():
            errors.append({"field": field, "message": f"{{{name}}} must be one line of at most {MAX_VALUE} characters"})
        elif any(m.group(1) in PERSONAL for m in PLACEHOLDER.finditer(value)):
            errors.append({"field": field, "message": f"{{{name}}} cannot contain {{first_name}}, {{name}} or "
                                                      f"{{zone}}: write those in the message itself"})
        else:
            clean[name] = value.strip()
    if errors:
        raise ValidationError(errors[0]["message"], field=errors[0]["field"], errors=errors)
    return clean


def _texts_of(texts: dict[str, Any]) -> list[str]:
    found = [texts.get("title") or "", texts.get("message") or "", *(texts.get("variants") or {}).values()]
    for translation in (texts.get("translations") or {}).values():
        found.extend([translation.get("title") or "", translation.get("message") or "",
                      *(translation.get("variants") or {}).values()])
    return [t for t in found if isinstance(t, str)]


def texts_of(template: AlertTemplate) -> dict[str, Any]:
    """The template's words as an alert carries them (title, message, variants, translations)."""
    return {"title": template.title, "message": template.message, "variants": dict(template.variants or {}),
            "translations": {lang: dict(entry) for lang, entry in (template.translations or {}).items()}}


def alert_data(template: AlertTemplate, values: Any, *, target: Any = None, channels: Any = None,
               policy: Any = ..., drill: bool = False, severity: Any = None,
               texts: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON alerts.create_alert takes, from a template and the operator's values. Omitted
    target, channels, policy and severity come from the template.

    `texts` are the template's words as the operator edited them in the composer (same shape as
    `texts_of`); the values fill whatever placeholders they still hold."""
    if template.archived_at is not None:
        raise Conflict(f"the template {template.name!r} is archived")
    texts = texts if texts is not None else texts_of(template)
    filled = check_values(template, values, texts=texts)
    chosen_channels = channels if channels is not None else list(template.channels)
    chosen = chosen_channels if isinstance(chosen_channels, list) else []
    variants = {c: fill(t, filled) for c, t in (texts.get("variants") or {}).items()
                if c in chosen and isinstance(t, str) and t.strip()}
    translations: dict[str, Any] = {}
    for lang, translation in (texts.get("translations") or {}).items():
        if not isinstance(translation, dict) or not (translation.get("message") or "").strip():
            continue
        translations[lang] = {k: fill(translation[k], filled) for k in ("title", "message")
                              if isinstance(translation.get(k), str) and translation[k].strip()}
        if translation.get("variants"):
            translations[lang]["variants"] = {c: fill(t, filled) for c, t in translation["variants"].items()
                                              if c in chosen and isinstance(t, str) and t.strip()}
    data: dict[str, Any] = {
        "title": fill(texts.get("title") or "", filled), "message": fill(texts.get("message") or "", filled),
        "variants": variants, "translations": translations, "channels": chosen_channels,
        "severity": severity or template.severity, "drill": drill, "template_id": template.id,
    }
    target = target if target is not None else template.target
    if target is not None:
        data["target"] = target
    if policy is not ...:
        data["policy"] = policy
    elif template.policy is not None:
        data["policy"] = template.policy
    return data


# ---- the library: admins manage it -------------------------------------------------------------

def _text(data: dict[str, Any], key: str, limit: int, *, required: bool = True) -> str:
    value = data.get(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise ValidationError(f"{key} is required", field=key)
    if len(value) > limit:
        raise ValidationError(f"{key} is longer than {limit} characters ({len(value)})", field=key)
    return value.strip()


def _check_template(session: Session, data: Any, available_channels: Iterable[str]) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValidationError("the template must be an object")
    clean = {"name": _text(data, "name", MAX_NAME), "description": _text(data, "description", 1000, required=False),
             "title": _text(data, "title", 300), "message": _text(data, "message", MAX_TEXT)}
    channels = data.get("channels") or []
    available = list(available_channels)
    if not isinstance(channels, list) or not channels or not all(c in available for c in channels):
        raise ValidationError(f"choose one or more channels among {', '.join(available)}", field="channels")
    clean["channels"] = list(dict.fromkeys(channels))
    severity = str(data.get("severity") or Severity.SEVERE).lower()
    if severity not in set(Severity):
        raise ValidationError(f"severity must be one of {', '.join(Severity)}", field="severity")
    clean["severity"] = severity
    variants = data.get("variants") or {}
    if not isinstance(variants, dict) or any(c not in clean["channels"] or not isinstance(t, str) or len(t) > MAX_TEXT
                                             for c, t in variants.items()):
        raise ValidationError("variants must give a text for channels the template uses", field="variants")
    clean["variants"] = {c: t.strip() for c, t in variants.items() if t.strip()}
    translations = data.get("translations") or {}
    if not isinstance(translations, dict):
        raise ValidationError('translations must be an object such as {"es": {"title": ..., "message": ...}}',
                              field="translations")
    clean["translations"] = {}
    for lang, translation in translations.items():
        if not isinstance(lang, str) or not re.fullmatch(r"[a-z]{2}", lang):
            raise ValidationError(f"language {lang!r} must be a two-letter code such as es", field="translations")
        if not isinstance(translation, dict):
            raise ValidationError(f"translations.{lang} must be an object", field=f"translations.{lang}")
        try:
            entry = {k: _text(translation, k, 300 if k == "title" else MAX_TEXT, required=False) for k in ("title", "message")}
        except ValidationError as exc:
            raise ValidationError(f"translations.{lang}: {exc.message}", field=f"translations.{lang}.{exc.field}") from None
        if not entry["message"]:
            continue  # an empty language block is dropped, not an error
        entry_variants = translation.get("variants") or {}
        if entry_variants:
            entry["variants"] = {c: str(t).strip() for c, t in entry_variants.items()
                                 if c in clean["channels"] and str(t).strip()}
        clean["translations"][lang] = entry
    policy = data.get("policy") or None
    if policy is not None and session.scalar(select(EscalationPolicy.id).where(EscalationPolicy.name == policy)) is None:
        raise ValidationError(f"no escalation policy named {policy!r}", field="policy")
    clean["policy"] = policy
    target = data.get("target")
    if target:
        from alerting import targeting
        clean["target"] = targeting.normalize_target(session, target, path="target")
    else:
        clean["target"] = None
    bad = [p for p in placeholders(clean["title"], clean["message"]) if len(p) > 40]
    if bad:
        raise ValidationError(f"placeholder {{{bad[0]}}} is too long", field="message")
    return clean


def create_template(session: Session, data: Any, *, actor: str, available_channels: Iterable[str]) -> AlertTemplate:
    clean = _check_template(session, data, available_channels)
    if session.scalar(select(AlertTemplate.id).where(AlertTemplate.name == clean["name"])) is not None:
        raise Conflict(f"a template named {clean['name']!r} already exists")
    template = AlertTemplate(**clean, created_by=actor)
    session.add(template)
    session.flush()
    audit.record(session, actor, "template.create", "template", template.id, name=template.name)
    return template


def update_template(session: Session, template_id: int, data: Any, *, actor: str,
                    available_channels: Iterable[str]) -> AlertTemplate:
    template = get_template(session, template_id)
    clean = _check_template(session, data, available_channels)
    other = session.scalar(select(AlertTemplate.id).where(AlertTemplate.name == clean["name"],
                                                          AlertTemplate.id != template.id))
    if other is not None:
        raise Conflict(f"a template named {clean['name']!r} already exists")
    for key, value in clean.items():
        setattr(template, key, value)
    template.updated_at = utcnow()
    audit.record(session, actor, "template.update", "template", template.id, name=template.name)
    return template


def archive_template(session: Session, template_id: int, *, actor: str) -> None:
    template = get_template(session, template_id)
    template.archived_at = utcnow()
    audit.record(session, actor, "template.archive", "template", template.id, name=template.name)


def get_template(session: Session, template_id: int) -> AlertTemplate:
    template = session.get(AlertTemplate, template_id)
    if template is None:
        raise NotFound(f"no template with id {template_id}")
    return template


def list_templates(session: Session, *, include_archived: bool = False) -> list[AlertTemplate]:
    query = select(AlertTemplate).order_by(AlertTemplate.name)
    if not include_archived:
        query = query.where(AlertTemplate.archived_at.is_(None))
    return list(session.scalars(query))


def as_dict(template: AlertTemplate) -> dict[str, Any]:
    return {"id": template.id, "name": template.name, "description": template.description, "title": template.title,
            "message": template.message, "variants": template.variants or {},
            "translations": template.translations or {}, "channels": template.channels,
            "severity": template.severity, "target": template.target, "policy": template.policy,
            "placeholders": operator_placeholders(template), "personal_placeholders": [
                p for p in placeholders(*template_texts(template)) if p in PERSONAL],
            "archived": template.archived_at is not None}


def ensure_library(session: Session, available_channels: Iterable[str]) -> int:
    """Create the starting library on an installation that has no templates yet; returns how many.
    Two processes starting at once on a fresh database: one creates it, the other finds it made."""
    if _has_templates(session):
        return 0
    try:
        with session.begin_nested():
            return _create_library(session, available_channels)
    except (Conflict, IntegrityError):
        return 0


def _has_templates(session: Session) -> bool:
    return session.scalar(select(AlertTemplate.id).limit(1)) is not None


def _create_library(session: Session, available_channels: Iterable[str]) -> int:
    available = list(available_channels)
    made = 0
    for entry in LIBRARY:
        channels = [c for c in entry["channels"] if c in available] or available[:1]
        if not channels:
            continue
        data = {**entry, "channels": channels,
                "variants": {c: t for c, t in entry.get("variants", {}).items() if c in channels}}
        create_template(session, data, actor="system", available_channels=available)
        made += 1
    return made
