"""The pages behind "I'm safe" / "I need help" links in emails and push notifications.

No login: the signed token in the URL is the credential (alerting/links.py), bound to one person
and one alert. Mail scanners and link previewers open every link in a message, so opening a link
(GET) only shows a confirmation page; the person's answer is recorded only by the button on it
(a POST). The push service worker posts the answer directly, as JSON or a form, and gets JSON.

Answers to a cancelled or closed alert are not recorded: its report is frozen. Submitting twice is
harmless, since a person's state is the highest-ranked answer they gave.
"""
from __future__ import annotations

import html
import json
import logging
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session

from alerting.errors import PermissionDenied
from alerting.links import RESPOND, LinkClaims
from alerting.models import Alert, AlertRecipient
from alerting.replies import record_response
from alerting.statuses import OPEN_ALERT_STATUSES, Channel, ResponseKind
from console import live
from console.public_pages import COMMON_HEADERS, page
from console.db import in_transaction
from console.keys import RUNTIME

log = logging.getLogger(__name__)

#: An answer is a word or two; anything larger is not one of our forms.
MAX_FORM_BYTES = 2048
ANSWERS = {ResponseKind.SAFE: "Confirm that you are safe", ResponseKind.NEED_HELP: "Confirm that you need help"}
VIA = (Channel.EMAIL, Channel.PUSH)
_TITLES = {400: "Something is missing", 403: "This link cannot be used", 404: "Alert not found",
           411: "Something is missing", 413: "Too much data", 415: "Something is missing"}
