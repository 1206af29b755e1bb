"""The fake carrier: rings the callee, fetches the call's TwiML and plays it, takes key presses.

After the Calls API answers 201, `call_placed` queues the call on the webhook
workers (`TwilioWebhooks.submit`), so calls share their bounded concurrency.
There the carrier decides the outcome from config (`voice`, `voice_default`):
`no-answer`, `busy` and `failed` end the call at once; `answer` and `machine`
put it in progress and fetch the TwiML with a signed request to `Url`, as
Twilio does. The verbs are then run in order until the call hangs up, the
document ends, or a `<Gather>` waits for keys.

A waiting Gather is answered by `press` (POST the digits to its `action`, play
the answer) or abandoned by `timeout` (continue with the verbs after it, or
POST to `action` without digits when `actionOnEmptyResult="true"`). A machine
never presses keys: its Gathers time out at once, so the message goes on to the
voicemail. Any TwiML fetch that fails (refused, HTTP error, not TwiML) ends the
call as Twilio does, `completed` with the reason in `error`; so does a loop of
more than MAX_UNATTENDED_FETCHES documents without input from the phone.

Status callbacks (`StatusCallback`) are sent for the requested
`StatusCallbackEvent`s and always for the final status, signed.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urljoin, urlsplit

import aiohttp

from .state import SandboxState
from .twilio_webhooks import TwilioWebhooks
from .twiml import TwimlError
from .voice_call import GatherWait, VoiceCall
from .voice_twiml import Verb, parse_voice_twiml

# TwiML documents fetched in a row with no key press or timeout from the phone: a
# <Redirect> loop, or a machine "answering" Gathers forever, ends the call instead.
MAX_UNATTENDED_FETCHES = 10
_DIGITS = frozenset("0123456789*#")


class NoWaitingCall(LookupError):
    """No call to that phone is waiting in a <Gather>."""


class CallError(Exception):
    """The call's TwiML could not be fetched or read; the call ends."""


