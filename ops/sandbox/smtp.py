"""The fake mail provider: a real SMTP server (aiosmtpd) on the sandbox's own event loop.

Any client that speaks SMTP (aiosmtplib in Tocsin) delivers to it unchanged.
AUTH PLAIN and LOGIN are offered without TLS and accept any credentials;
STARTTLS is not offered. Messages over 10 MB are refused (552, from the SIZE
limit). Each accepted message is recorded once per RCPT TO address, in that
address's inbox, counted in the `email` stats; it is kept as it arrived and
parsed (`mail.parse_email`) only when someone reads it (see `mail.py`: parsing
was ~2.5 ms of CPU per message, most of the sandbox's work in a benchmark).

aiosmtpd reads each MAIL FROM and RCPT TO address with the email package's
header parser (and defines a class on every call): ~200 us of CPU per email,
a third of the sandbox's work per email in a benchmark. `SandboxSMTP` reads
the usual `<local@domain>` (dot-atoms, then parameters) with one regular
expression, and anything else as aiosmtpd does; tests/test_sandbox_email.py
checks both read every address alike.

Config `smtp` makes it fail on purpose (see `channel_config.py`): `fail`
refuses every transaction at MAIL FROM, `addresses` refuses single recipients
at RCPT TO; a 4xx code is temporary, a 5xx permanent.
"""

from __future__ import annotations

import asyncio
import re
import time
import weakref
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

from .mail import EmailMessage, RawEmail
from .sms import new_sid
from .state import SandboxState

MAX_MESSAGE_BYTES = 10 * 1024 * 1024
SERVER_HOSTNAME = "sandbox.tocsin.invalid"  # given explicitly: socket.getfqdn() can stall on DNS
_IDENT = "Tocsin sandbox ESMTP"


_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_SIMPLE_ANGLE_ADDRESS = re.compile(rf"<({_ATEXT}(?:\.{_ATEXT})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>")


class SandboxSMTP(SMTP):
    """aiosmtpd's SMTP session with a quicker reading of the usual addresses."""

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        match = _SIMPLE_ANGLE_ADDRESS.match(arg)
        if match is not None:
            address, rest = match.group(1), arg[match.end():].lstrip(" \t")
            local_part = address.rpartition("@")[0]
            if not rest.startswith("(") and not (self.local_part_limit and len(local_part) > self.local_part_limit):
                return address, rest
        return super()._getaddr(arg)  # a comment, a quoted local part, a domain literal, a bad address...


def _refusal(code: str, what: str) -> str:
    enhanced = "4.3.0" if code.startswith("4") else "5.7.1"
    kind = "temporarily" if code.startswith("4") else "permanently"
    return f"{code} {enhanced} Sandbox configured to refuse {what} {kind}"


def _accept_any_login(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
    return AuthResult(success=True)


class SandboxSmtpHandler:
    """aiosmtpd handler hooks: apply the configured refusals, then record what arrives."""

    def __init__(self, state: SandboxState) -> None:
        self._state = state

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        code = self._state.config.smtp.fail
        if code is not None:
            return _refusal(code, "mail")
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        code = self._state.config.smtp.code_for(address)
        if code is not None:
            return _refusal(code, "this recipient")
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", errors="surrogateescape")
        message = RawEmail(raw, envelope.mail_from or "")
        now = time.time()
        record = self._state.record
        for recipient in envelope.rcpt_tos:
            record(EmailMessage(to=recipient, message=message, at=now, sid=new_sid("EM")))
        return "250 2.0.0 Message accepted for delivery"


class SmtpServer:
    """Starts and stops the SMTP listener on the running loop; one SMTP protocol per connection."""

    def __init__(self, state: SandboxState, host: str = "127.0.0.1", port: int = 0) -> None:
        self._state = state
        self.host = host
        self._requested_port = port
        self.port: int | None = None  # the bound port once started
        self._server: asyncio.Server | None = None
        self._handler = SandboxSmtpHandler(state)
        self._connections: weakref.WeakSet[SMTP] = weakref.WeakSet()

    def _protocol(self) -> SMTP:
        protocol = SandboxSMTP(
            self._handler,
            data_size_limit=MAX_MESSAGE_BYTES,
            hostname=SERVER_HOSTNAME,
            ident=_IDENT,
            auth_require_tls=False,
            authenticator=_accept_any_login,
            loop=asyncio.get_running_loop(),
        )
        self._connections.add(protocol)
        return protocol

    async def start(self) -> int:
        """Listen; the bound port (a free one if 0 was asked for), also in `state.smtp_port`."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, self.host, self._requested_port)
        self.port = self._server.sockets[0].getsockname()[1]
        self._state.smtp_host, self._state.smtp_port = self.host, self.port
        return self.port

    async def stop(self) -> None:
        """Stop listening and drop open sessions (a client mid-transaction sees the connection close)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for protocol in list(self._connections):
            if protocol.transport is not None:
                protocol.transport.close()
        await server.wait_closed()
        await asyncio.sleep(0)  # let connection_lost cancel the sessions' handler tasks
        self._state.smtp_port = None
