"""Building the live objects a process needs (database, Redis, queues, channel adapters) from Settings."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import cached_property
from typing import Callable

from redis import Redis
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from twilio.rest import Client

from alerting.links import LinkSigner
from alerting.sending import SendOptions, send_concurrently
from alerting.statuses import Channel
from channels.base import ChannelAdapter, Outbound, Receipt
from channels.twilio_http import RebasedAsyncTwilioHttpClient
from channels.twilio_sms import TwilioSms
from ops import defaults
from ops.database import make_engine, make_sessions
from ops.queues import RQEnqueuer
from ops.secrets import stored_secret
from ops.settings import SANDBOX_FROM_NUMBER, Settings


@dataclass
class Runtime:
    """What the web process and each worker share: built once per process, closed on exit."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    redis: Redis
    enqueuer: RQEnqueuer

    @classmethod
    def build(cls, settings: Settings, *, retry_intervals: tuple[int, ...] = defaults.SEND_RETRY_INTERVALS) -> "Runtime":
        if not settings.redis_url:
            raise ValueError("a Redis URL is required (the embedded Redis sets one when `serve` starts it)")
        engine = make_engine(settings.effective_database_url)
        redis = Redis.from_url(settings.redis_url)
        return cls(settings, engine, make_sessions(engine), redis, RQEnqueuer(redis, retry_intervals=retry_intervals))

    @cached_property
    def available_channels(self) -> tuple[str, ...]:
        """Channels this installation can send on: SMS and voice through Twilio (or the sandbox),
        email when an SMTP relay is configured (or the sandbox's), push always (VAPID keys are ours)."""
        s = self.settings
        channels = [Channel.SMS, Channel.VOICE] if s.twilio_account_sid else []
        channels.append(Channel.PUSH)
        if s.smtp_url:
            channels.append(Channel.EMAIL)
        return tuple(channels)

    @cached_property
    def send_options(self) -> SendOptions:
        s = self.settings
        return SendOptions(public_url=s.effective_public_url, org_name=s.org_name,
                           concurrency=s.send_concurrency, max_tries=self.enqueuer.max_tries, signer=self.signer)

    @cached_property
    def signer(self) -> LinkSigner:
        """Signs per-person links. The key comes from TOCSIN_SECRET_KEY or, in the embedded default,
        a file generated once in the data directory; every process of a fleet must share it."""
        key = self.settings.secret_key or stored_secret(self.settings.data_dir, "secret-key")
        return LinkSigner(key, max_age_s=defaults.RESPONSE_LINK_MAX_AGE_S)

    def make_adapter(self, channel: str) -> ChannelAdapter:
        """A new adapter; call inside the event loop it will live on (aiohttp sessions need one)."""
        s = self.settings
        if channel in (Channel.SMS, Channel.VOICE):
            http = RebasedAsyncTwilioHttpClient(s.twilio_api_base, max_connections=s.send_concurrency)
            client = Client(s.twilio_account_sid, s.twilio_auth_token, http_client=http)
            if channel == Channel.SMS:
                return TwilioSms(client, s.twilio_from or SANDBOX_FROM_NUMBER)
            from channels.twilio_voice import TwilioVoice
            return TwilioVoice(client, s.twilio_from or SANDBOX_FROM_NUMBER)
        if channel == Channel.EMAIL:
            from channels.smtp_email import SmtpEmail
            return SmtpEmail(s.smtp_url or "", s.effective_smtp_from)
        if channel == Channel.PUSH:
            from channels.webpush import WebPush
            return WebPush(self.vapid_private_key, s.effective_vapid_subject)
        raise ValueError(f"channel {channel!r} has no adapter configured")

    @cached_property
    def vapid_private_key(self) -> str:
        """The VAPID private key (base64url, raw 32 bytes): TOCSIN_VAPID_PRIVATE_KEY, or one generated
        once into the data directory. Every process of a fleet must share it."""
        from ops.vapid_keys import load_or_create_vapid_key
        return load_or_create_vapid_key(self.settings)

    @cached_property
    def sender(self) -> "LoopSender":
        return LoopSender(self.make_adapter, self.settings.send_concurrency)

    def close(self) -> None:
        if "sender" in self.__dict__:
            self.sender.close()
        self.redis.close()
        self.engine.dispose()


class LoopSender:
    """The worker's `BatchSender`: one event loop for the life of the process, one adapter per
    channel on it, so provider connections stay open from batch to batch (a new TCP connection
    per message costs both ends more CPU than the message itself)."""

    def __init__(self, make_adapter: Callable[[str], ChannelAdapter], concurrency: int):
        self._make_adapter = make_adapter
        self._concurrency = concurrency
        self._loop = asyncio.new_event_loop()
        self._adapters: dict[str, ChannelAdapter] = {}

    def send(self, channel: str, messages: list[Outbound]) -> list[Receipt]:
        return self._loop.run_until_complete(self._send(channel, messages))

    async def _send(self, channel: str, messages: list[Outbound]) -> list[Receipt]:
        adapter = self._adapters.get(channel)
        if adapter is None:
            adapter = self._adapters[channel] = self._make_adapter(channel)
        return await send_concurrently(adapter, messages, self._concurrency)

    def close(self) -> None:
        if self._loop.is_closed():
            return
        for adapter in self._adapters.values():
            self._loop.run_until_complete(adapter.aclose())
        self._adapters.clear()
        self._loop.close()