#: The token is in the URL: no referrer may carry it elsewhere, no cache may keep the page, and
#: no other site may frame the buttons. The page loads nothing from anywhere and runs no script.
PAGE_CSP = ("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'")
STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;padding:1rem;
line-height:1.5;color:#111;background:#fff;font-size:1.125rem}
main{max-width:32rem;margin:0 auto}
h1{font-size:1.5rem;margin:.5rem 0 1rem}
.drill{background:#fff3cd;border:2px solid #8a6d00;padding:.5rem;font-weight:bold}
form{margin:1rem 0}
button{display:block;width:100%;min-height:3.5rem;font-size:1.25rem;font-weight:bold;border-radius:.5rem;
border:3px solid #111;cursor:pointer;padding:.75rem}
button:focus{outline:4px solid #1a5fb4;outline-offset:3px}
.safe{background:#1b6e20;color:#fff}.need_help{background:#a51d1d;color:#fff}
.secondary button{min-height:3rem;font-size:1.1rem}
.message{white-space:pre-line}
"""


@dataclass(frozen=True)
class AlertView:
    title: str
    message: str
    drill: bool
    open: bool


def _page(title: str, body: str, *, status: int = 200) -> web.Response:
    return page(title, body, csp=PAGE_CSP, style=STYLE, status=status)


def _message_page(title: str, text: str, *, status: int) -> web.Response:
    return _page(title, f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>", status=status)


def _wants_json(request: web.Request) -> bool:
    return "application/json" in request.headers.get("Accept", "") or request.content_type == "application/json"


def _answer(request: web.Request, status: int, text: str, **data: Any) -> web.Response:
    """The same outcome as JSON (service worker) or as a page (a person's browser)."""
    if _wants_json(request):
        response = web.json_response({**data, "message": text}, status=status)
        response.headers.update({"Content-Security-Policy": PAGE_CSP, **COMMON_HEADERS})
        return response
    return _message_page(_TITLES.get(status, "Thank you"), text, status=status)


def _claims(request: web.Request) -> LinkClaims:
    """The token's claims; PermissionDenied if it is forged, expired or made for something else."""
    claims = request.app[RUNTIME].signer.verify(request.match_info["token"], RESPOND)
    if claims.alert_id is None:
        raise PermissionDenied("this link is not valid")
    return claims


def _alert_view(session: Session, claims: LinkClaims) -> AlertView | None:
    alert = session.get(Alert, claims.alert_id)
    if alert is None or session.get(AlertRecipient, (claims.alert_id, claims.recipient_id)) is None:
        return None
    return AlertView(alert.title, alert.message, alert.drill, alert.status in OPEN_ALERT_STATUSES)


def _form(token: str, answer: str, via: str, css: str) -> str:
    e = html.escape
    # A relative action ("<token>" from ".../r/<token>") keeps any path prefix of the public URL.
    return (f'<form method="post" action="{e(token)}" class="{css}">'
            f'<input type="hidden" name="answer" value="{e(answer)}">'
            f'<input type="hidden" name="via" value="{e(via)}">'
            f'<button type="submit" class="{e(answer)}">{e(ANSWERS[ResponseKind(answer)])}</button></form>')


async def confirm_page(request: web.Request) -> web.Response:
    """GET /r/{token}?answer=safe|need_help: the confirmation page. Records nothing, ever."""
    try:
        claims = _claims(request)
    except PermissionDenied as exc:
        return _message_page(_TITLES[403], f"{exc}. Reply to the alert another way, or contact the sender.",
                             status=403)
    view = await in_transaction(request, lambda s: _alert_view(s, claims))
    if view is None:
        return _message_page(_TITLES[404], "This alert no longer exists.", status=404)
    org = request.app[RUNTIME].settings.org_name
    e = html.escape
    parts = []
    if view.drill:
        parts.append('<p class="drill">TEST - EXERCISE ONLY. This is a drill.</p>')
    parts.append(f'<h1>{e(view.title)}</h1><p class="message">{e(view.message)}</p><p>From {e(org)}</p>')
    if not view.open:
        parts.append("<p><strong>This alert is closed.</strong> Answers are no longer recorded. "
                     "If you need help now, call your local emergency number.</p>")
        return _page(view.title, "".join(parts))
    chosen = request.query.get("answer", "")
    via = request.query.get("via", Channel.EMAIL)
    via = via if via in VIA else Channel.EMAIL
    token = request.match_info["token"]
    order = [chosen] + [a for a in ANSWERS if a != chosen] if chosen in ANSWERS else list(ANSWERS)
    if chosen in ANSWERS:
        parts.append("<p>Press the button to send your answer.</p>")
        parts.append(_form(token, order[0], via, "primary"))
        parts.append("<p>Or, if that is not right:</p>")
        parts.append(_form(token, order[1], via, "secondary"))
    else:
        parts.append("<p>Choose your answer:</p>")
        parts.extend(_form(token, answer, via, "primary") for answer in order)
    return _page(view.title, "".join(parts))


async def _read_fields(request: web.Request) -> dict[str, str]:
    """`answer` and `via` from a small JSON or form body; web.HTTPException for anything else."""
    if request.content_length is None:
        raise web.HTTPLengthRequired()
    if request.content_length > MAX_FORM_BYTES:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_FORM_BYTES, actual_size=request.content_length)
    if request.content_type == "application/json":
        try:
            data = json.loads(await request.read())
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise web.HTTPBadRequest() from None
        if not isinstance(data, dict):
            raise web.HTTPBadRequest()
        return {k: v for k, v in data.items() if k in ("answer", "via") and isinstance(v, str)}
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        return {k: v for k, v in form.items() if k in ("answer", "via") and isinstance(v, str)}
    raise web.HTTPUnsupportedMediaType()


def _record(session: Session, claims: LinkClaims, kind: ResponseKind, via: str) -> AlertView | None:
    view = _alert_view(session, claims)
    if view is not None and view.open:
        assert claims.alert_id is not None
        record_response(session, claims.alert_id, claims.recipient_id, kind, via, "link", None)
    return view


async def record_answer(request: web.Request) -> web.Response:
    """POST /r/{token} with answer=safe|need_help (and via=email|push): record it if the alert is open."""
    try:
        claims = _claims(request)
    except PermissionDenied as exc:
        return _answer(request, 403, f"{exc}. Reply to the alert another way, or contact the sender.",
                       recorded=False, error="invalid_link")
    try:
        fields = await _read_fields(request)
    except web.HTTPException as exc:
        return _answer(request, exc.status, "Send answer=safe or answer=need_help as a small form or JSON body.",
                       recorded=False, error="bad_request")
    answer, via = fields.get("answer", ""), fields.get("via", Channel.EMAIL)
    if answer not in ANSWERS or via not in VIA:
        return _answer(request, 400, "The answer must be safe or need_help (and via, if given, email or push).",
                       recorded=False, error="invalid_answer")
    kind = ResponseKind(answer)
    view = await in_transaction(request, lambda s: _record(s, claims, kind, via))
    if view is None:
        return _answer(request, 404, "This alert no longer exists.", recorded=False, error="not_found")
    if not view.open:
        return _answer(request, 200, "Thank you. This alert is closed, so answers are no longer recorded. "
                                     "If you need help now, call your local emergency number.",
                       recorded=False, answer=answer, closed=True)
    log.info("response by link: alert %s recipient %s %s via %s", claims.alert_id, claims.recipient_id, kind, via)
    assert claims.alert_id is not None
    await live.announce_response(request, claims.alert_id, claims.recipient_id, kind, via)
    contact = request.app[RUNTIME].settings.org_contact
    text = ("Thank you. We have recorded that you are safe." if kind == ResponseKind.SAFE else
            f"Thank you. We have recorded that you need help. Contact: {contact}. "
            "If your life is in danger, call your local emergency number.")
    return _answer(request, 200, text, recorded=True, answer=answer)
