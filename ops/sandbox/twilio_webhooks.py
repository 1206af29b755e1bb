"""What the fake Twilio sends to the app under test: status callbacks and inbound SMS.

Every request carries `X-Twilio-Signature`, computed by the official
`RequestValidator` with the auth token of the account concerned, so the app's
own signature check runs exactly as it would against Twilio.

Each accepted message moves queued -> sent -> delivered through one asyncio
queue drained by a fixed number of workers sharing one ClientSession: 100,000
messages are 100,000 queue entries, not 300,000 tasks. One worker carries a
message from `queued` to `sent`; the `delivered` step comes back through the
queue after `delivery_delay_ms` (a timer, not a sleeping worker), so the three
callbacks of a message stay in order while a long delay does not stall the
others. Callback failures are counted in `SandboxState.callbacks` and never
raised: a refused connection is the app's problem, not the sandbox's.

Other slow work (the fake carrier playing a phone call: fetching its TwiML and
sending its status callbacks) goes through the same queue as a `submit()`ted
job, so it shares the workers' bound instead of spawning a task per call.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
from twilio.request_validator import RequestValidator

from .sms import SmsMessage
from .state import SandboxState

logger = logging.getLogger(__name__)

DEFAULT_WORKERS = 32  # concurrent callback requests, whatever the backlog
CALLBACK_TIMEOUT_S = 10.0  # an app slower than this counts as a failed callback
SIGNATURE_HEADER = "X-Twilio-Signature"
_USER_AGENT = "TwilioProxy/1.1"  # what Twilio's webhook requests announce

_ACCEPTED, _DELIVER, _JOB = 0, 1, 2  # what a queue entry asks for: two SMS steps, or any job

Job = Callable[[], Awaitable[None]]


def sign(token: str, url: str, params: dict[str, str]) -> str:
    """The X-Twilio-Signature Twilio would put on a POST of `params` to `url`."""
    return RequestValidator(token).compute_signature(url, params)


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
        self._session: aiohttp.ClientSession | None = None
        self._outstanding = 0  # put on the queue and not yet finished (a worker may be posting it)

    @property
    def pending(self) -> int:
        """Lifecycle steps not yet done: queued, being posted, or waiting for their delivery delay."""
        return self._outstanding + len(self._timers)

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=CALLBACK_TIMEOUT_S),
            connector=aiohttp.TCPConnector(limit=self._workers * 2),
            headers={"User-Agent": _USER_AGENT},
        )
        self._tasks = [asyncio.create_task(self._work(), name=f"sandbox-callbacks-{i}") for i in range(self._workers)]

    async def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._session is not None:
            await self._session.close()
            self._session = None

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
        """POST a signed webhook and return the app's answer; connection errors propagate."""
        return await self.request("POST", url, params, token)

    async def request(self, method: str, url: str, params: dict[str, str], token: str) -> WebhookAnswer:
        """Send a signed webhook by POST (a form) or GET (a query string, signed with the URL)."""
        session = self._session
        if session is None:
            raise RuntimeError("TwilioWebhooks.start() was not called")
        if method.upper() == "GET":
            target = url + ("&" if "?" in url else "?") + urlencode(params) if params else url
            headers = {SIGNATURE_HEADER: sign(token, target, {})}
            async with session.get(target, headers=headers) as response:
                return WebhookAnswer(response.status, await response.text())
        headers = {SIGNATURE_HEADER: sign(token, url, params)}
        async with session.post(url, data=params, headers=headers) as response:
            return WebhookAnswer(response.status, await response.text())

    async def notify(self, url: str, params: dict[str, str], token: str, method: str = "POST") -> None:
        """Send one status callback unless callbacks are off; count it as sent or failed."""
        if not self._state.config.callbacks:
            return
        callbacks = self._state.callbacks
        try:
            answer = await self.request(method, url, params, token)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError):
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
        await self._notify(message)  # "queued": the status the API answered with
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
