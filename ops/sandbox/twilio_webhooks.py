"""What the fake Twilio sends to the app under test: status callbacks and inbound SMS.

Every request carries `X-Twilio-Signature`, computed with the auth token of the
account concerned by `channels.twilio_signature.sign` (one HMAC over the string
Twilio's `RequestValidator.compute_signature` signs; the tests prove them equal),
so the app's own signature check runs exactly as it would against Twilio.

Each accepted message moves queued -> sent -> delivered through one asyncio
queue drained by a fixed number of workers: 100,000 messages are 100,000 queue
entries, not 200,000 tasks. As on Twilio, no callback is sent for a message's
initial status (`queued`, the status the API answered with): one worker moves a
message to `sent` and reports it; the `delivered` step comes back through the
queue after `delivery_delay_ms` (a timer, not a sleeping worker), so the two
callbacks of a message stay in order while a long delay does not stall the
others. Callback failures are counted in `SandboxState.callbacks` and never
raised: a refused connection is the app's problem, not the sandbox's.

Requests go out through `channels.http1_client.Http1Client` (keep-alive connections,
prepared bytes) with the form body built directly, not through aiohttp's client:
the sandbox shares the machine with the app it measures, and aiohttp's request
machinery cost more CPU per callback than the rest of the sandbox's work on it.

Other slow work (the fake carrier playing a phone call: fetching its TwiML and
sending its status callbacks) goes through the same queue as a `submit()`ted
job, so it shares the workers' bound instead of spawning a task per call.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import quote_plus

from channels.http1_client import Http1Client
from channels.twilio_signature import SIGNATURE_HEADER
from channels.twilio_signature import sign as _sign

from .sms import SmsMessage
from .state import SandboxState

logger = logging.getLogger(__name__)

DEFAULT_WORKERS = 32  # concurrent callback requests, whatever the backlog
CALLBACK_TIMEOUT_S = 10.0  # an app slower than this counts as a failed callback
_USER_AGENT = "TwilioProxy/1.1"  # what Twilio's webhook requests announce
_FORM = "application/x-www-form-urlencoded"
#: What a webhook request can fail with: refused or broken connections (OSError), no answer in time,
#: an answer that is not HTTP (ValueError).
WEBHOOK_ERRORS = (OSError, asyncio.TimeoutError, ValueError)

_ACCEPTED, _DELIVER, _JOB = 0, 1, 2  # what a queue entry asks for: two SMS steps, or any job

Job = Callable[[], Awaitable[None]]


def sign(token: str, url: str, params: dict[str, str]) -> str:
    """The X-Twilio-Signature Twilio would put on a POST of `params` to `url`."""
    return _sign(token, url, params)


_PLAIN = re.compile(r"[A-Za-z0-9_.~-]*")  # what quote_plus leaves as it is


@lru_cache(maxsize=4096)  # field names, statuses, account SIDs, senders: the same in every callback
def _quoted(text: str) -> str:
    return text if _PLAIN.fullmatch(text) else quote_plus(text)


def form_body(params: dict[str, str]) -> bytes:
    """`params` form-encoded in their order: the bytes `urllib.parse.urlencode` (and so aiohttp)
    gives, without quoting the many fields that need none (SIDs, statuses)."""
    return "&".join([f"{_quoted(name)}={_quoted(value)}" for name, value in params.items()]).encode("ascii")


@dataclass(frozen=True, slots=True)
class WebhookAnswer:
    """What the app under test answered to a webhook."""

    status: int
    text: str


class TwilioWebhooks:
    """Owns the webhook session and the status-callback workers.

    Built anywhere, started with `start()` inside the serving event loop (the
    sandbox app's cleanup_ctx does it) and stopped with `stop()`, which drops
    callbacks still pending.
    """

    def __init__(self, state: SandboxState, *, workers: int = DEFAULT_WORKERS) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers!r}")
        self._state = state
        self._workers = workers
        # (generation, SmsMessage or Job, step)
        self._queue: asyncio.Queue[tuple[int, Any, int]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._timers: set[asyncio.TimerHandle] = set()
        self._client: Http1Client | None = None
        self._outstanding = 0  # put on the queue and not yet finished (a worker may be posting it)

    @property
    def pending(self) -> int:
        """Lifecycle steps not yet done: queued, being posted, or waiting for their delivery delay."""
        return self._outstanding + len(self._timers)

    async def start(self) -> None:
        # Twice the workers: inbound SMS posted from the sandbox's API run outside the workers.
        self._client = Http1Client(limit_per_origin=self._workers * 2, timeout=CALLBACK_TIMEOUT_S)
        self._tasks = [asyncio.create_task(self._work(), name=f"sandbox-callbacks-{i}") for i in range(self._workers)]

    async def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def message_accepted(self, message: SmsMessage) -> None:
        """Start a message's delivery lifecycle; never blocks, never raises."""
        self._outstanding += 1
        self._queue.put_nowait((self._state.generation, message, _ACCEPTED))

    def submit(self, job: Job) -> None:
        """Run `job()` on a worker; it is dropped if the sandbox is reset before its turn.

        Exceptions from the job are logged, never raised.
        """
        self._outstanding += 1
        self._queue.put_nowait((self._state.generation, job, _JOB))

    async def post(self, url: str, params: dict[str, str], token: str) -> WebhookAnswer:
        """POST a signed webhook and return the app's answer; WEBHOOK_ERRORS propagate."""
        return await self.request("POST", url, params, token)

    async def request(self, method: str, url: str, params: dict[str, str], token: str) -> WebhookAnswer:
        """Send a signed webhook by POST (a form) or GET (a query string, signed with the URL).

        Redirects are not followed: the answer is the app's first. WEBHOOK_ERRORS propagate."""
        client = self._client
        if client is None:
            raise RuntimeError("TwilioWebhooks.start() was not called")
        if method.upper() == "GET":
            target = url + ("&" if "?" in url else "?") + form_body(params).decode() if params else url
            headers = {"User-Agent": _USER_AGENT, "Accept": "*/*", SIGNATURE_HEADER: sign(token, target, {})}
            answer = await client.request("GET", target, headers)
        else:
            headers = {"User-Agent": _USER_AGENT, "Accept": "*/*", "Content-Type": _FORM,
                       SIGNATURE_HEADER: sign(token, url, params)}
            answer = await client.request("POST", url, headers, form_body(params))
        return WebhookAnswer(answer.status, answer.text())

    async def notify(self, url: str, params: dict[str, str], token: str, method: str = "POST") -> None:
        """Send one status callback unless callbacks are off; count it as sent or failed."""
        if not self._state.config.callbacks:
            return
        callbacks = self._state.callbacks
        try:
            answer = await self.request(method, url, params, token)
        except WEBHOOK_ERRORS:
            callbacks.failed += 1
            return
        if answer.status < 400:
            callbacks.sent += 1
        else:
            callbacks.failed += 1

    async def _work(self) -> None:
        queue = self._queue
        while True:
            generation, item, step = await queue.get()
            try:
                if generation == self._state.generation:
                    if step == _ACCEPTED:
                        await self._send_and_deliver(generation, item)
                    elif step == _DELIVER:
                        await self._advance(item, "delivered")
                    else:
                        await item()
            except Exception:  # a bug here must not silently kill a worker
                logger.exception("sandbox webhook job failed (%s)", getattr(item, "sid", "job"))
            finally:
                self._outstanding -= 1
                queue.task_done()

    async def _send_and_deliver(self, generation: int, message: SmsMessage) -> None:
        # No callback for "queued", the status the API answered with: Twilio sends none for a
        # message's initial status.
        await self._advance(message, "sent")
        delay_ms = self._state.config.delivery_delay_ms
        if delay_ms <= 0:
            await self._advance(message, "delivered")
            return
        loop = asyncio.get_running_loop()
        entry = (generation, message, _DELIVER)
        timer: asyncio.TimerHandle

        def requeue() -> None:
            self._timers.discard(timer)
            self._outstanding += 1
            self._queue.put_nowait(entry)

        timer = loop.call_later(delay_ms / 1000, requeue)
        self._timers.add(timer)

    async def _advance(self, message: SmsMessage, status: str) -> None:
        message.advance(status, time.time())
        await self._notify(message)

    async def _notify(self, message: SmsMessage) -> None:
        url = message.status_callback
        if url is not None:
            await self.notify(url, message.callback_params(), message.auth_token)
