"""The directly written alert email is byte for byte what the email package would send."""
from __future__ import annotations

import asyncio
import re
from email.message import EmailMessage

import aiosmtplib
import pytest
from aiosmtpd.smtp import SMTP
from aiosmtplib.email import flatten_message
from hypothesis import given, settings
from hypothesis import strategies as st

from channels.base import Outbound, Outcome
from channels.email_mime import MimeWriter, render_header
from channels.smtp_email import SmtpEmail

SENDER = "Campus Alerts <alerts@campus.example.edu>"
WRITER = MimeWriter(SENDER)

_ATOM = st.text(st.sampled_from("abcxyzABC019!#$%&'*+/=?^_`{|}~-"), min_size=1, max_size=12)
addresses = st.builds(lambda local, more, domain: ".".join([local, *more]) + "@" + domain,
                      _ATOM, st.lists(_ATOM, max_size=3),
                      st.from_regex(r"[a-z0-9-]{1,20}(\.[a-z0-9-]{1,12}){0,3}", fullmatch=True))
# Bodies as alerts have them: any language, long and short lines, every kind of line end.
texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=600) | st.builds(
    "".join, st.lists(st.sampled_from(["Leave now. ", "Évacuez ", "漢字", "x" * 90, "\n", "\r\n", "\r", " ",
                                       "https://t.example/r/abc?answer=safe", "=", "\t"]), max_size=40))
subjects = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=120)


def package_bytes(rendered: bytes, to: str, subject: str, message_id: str, text: str, html: str | None,
                  language: str | None) -> bytes:
    """What SmtpEmail.build + aiosmtplib's flattening give, with the rendered Date and boundary."""
    email = EmailMessage()
    email["From"] = SENDER
    email["To"] = to
    email["Subject"] = subject
    email["Date"] = re.search(rb"^Date: (.*)\r$", rendered, re.MULTILINE).group(1).decode()
    email["Message-ID"] = message_id
    email["Auto-Submitted"] = "auto-generated"
    email["X-Auto-Response-Suppress"] = "All"
    email.set_content(text)
    if html:
        email.add_alternative(html, subtype="html")
        email.set_boundary(re.search(rb'boundary="([^"]+)"', rendered).group(1).decode())
    if language:
        email["Content-Language"] = language
    return flatten_message(email, cte_type="8bit")


@settings(max_examples=300, deadline=None)
@given(to=addresses, subject=subjects, key=st.integers(1, 10**12), text=texts, html=st.none() | texts,
       language=st.sampled_from([None, "en", "es-MX", "fr", "zh-Hant-TW"]))
def test_same_bytes_as_the_email_package(to: str, subject: str, key: int, text: str, html: str | None,
                                          language: str | None) -> None:
    message_id = f"<{key}.0123456789abcdef@campus.example.edu>"
    rendered = WRITER.render(to=to, subject=subject, message_id=message_id, text=text, html=html, language=language)
    if rendered is None:  # left to the email package: only for what it would not write as given
        assert len(to) > 74
        return
    assert rendered == package_bytes(rendered, to, subject, message_id, text, html, language)


def test_what_is_left_to_the_email_package() -> None:
    kwargs = {"subject": "S", "message_id": "<1.ab@campus.example.edu>", "text": "T", "html": None, "language": None}
    for to in ("Ann <ann@example.org>", "\"a b\"@example.org", "élise@example.org", "a@" + "b" * 80 + ".org",
               "a@[127.0.0.1]", "ann@example.org\r\nBcc: x@example.org"):
        assert WRITER.render(to=to, **kwargs) is None
    assert WRITER.render(to="ann@example.org", **{**kwargs, "message_id": "<1 2@x>"}) is None


def test_a_header_value_with_a_newline_is_refused_as_by_the_package() -> None:
    try:
        render_header("Subject", "Alert\r\nBcc: someone@example.org")
    except ValueError:
        pass
    else:
        raise AssertionError("a newline in a header must be refused")


class _Recorder:
    """An aiosmtpd handler keeping what arrived: MAIL options and the message as received."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # type: ignore[no-untyped-def]
        content = envelope.original_content or envelope.content
        self.received.append((list(envelope.mail_options), content if isinstance(content, bytes) else content.encode()))
        return "250 OK"


@pytest.mark.parametrize("eight_bit", [True, False])
async def test_the_adapter_sends_what_send_message_would(eight_bit: bool) -> None:
    """With 8BITMIME the written bytes go out; without it, the email package's 7bit rendering."""
    recorder = _Recorder()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(recorder, decode_data=not eight_bit, hostname="t.invalid"),
                                      "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    adapter = SmtpEmail(f"smtp://127.0.0.1:{port}", SENDER)
    message = Outbound(3, "p3@example.org", "Évacuez maintenant.\nhttps://t.example/r/x?answer=safe",
                       subject="Alerte évacuation", html="<p>Évacuez</p>", language="fr")
    try:
        receipt = await adapter.send(message)
        reference = adapter.build(message)
        reference.replace_header("Message-ID", receipt.provider_message_id)
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, local_hostname="campus.example.edu")
        async with client:
            await client.send_message(reference, sender="alerts@campus.example.edu", recipients=[message.to])
    finally:
        await adapter.aclose()
        server.close()
        await server.wait_closed()
    assert receipt.outcome == Outcome.ACCEPTED
    (options, sent), (reference_options, expected) = recorder.received
    assert options == reference_options and ("BODY=8BITMIME" in options) == eight_bit  # SIZE too: same length
    date = re.compile(rb"^Date: .*$", re.MULTILINE)
    boundary = re.compile(rb"=+\d+==")
    assert boundary.sub(b"B", date.sub(b"D", sent)) == boundary.sub(b"B", date.sub(b"D", expected))


def test_a_writer_that_disagrees_with_the_email_package_steps_aside(monkeypatch) -> None:
    """Another Python whose email package writes otherwise: everything goes through the package."""
    import channels.email_mime as email_mime

    assert MimeWriter(SENDER).enabled
    monkeypatch.setattr(email_mime, "_encode_text", lambda text, *args: ("7bit", text))
    writer = MimeWriter(SENDER)
    assert not writer.enabled
    assert writer.render(to="a@example.org", subject="S", message_id="<1.a@example.org>", text="T", html=None,
                         language=None) is None
