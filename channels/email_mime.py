"""An alert email's bytes, written directly: the same bytes as the email package's, for less CPU.

Building an `email.message.EmailMessage` and flattening it (what aiosmtplib's `send_message`
does) costs about 2 ms of CPU per email, nearly all of it in the email package parsing, folding
and re-parsing headers whose values are the same for every person of an alert (From, Subject,
Content-Type). At 100,000 emails that is minutes of a core. `MimeWriter.render` writes the bytes
`flatten_message(build(message), cte_type="8bit")` would give, in about a tenth of the time:

- a header whose value repeats from one email to the next (From, Subject, Content-Language, the
  Content-* lines, the Date within one second) is rendered once by the email package itself,
  with the wire policy aiosmtplib flattens with (`policy.SMTP`), and remembered;
- the per-person values (To, Message-ID) are written as they are only when they are simple (an
  ASCII dot-atom address, a line of at most 78 characters), which the package leaves unchanged;
- each body is encoded by the package's own text encoder (`email.contentmanager._encode_text`,
  which picks 7bit, 8bit, quoted-printable or base64 as `set_content` does), the parts are laid
  out as the package's generator lays them out, with a boundary made the same way.

Anything else (a non-ASCII or quoted address, an over-long line, a Python without that encoder)
renders None and the caller builds an `EmailMessage` as before; and a writer whose output differs
from this Python's email package on a sample message (checked once, when it is made) renders
nothing at all. The bytes are only right for a
server that announced 8BITMIME, with ASCII envelope addresses: the caller checks both.
tests/test_email_mime.py compares them with the email package's for random messages.
"""
from __future__ import annotations

import io
import random
import re
import sys
import time
from email import contentmanager, policy
from email.generator import BytesGenerator
from email.message import EmailMessage
from email.utils import formatdate

#: The policy an `EmailMessage` is built with, and the one aiosmtplib flattens with (8BITMIME).
BUILD_POLICY = policy.default
WIRE_POLICY = policy.SMTP
MAX_LINE = WIRE_POLICY.max_line_length
#: The email package's own body encoder; without it (another Python) nothing is rendered here.
_encode_text = getattr(contentmanager, "_encode_text", None)

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_SIMPLE_ADDRESS = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\Z")
_SIMPLE_MESSAGE_ID = re.compile(rf"<{_ATEXT}(?:\.{_ATEXT})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*>\Z")
_NEWLINES = re.compile(r"\r\n|\r|\n")
_NL = b"\r\n"
#: The generator's boundary: 15 '=', a random number as wide as sys.maxsize, '=='.
_BOUNDARY_DIGITS = len(repr(sys.maxsize - 1))
_SAMPLE_BOUNDARY = "=" * 15 + "0" * _BOUNDARY_DIGITS + "=="
_CACHE_LIMIT = 512  # distinct repeated headers remembered (subjects, languages): a handful per alert


def package_bytes(email: EmailMessage) -> bytes:
    """What aiosmtplib's `flatten_message` writes for an `EmailMessage` to an 8BITMIME server."""
    out = io.BytesIO()
    BytesGenerator(out, policy=WIRE_POLICY).flatten(email)
    return out.getvalue()


def render_header(name: str, value: str) -> bytes:
    """One header line as the email package writes it on the wire (ValueError for a bad value)."""
    return WIRE_POLICY.fold_binary(*BUILD_POLICY.header_store_parse(name, value))


def _body(text: str) -> tuple[bytes, bytes]:
    """(Content-Transfer-Encoding, payload with CRLF line ends) as `set_content(text)` makes them."""
    cte, payload = _encode_text(text, "utf-8", None, BUILD_POLICY)  # type: ignore[misc]
    return cte.encode("ascii"), _NEWLINES.sub("\r\n", payload).encode("ascii", "surrogateescape")


