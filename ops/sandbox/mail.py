"""An email as the fake SMTP server keeps it, and how one is read out of the raw message.

Parsing uses the standard library (`email.policy.default`): `body` is the
text/plain part, `html` the text/html part, and `links` every http(s) URL in
either (those written in the text first, then the HTML's `href`s and its bare
URLs; each once), so a test can "click" the
acknowledgement link. A message with only HTML gets a rough text `body` made
from it, so the inbox always shows something readable.
"""

from __future__ import annotations

import email
import re
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage as StdEmailMessage
from html.parser import HTMLParser
from typing import Any

from .state import RecordedMessage

_URL = re.compile(r"https?://[^\s<>\"'()\[\]{}]+", re.IGNORECASE)
_TRAILING = ".,;:!?"  # sentence punctuation after a bare URL is not part of it


@dataclass(frozen=True, slots=True)
class ParsedEmail:
    """What a recipient's mail client would show."""

    sender: str
    subject: str
    text: str
    html: str | None
    links: list[str]
    message_id: str | None


class _HtmlReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            for name, value in attrs:
                if name == "href" and value and value.lower().startswith(("http://", "https://")):
                    self.hrefs.append(value.strip())
        elif tag in ("br", "p", "div", "li", "tr"):
            self.text.append("\n")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def find_urls(text: str) -> list[str]:
    """The http(s) URLs written out in `text`, in order."""
    return [match.rstrip(_TRAILING) for match in _URL.findall(text)]


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _part(message: StdEmailMessage, subtype: str) -> str | None:
    part = message.get_body(preferencelist=(subtype,))
    if part is None or part.get_content_subtype() != subtype:
        return None
    content = part.get_content()
    # SMTP carries CRLF line ends; the inbox shows text as the reader sees it.
    return content.replace("\r\n", "\n") if isinstance(content, str) else None


def parse_email(raw: bytes, envelope_from: str) -> ParsedEmail:
    """Read a raw RFC 5322 message; `envelope_from` stands in for a missing From header."""
    message = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, StdEmailMessage)  # policy.default makes EmailMessage objects
    text, html = _part(message, "plain"), _part(message, "html")
    links: list[str] = []
    if html is not None:
        reader = _HtmlReader()
        reader.feed(html)
        reader.close()
        links.extend(reader.hrefs)
        links.extend(find_urls("".join(reader.text)))
        if text is None:
            text = re.sub(r"[ \t]*\n\s*", "\n", "".join(reader.text)).strip()
    if text is not None:
        links = find_urls(text) + links
    return ParsedEmail(
        sender=str(message.get("From") or envelope_from),
        subject=str(message.get("Subject") or ""),
        text=(text or "").strip(),
        html=html,
        links=_unique(links),
        message_id=str(message["Message-ID"]) if message["Message-ID"] else None,
    )


@dataclass(slots=True, eq=False, kw_only=True)
class EmailMessage(RecordedMessage):
    """One recipient's copy of a message accepted by the fake SMTP server."""

    channel: str = "email"
    status: str = "delivered"
    subject: str = ""
    html: str | None = None
    links: list[str] = field(default_factory=list)
    envelope_from: str = ""
    message_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = RecordedMessage.to_json(self)
        data.update(subject=self.subject, html=self.html, links=list(self.links),
                    envelope_from=self.envelope_from, message_id=self.message_id)
        return data
