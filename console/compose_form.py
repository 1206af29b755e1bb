"""The composer's form: its fields as the page shows them, turned into the core's JSON, and the
core's errors turned back into the ids of the fields they belong next to. No checks of its own:
every rule is the core's (alerts.create_alert, templates.alert_data, drafts.update_draft)."""
from __future__ import annotations

import json
from typing import Any

from multidict import MultiDictProxy
from sqlalchemy.orm import Session

from alerting import templates
from alerting.errors import ValidationError
from alerting.models import Alert, AlertTemplate
from alerting.statuses import Severity

#: The `policy` select's value for "no escalation" (an empty value would look like "not chosen").
NO_POLICY = "__none__"
MODES = ("live", "drill")


def blank_form() -> dict[str, Any]:
    return {"template_id": None, "values": {}, "title": "", "message": "", "variants": {}, "translations": {},
            "channels": [], "severity": str(Severity.SEVERE), "policy": "", "mode": "", "groups": [], "zones": [],
            "geometry": "", "circle": ""}


def _target_fields(target: dict[str, Any]) -> dict[str, Any]:
    """A stored target as the form's target fields (the map's shapes as JSON text)."""
    return {"groups": list(target.get("groups", [])), "zones": list(target.get("zones", [])),
            "geometry": json.dumps(target["geometry"]) if target.get("geometry") else "",
            "circle": json.dumps(target["circle"]) if target.get("circle") else ""}


def form_from_template(template: AlertTemplate, default_policy: str) -> dict[str, Any]:
    texts = templates.texts_of(template)
    return {**blank_form(), **texts, "template_id": template.id, "channels": list(template.channels),
            "severity": template.severity, "policy": template.policy or default_policy,
            **_target_fields(template.target or {})}


def form_from_alert(alert: Alert) -> dict[str, Any]:
    return {**blank_form(), "title": alert.title, "message": alert.message, "variants": dict(alert.variants or {}),
            "translations": dict(alert.translations or {}), "channels": list(alert.channels),
            "severity": alert.severity, "policy": alert.policy or NO_POLICY,
            "mode": "drill" if alert.drill else "live", **_target_fields(alert.target or {})}


def form_from_post(post: MultiDictProxy[Any]) -> dict[str, Any]:
    """The submitted fields, as the form shows them again if something needs fixing."""
    form = blank_form()

    def text(key: str) -> str:
        return str(post.get(key, "")).replace("\r\n", "\n")

    raw_template = text("template_id")
    form["template_id"] = int(raw_template) if raw_template.isdigit() else None
    for key in ("title", "message", "severity", "policy", "mode", "geometry", "circle"):
        form[key] = text(key).strip()
    for key in ("channels", "groups", "zones"):
        form[key] = [str(v) for v in post.getall(key, [])]
    for key in post:
        if key.startswith("value."):
            form["values"][key[6:]] = text(key)
        elif key.startswith("variant."):
            form["variants"][key[8:]] = text(key)
        elif key.startswith("tr.") and key.count(".") >= 2:
            _, lang, rest = key.split(".", 2)
            entry = form["translations"].setdefault(lang, {})
            if rest.startswith("variant."):
                entry.setdefault("variants", {})[rest[8:]] = text(key)
            elif rest in ("title", "message"):
                entry[rest] = text(key)
    return form


def _json_field(raw: str, field: str, example: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{field} is not valid JSON ({exc.msg} at character {exc.pos}); {example}",
                              field=f"target.{field}") from None


def target_of(form: dict[str, Any]) -> dict[str, Any]:
    target: dict[str, Any] = {}
    if form["groups"]:
        target["groups"] = form["groups"]
    if form["zones"]:
        target["zones"] = form["zones"]
    if form["geometry"]:
        target["geometry"] = _json_field(form["geometry"], "geometry",
                                         'paste a GeoJSON Polygon: {"type": "Polygon", "coordinates": [[[lon, lat], ...]]}')
    if form["circle"]:
        target["circle"] = _json_field(form["circle"], "circle", 'e.g. {"lat": 38.9, "lon": -77.0, "radius_m": 500}')
    return target


def form_texts(form: dict[str, Any]) -> dict[str, Any]:
    """The operator's words; empty variants and translations are left out (the message stands in)."""
    variants = {c: t.strip() for c, t in form["variants"].items() if c in form["channels"] and t.strip()}
    translations = {}
    for lang, entry in form["translations"].items():
        if not (entry.get("message") or "").strip():
            continue
        clean = {k: entry[k].strip() for k in ("title", "message") if (entry.get(k) or "").strip()}
        entry_variants = {c: t.strip() for c, t in (entry.get("variants") or {}).items()
                          if c in form["channels"] and t.strip()}
        if entry_variants:
            clean["variants"] = entry_variants
        translations[lang] = clean
    return {"title": form["title"], "message": form["message"], "variants": variants, "translations": translations}


def alert_json(session: Session, form: dict[str, Any], *, drill: bool, with_values: bool) -> dict[str, Any]:
    """The core's JSON for the form: through templates.alert_data when composing from a template
    (the operator's values fill the placeholders), as written otherwise."""
    target = target_of(form)
    policy = None if form["policy"] == NO_POLICY else (form["policy"] or None)
    texts = form_texts(form)
    template = session.get(AlertTemplate, form["template_id"]) if form["template_id"] else None
    if form["template_id"] and template is None:
        raise ValidationError(f"no template with id {form['template_id']}", field="template_id")
    if template is not None and with_values:
        data = templates.alert_data(template, form["values"], target=target, channels=form["channels"],
                                    policy=policy, drill=drill, severity=form["severity"] or None, texts=texts)
    else:
        data = {**texts, "target": target, "channels": form["channels"], "policy": policy, "drill": drill,
                "severity": form["severity"] or str(Severity.SEVERE)}
        if template is not None:
            data["template_id"] = template.id
    return {**data, "origin": "console"}


def field_errors(exc: ValidationError) -> dict[str, str]:
    """The core's error fields, as the ids of the form's fields (the first message per field wins)."""
    found: dict[str, str] = {}
    for error in exc.errors or [{"field": exc.field or "", "message": exc.message}]:
        found.setdefault(_form_field(error.get("field") or ""), error["message"])
    return found


def _form_field(field: str) -> str:
    """Where on the form the core's `field` is: the id next to which its message goes."""
    if field.startswith("values."):
        return "value-" + field[7:]
    if field.startswith("variants."):
        return "variant-" + field[9:]
    if field.startswith("translations."):
        parts = field.split(".")
        return f"tr-{parts[1]}-{parts[2]}" if len(parts) > 2 else "translations"
    if field.startswith(("target.geometry", "target.circle")):
        return "area"
    if field.startswith(("target.groups", "target.zones")):
        return field.split(".")[1]
    if field.startswith("target"):
        return "target"
    if field in ("", "template_id", "incident"):
        return "form"
    return field


def mode_error(form: dict[str, Any]) -> dict[str, str]:
    return {} if form["mode"] in MODES else {"mode": "choose LIVE or DRILL"}