class MimeWriter:
    """Renders the alert emails of one sender; remembers the headers that repeat."""

    def __init__(self, sender: str) -> None:
        self._from = render_header("From", sender)
        self._fixed = (render_header("Auto-Submitted", "auto-generated")
                       + render_header("X-Auto-Response-Suppress", "All"))
        self._mime_version = render_header("MIME-Version", "1.0")
        self._plain_type = render_header("Content-Type", 'text/plain; charset="utf-8"')
        self._html_type = render_header("Content-Type", 'text/html; charset="utf-8"')
        self._multipart_type = render_header("Content-Type", f'multipart/alternative; boundary="{_SAMPLE_BOUNDARY}"')
        self._cache: dict[tuple[str, str], bytes] = {}
        self._date: tuple[int, bytes] = (-1, b"")
        self.enabled = _encode_text is not None and self._agrees_with_the_package(sender)

    def _agrees_with_the_package(self, sender: str) -> bool:
        """Whether this Python's email package still writes what `render` writes (checked once, on a
        message with every kind of part): if not, everything goes through the package."""
        self.enabled = True
        sample = {"to": "a.b@example.org", "subject": "Évacuation — now", "message_id": "<1.ab@example.org>",
                  "text": "Leave now.\nhttps://t.example/r/" + "x" * 80, "html": "<p>Évacuez</p>", "language": "fr"}
        try:
            written = self.render(**sample)  # type: ignore[arg-type]
            boundary = re.search(rb'boundary="([^"]+)"', written or b"")
            if written is None or boundary is None:
                return False
            email = EmailMessage()
            for name, value in (("From", sender), ("To", sample["to"]), ("Subject", sample["subject"]),
                                ("Date", re.search(rb"^Date: (.*)\r$", written, re.MULTILINE).group(1).decode()),
                                ("Message-ID", sample["message_id"]), ("Auto-Submitted", "auto-generated"),
                                ("X-Auto-Response-Suppress", "All")):
                email[name] = value
            email.set_content(sample["text"])
            email.add_alternative(sample["html"], subtype="html")
            email.set_boundary(boundary.group(1).decode())
            email["Content-Language"] = sample["language"]
            return package_bytes(email) == written
        except Exception:  # a changed private helper, a different layout: not ours to guess
            return False

    def _repeated(self, name: str, value: str) -> bytes:
        key = (name, value)
        line = self._cache.get(key)
        if line is None:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            line = self._cache[key] = render_header(name, value)
        return line

    def _date_line(self) -> bytes:
        second = int(time.time())
        if self._date[0] != second:
            self._date = (second, render_header("Date", formatdate(second, usegmt=True)))
        return self._date[1]

    def render(self, *, to: str, subject: str, message_id: str, text: str, html: str | None,
               language: str | None) -> bytes | None:
        """The message's bytes, or None when only the email package can write them exactly."""
        if not self.enabled or not _SIMPLE_ADDRESS.match(to) or len(to) > MAX_LINE - 4:
            return None
        if not _SIMPLE_MESSAGE_ID.match(message_id) or len(message_id) > MAX_LINE - 12:
            return None
        head = [self._from, b"To: ", to.encode("ascii"), _NL, self._repeated("Subject", subject),
                self._date_line(), b"Message-ID: ", message_id.encode("ascii"), _NL, self._fixed]
        language_line = self._repeated("Content-Language", language) if language else b""
        plain_cte, plain = _body(text)
        if not html:
            head += [self._plain_type, b"Content-Transfer-Encoding: ", plain_cte, _NL, self._mime_version,
                     language_line, _NL, plain]
            return b"".join(head)
        html_cte, html_body = _body(html)
        parts = (self._plain_type + b"Content-Transfer-Encoding: " + plain_cte + _NL + _NL + plain,
                 self._html_type + b"Content-Transfer-Encoding: " + html_cte + _NL + self._mime_version + _NL
                 + html_body)
        boundary = ("=" * 15 + f"{random.randrange(sys.maxsize):0{_BOUNDARY_DIGITS}d}==").encode("ascii")
        if any(boundary in part for part in parts):
            return None  # the package would pick another boundary; let it
        delimiter = _NL + b"--" + boundary + _NL
        head += [self._mime_version, self._multipart_type.replace(_SAMPLE_BOUNDARY.encode("ascii"), boundary),
                 language_line, _NL, b"--", boundary, _NL, parts[0], delimiter, parts[1],
                 _NL, b"--", boundary, b"--", _NL]
        return b"".join(head)
