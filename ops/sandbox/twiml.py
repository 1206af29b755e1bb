"""Read TwiML safely; here, the `<Message>` verbs of an answer to an inbound SMS webhook.

`parse_response` is shared with the voice fake (`voice_twiml.py`).

The document comes from the app under test, not from a stranger, but it is
still XML from over the network: any DTD or entity declaration is refused
before parsing (defusedxml is not a dependency, and the standard library's
expat would otherwise expand internal entities).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass


class TwimlError(ValueError):
    """The webhook's answer is not TwiML the sandbox can act on."""


@dataclass(frozen=True, slots=True)
class TwimlMessage:
    """One `<Message>`: its text, and the `to`/`from` attributes if it had them."""

    body: str
    to: str | None = None
    from_: str | None = None


def parse_response(document: str) -> ET.Element:
    """The `<Response>` root of a TwiML document; TwimlError if unsafe or not TwiML."""
    lowered = document.lower()
    if "<!doctype" in lowered or "<!entity" in lowered:
        raise TwimlError("TwiML must not contain a DTD or entity declarations")
    try:
        root = ET.fromstring(document)
    except ET.ParseError as exc:
        raise TwimlError(f"TwiML is not well-formed XML: {exc}") from None
    if root.tag != "Response":
        raise TwimlError(f"TwiML root element must be <Response>, got <{root.tag}>")
    return root


def parse_twiml_messages(document: str) -> list[TwimlMessage]:
    """The non-empty `<Message>` elements of a `<Response>`, in document order.

    Both `<Message>text</Message>` and `<Message><Body>text</Body></Message>`
    are understood; other verbs are ignored. An empty document means "no reply".
    """
    if not document.strip():
        return []
    root = parse_response(document)
    messages = []
    for element in root.iter("Message"):
        bodies = element.findall("Body")
        text = "".join(body.text or "" for body in bodies) if bodies else (element.text or "")
        text = text.strip()
        if text:
            messages.append(TwimlMessage(body=text, to=element.get("to"), from_=element.get("from")))
    return messages
