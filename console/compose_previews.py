"""What each channel will say, for the composer and the review page: built by the same functions
that build the messages at send time (alerting/rendering.py, compose.py, voice.py), with
per-person placeholders left showing."""
from __future__ import annotations

import json
from typing import Any

from alerting import alerts, templates
from alerting.compose import email_content, push_payload
from alerting.models import Alert
from alerting.rendering import sms_text
from alerting.voice import CallContext
from channels.segments import count_segments
from console.compose_form import form_texts


def _transient_alert(form: dict[str, Any], available: list[str]) -> Alert:
    """An unsaved Alert holding the form's words, for previews (never added to a session)."""
    texts = form_texts(form)
    channels = [c for c in form["channels"] if c in available] or list(available)
    return Alert(id=0, title=texts["title"] or "(title)", message=texts["message"] or "(message)",
                 variants=texts["variants"], translations=texts["translations"], channels=channels,
                 drill=form["mode"] == "drill", reply_code=None)


def channel_texts(alert: Alert, org_name: str, locale: str | None = None) -> dict[str, Any]:
    """What each of the alert's channels says in one language, exactly as built at send time, with
    per-person placeholders left showing (`{first_name}`)."""
    result: dict[str, Any] = {}
    link = "…/r/(a personal link)"
    for channel in alert.channels:
        if channel == "sms":
            text = sms_text(alert, org_name, locale=locale)
            count = count_segments(text)
            result["sms"] = {"text": text, "segments": count.segments, "encoding": count.encoding,
                             "characters": len(text), "non_gsm": "".join(count.non_gsm),
                             "warning": count.segments > alerts.MAX_SMS_SEGMENTS}
        elif channel == "email":
            subject, text, _ = email_content(alert, org_name, link, "{name}", locale=locale)
            result["email"] = {"subject": subject, "text": text}
        elif channel == "push":
            payload = json.loads(push_payload(alert, org_name, link, locale=locale))
            result["push"] = {"title": payload["title"], "body": payload["body"]}
        elif channel == "voice":
            context = CallContext(0, alert.id or 0, 0, locale or "en", alert.text_for("voice", locale), alert.drill, True)
            result["voice"] = {"script": context.script(org_name), "language": context.language}
    return result


def all_previews(alert: Alert, org_name: str) -> list[dict[str, Any]]:
    """The previews in the alert's own language, then in each of its translations."""
    languages = [None, *sorted((alert.translations or {}).keys())]
    return [{"language": lang or "", "channels": channel_texts(alert, org_name, lang)} for lang in languages]


def form_previews(form: dict[str, Any], org_name: str, available: list[str]) -> list[dict[str, Any]]:
    """The previews of the form as it stands: the values typed so far fill their placeholders."""
    values = {k: v.strip() for k, v in form["values"].items() if v.strip()}
    texts = form_texts(form)
    filled = {**form, "title": _fill_known(texts["title"], values), "message": _fill_known(texts["message"], values),
              "variants": {c: _fill_known(t, values) for c, t in texts["variants"].items()},
              "translations": {lang: {**{k: _fill_known(entry[k], values) for k in ("title", "message") if k in entry},
                                      "variants": {c: _fill_known(t, values)
                                                   for c, t in (entry.get("variants") or {}).items()}}
                               for lang, entry in texts["translations"].items()}}
    return all_previews(_transient_alert(filled, list(available)), org_name)


def _fill_known(text: str, values: dict[str, str]) -> str:
    """Fill the placeholders the operator has filled so far; the others stay showing."""
    return templates.PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)