def _absolute(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


class VoiceCarrier:
    """Plays every call placed through the sandbox; owns no task of its own."""

    def __init__(self, state: SandboxState, webhooks: TwilioWebhooks) -> None:
        self._state = state
        self._webhooks = webhooks

    def call_placed(self, call: VoiceCall) -> None:
        """Start ringing `call` on a webhook worker; never blocks, never raises."""
        self._webhooks.submit(lambda: self._ring(call))

    def hang_up(self, call: VoiceCall, status: str) -> None:
        """End `call` now (the API's `Status=completed|canceled`); its final callback is queued."""
        if call.finished:
            return
        call.advance(status, time.time())
        if call.status_callback is not None:
            self._webhooks.submit(lambda: self._send_status(call))

    def waiting_call(self, phone: str) -> VoiceCall:
        """The latest call to `phone` that waits in a <Gather>; NoWaitingCall if none."""
        for message in reversed(self._state.inbox(phone)):
            if isinstance(message, VoiceCall) and message.gather is not None:
                return message
        raise NoWaitingCall(f"no call to {phone} is waiting for keys (in a <Gather>)")

    async def press(self, phone: str, digits: str) -> tuple[VoiceCall, list[str]]:
        """The callee keys `digits` into the waiting Gather; the call and what it heard next."""
        if not digits or not set(digits) <= _DIGITS:
            raise ValueError(f"digits must be keys 0-9, * or #, got {digits!r}")
        call = self.waiting_call(phone)
        wait = call.gather
        assert wait is not None
        call.gather = None  # taken now: a second press must not answer it again
        finished_on = ""
        if wait.finish_on_key and wait.finish_on_key in digits:
            digits, finished_on = digits.split(wait.finish_on_key, 1)[0], wait.finish_on_key
        if wait.num_digits is not None:
            digits = digits[: wait.num_digits]
        call.script.append({"verb": "digits", "digits": digits})
        call.unattended_fetches = 0
        heard = len(call.spoken)
        if not digits:  # only the finish key: Twilio treats it as no input
            await self._gather_timed_out(call, wait)
        else:
            await self._follow(call, wait.action, wait.method, {"Digits": digits, "FinishedOnKey": finished_on})
        return call, call.spoken[heard:]

    async def timeout(self, phone: str) -> tuple[VoiceCall, list[str]]:
        """The waiting Gather times out; the call and what it heard next."""
        call = self.waiting_call(phone)
        wait = call.gather
        assert wait is not None
        call.gather = None
        call.unattended_fetches = 0
        heard = len(call.spoken)
        await self._gather_timed_out(call, wait)
        return call, call.spoken[heard:]

    # -- the call's life ---------------------------------------------------------------------

    async def _ring(self, call: VoiceCall) -> None:
        outcome = self._state.config.voice_outcome(call.to)
        if not call.finished:
            await self._step(call, "initiated")
        if not call.finished:
            await self._step(call, "ringing")
        if call.finished:  # hung up through the API while it rang
            return
        if outcome not in ("answer", "machine"):
            await self._finish(call, outcome)
            return
        call.answer(time.time(), machine=outcome == "machine")
        await self._event(call, "answered")
        if call.twiml is not None:
            try:
                verbs = parse_voice_twiml(call.twiml)
            except TwimlError as exc:
                await self._fail(call, f"inline Twiml: {exc}")
                return
            await self._run(call, verbs, None)
        else:
            assert call.url is not None
            await self._follow(call, call.url, call.method, {})

    async def _step(self, call: VoiceCall, status: str) -> None:
        call.advance(status, time.time())
        await self._event(call, status)

    async def _event(self, call: VoiceCall, event: str) -> None:
        if event in call.status_events and call.status_callback is not None:
            await self._send_status(call)

    async def _send_status(self, call: VoiceCall) -> None:
        assert call.status_callback is not None
        params = call.callback_params()
        call.sequence += 1
        await self._webhooks.notify(call.status_callback, params, call.auth_token, call.status_callback_method)

    async def _finish(self, call: VoiceCall, status: str) -> None:
        if call.finished:
            return
        call.advance(status, time.time())
        if call.status_callback is not None:  # the final status is always reported
            await self._send_status(call)

    async def _fail(self, call: VoiceCall, reason: str) -> None:
        call.error = reason
        call.script.append({"verb": "error", "message": reason})
        await self._finish(call, "completed")

    async def _follow(self, call: VoiceCall, url: str, method: str, extra: dict[str, str]) -> None:
        """Fetch TwiML from `url` for this call, then run it."""
        try:
            verbs = await self._fetch(call, url, method, extra)
        except CallError as exc:
            await self._fail(call, str(exc))
            return
        await self._run(call, verbs, url)

    async def _fetch(self, call: VoiceCall, url: str, method: str, extra: dict[str, str]) -> list[Verb]:
        call.unattended_fetches += 1
        if call.unattended_fetches > MAX_UNATTENDED_FETCHES:
            raise CallError(f"more than {MAX_UNATTENDED_FETCHES} TwiML documents in a row without input: a loop?")
        if not _absolute(url):
            raise CallError(f"TwiML URL {url!r} is not absolute (relative URLs need a TwiML document URL)")
        params = {**call.webhook_params(), **extra}
        try:
            answer = await self._webhooks.request(method, url, params, call.auth_token)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError) as exc:
            raise CallError(f"TwiML request to {url} failed: {exc!r}") from None
        if not 200 <= answer.status < 300:
            raise CallError(f"TwiML request to {url} answered HTTP {answer.status}")
        try:
            return parse_voice_twiml(answer.text)
        except TwimlError as exc:
            raise CallError(f"TwiML from {url}: {exc}") from None

    async def _run(self, call: VoiceCall, verbs: list[Verb], document_url: str | None) -> None:
        """Play `verbs` until the call hangs up, the verbs run out or a Gather waits."""
        index = 0
        while index < len(verbs) and not call.finished:
            verb = verbs[index]
            index += 1
            if verb.name == "Gather":
                call.script.append(verb.describe())
                wait = self._gather(call, verb, verbs[index:], document_url)
                if not call.by_machine:
                    call.gather = wait
                    return
                call.script.append({"verb": "timeout"})  # an answering machine keys nothing
                if wait.action_on_empty_result:
                    await self._follow(call, wait.action, wait.method, {})
                    return
            elif verb.name == "Redirect":
                call.script.append(verb.describe())
                url = urljoin(document_url or "", verb.text)
                try:
                    verbs = await self._fetch(call, url, verb.attrs.get("method", "POST").upper(), {})
                except CallError as exc:
                    await self._fail(call, str(exc))
                    return
                index, document_url = 0, url
            elif verb.name == "Hangup":
                call.script.append(verb.describe())
                break
            elif verb.name in ("Say", "Play", "Pause"):
                call.hear(verb)
            else:
                call.script.append(verb.describe())  # unsupported verbs are shown and skipped
        await self._finish(call, "completed")

    def _gather(self, call: VoiceCall, verb: Verb, rest: list[Verb], document_url: str | None) -> GatherWait:
        """Play the Gather's prompts and describe what it waits for."""
        prompt: list[str] = []
        for child in verb.children:
            prompt.extend(call.hear(child))
        action = verb.attrs.get("action")
        return GatherWait(
            verb=verb,
            action=urljoin(document_url or "", action) if action else (document_url or ""),
            method=verb.attrs.get("method", "POST").upper(),
            rest=rest,
            document_url=document_url,
            prompt=prompt,
        )

    async def _gather_timed_out(self, call: VoiceCall, wait: GatherWait) -> None:
        call.script.append({"verb": "timeout"})
        if wait.action_on_empty_result:
            await self._follow(call, wait.action, wait.method, {})
        else:
            await self._run(call, wait.rest, wait.document_url)
