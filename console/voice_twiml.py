"""The few TwiML documents a call hears, written as strings: the bytes `VoiceResponse` would give.

Every answered call fetches one of these. The official `twilio.twiml.voice_response` builds an
ElementTree per document and serialises it, ~120 us of the web process's CPU per call; these
functions write the same text (attributes sorted by name as the library sorts them, escaped as
ElementTree escapes them, `<X />` for an empty element) in a few microseconds.
tests/test_voice_twiml.py compares the two for random texts.
"""
from __future__ import annotations

_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'


def _text(value: str) -> str:
    """Element text as ElementTree writes it."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attribute(value: str) -> str:
    """An attribute value as ElementTree writes it."""
    return (_text(value).replace('"', "&quot;").replace("\r", "&#13;").replace("\n", "&#10;")
            .replace("\t", "&#09;"))


def _element(name: str, attrs: dict[str, object], content: str = "") -> str:
    """`<name a="..">content</name>`, or `<name a=".." />` when empty; None attributes left out."""
    written = "".join(f' {key}="{_attribute(str(value))}"' for key, value in sorted(attrs.items())
                      if value is not None)
    return f"<{name}{written}>{content}</{name}>" if content else f"<{name}{written} />"


def say(text: str, *, language: str, loop: int | None = None) -> str:
    return _element("Say", {"language": language, "loop": loop}, _text(text))


def hangup() -> str:
    return "<Hangup />"


def redirect(url: str, *, method: str) -> str:
    return _element("Redirect", {"method": method}, _text(url))


def gather(*prompts: str, action: str, method: str, num_digits: int, timeout: int) -> str:
    """A `<Gather>` around already written `<Say>`s."""
    return _element("Gather", {"action": action, "method": method, "numDigits": num_digits, "timeout": timeout},
                    "".join(prompts))


def response(*verbs: str) -> str:
    """The whole document; no verbs makes the empty `<Response />` (the call hangs up)."""
    return _DECLARATION + _element("Response", {}, "".join(verbs))
