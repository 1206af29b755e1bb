"""An email as the fake SMTP server keeps it, and how one is read out of the raw message.

The server keeps each message as it arrived (`RawEmail`) and reads it only the first time a test,
the inbox UI or a tally asks for one of its fields: parsing with the email package costs ~2.5 ms
of CPU per message, which at 100,000 alert emails was most of the sandbox's work, while a
benchmark only counts arrivals. Every recipient's copy (`EmailMessage`) shares the one reading.

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
from dataclasses import dataclass
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


def _unreadable(raw: bytes, envelope_from: str, exc: Exception) -> ParsedEmail:
    """What the inbox shows for a message the email package cannot read (an unknown charset)."""
    text = raw.decode("utf-8", errors="replace").partition("\r\n\r\n")[2] or raw.decode("utf-8", "replace")
    return ParsedEmail(sender=envelope_from, subject="", text=f"(unreadable message: {exc!r})\n{text}",
                       html=None, links=[], message_id=None)


class RawEmail:
    """A message as it arrived, read on first use."""

    __slots__ = ("_parsed", "envelope_from", "raw")

    def __init__(self, raw: bytes, envelope_from: str) -> None:
        self.raw = raw
        self.envelope_from = envelope_from
        self._parsed: ParsedEmail | None = None

    @property
    def parsed(self) -> ParsedEmail:
        if self._parsed is None:
            try:
                self._parsed = parse_email(self.raw, self.envelope_from)
            except Exception as exc:  # the stdlib parser is lenient; what is left (a bad charset) is shown
                self._parsed = _unreadable(self.raw, self.envelope_from, exc)
        return self._parsed


class EmailMessage(RecordedMessage):
    """One recipient's copy of a message accepted by the fake SMTP server.

    Its sender, body and the other fields read from the message are properties over the shared
    `RawEmail`: nothing is parsed until one of them is asked for.
    """

    __slots__ = ("message",)

    def __init__(self, *, to: str, message: RawEmail, at: float, sid: str) -> None:
        # Not RecordedMessage.__init__: `sender` and `body` are read from the message, not stored.
        self.channel, self.to, self.at, self.sid = "email", to, at, sid
        self.account_sid, self.status = None, "delivered"
        self.message = message

    @property  # type: ignore[override]
    def sender(self) -> str:
        return self.message.parsed.sender

    @property  # type: ignore[override]
    def body(self) -> str:
        return self.message.parsed.text

    @property
    def subject(self) -> str:
        return self.message.parsed.subject

    @property
    def html(self) -> str | None:
        return self.message.parsed.html

    @property
    def links(self) -> list[str]:
        return list(self.message.parsed.links)

    @property
    def message_id(self) -> str | None:
        return self.message.parsed.message_id

    @property
    def envelope_from(self) -> str:
        return self.message.envelope_from

    @property
    def raw(self) -> bytes:
        """The message exactly as it arrived."""
        return self.message.raw

    def __repr__(self) -> str:
        return f"EmailMessage(to={self.to!r}, sid={self.sid!r}, at={self.at!r})"

    def to_json(self) -> dict[str, Any]:
        data = RecordedMessage.to_json(self)
        data.update(subject=self.subject, html=self.html, links=list(self.links),
                    envelope_from=self.envelope_from, message_id=self.message_id)
        return data
