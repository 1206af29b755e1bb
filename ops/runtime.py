"""Building the live objects a process needs (database, Redis, queues, channel adapters) from Settings."""
from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cached_property
from typing import Callable, Iterable

from redis import Redis
from redis.asyncio import BlockingConnectionPool
from redis.asyncio import Redis as AsyncRedis
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from twilio.rest import Client

from alerting.links import LinkSigner
from alerting.provider_health import lagging_providers
from alerting.sending import SendOptions, send_concurrently
from alerting.statuses import Channel
from channels.base import ChannelAdapter, Outbound, Receipt
from channels.failover import Failover
from channels.ratelimit import Acquire, RateLimited
from channels.twilio_http import RebasedAsyncTwilioHttpClient
from channels.twilio_sms import TwilioSms
from ops import defaults, event_loop
from ops.database import make_engine, make_sessions
from ops.queues import RQEnqueuer
from ops.ratelimit import RedisRateLimiter
from ops.secrets import stored_secret
from ops.settings import Settings, SettingsError


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
        _check_provider_settings(settings)
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
    def secret_key(self) -> str:
        """Signs per-person links and console forms. From TOCSIN_SECRET_KEY or, in the embedded
        default, a file generated once in the data directory; every process of a fleet must share it."""
        return self.settings.secret_key or stored_secret(self.settings.data_dir, "secret-key")

    @cached_property
    def signer(self) -> LinkSigner:
        return LinkSigner(self.secret_key, max_age_s=defaults.RESPONSE_LINK_MAX_AGE_S)

    def make_adapter(self, channel: str, acquire: Acquire | None = None) -> ChannelAdapter:
        """The channel's adapter: each configured provider account, rate-limited through `acquire`
        when a limit is set, behind a Failover when there are several. Call inside the event loop
        it will live on (aiohttp sessions need one)."""
        providers = [self._provider(channel, account, acquire) for account in self._accounts(channel)]
        if not providers:
            raise ValueError(f"channel {channel!r} has no provider configured")
        return providers[0] if len(providers) == 1 else Failover(providers)

    def _accounts(self, channel: str) -> list[dict]:
        s = self.settings
        if channel in (Channel.SMS, Channel.VOICE):
            accounts = [{"name": "twilio", "sid": s.twilio_account_sid, "token": s.twilio_auth_token,
                         "senders": s.twilio_senders, "base": s.twilio_api_base, "rate": s.twilio_rate_limit}]
            if s.twilio_secondary_account_sid:
                accounts.append({"name": "twilio-secondary", "sid": s.twilio_secondary_account_sid,
                                 "token": s.twilio_secondary_auth_token, "base": s.twilio_secondary_api_base,
                                 "senders": [n.strip() for n in (s.twilio_secondary_from or s.twilio_senders[0]).split(",")],
                                 "rate": s.twilio_secondary_rate_limit})
            return accounts if s.twilio_account_sid else []
        if channel == Channel.EMAIL:
            return [{"name": name, "url": url, "rate": s.smtp_rate_limit}
                    for name, url in (("smtp", s.smtp_url), ("smtp-secondary", s.smtp_secondary_url)) if url]
        if channel == Channel.PUSH:
            return [{"name": "webpush", "rate": 0}]
        return []

    def _provider(self, channel: str, account: dict, acquire: Acquire | None) -> ChannelAdapter:
        s = self.settings
        adapter: ChannelAdapter
        if channel in (Channel.SMS, Channel.VOICE):
            http = RebasedAsyncTwilioHttpClient(account["base"], max_connections=s.send_concurrency)
            client = Client(account["sid"], account["token"], http_client=http)
            if channel == Channel.SMS:
                adapter = TwilioSms(client, account["senders"], provider=account["name"])
            else:
                from channels.twilio_voice import TwilioVoice
                adapter = TwilioVoice(client, account["senders"], provider=account["name"])
        elif channel == Channel.EMAIL:
            from channels.smtp_email import SmtpEmail
            # 50 pooled connections: measured 780 emails/s against a local server, 330/s one at a time.
            adapter = SmtpEmail(account["url"], s.effective_smtp_from, provider=account["name"], pool_size=50)
        else:
            from channels.webpush import WebPush
            adapter = WebPush(self.vapid_private_key, s.effective_vapid_subject)
        return self._limited(channel, adapter, account, acquire)

    def _limited(self, channel: str, adapter: ChannelAdapter, account: dict, acquire: Acquire | None) -> ChannelAdapter:
        if acquire is None:
            return adapter
        name = f"{account['name']}:{channel}"
        per_sender = None
        if channel == Channel.SMS and self.settings.twilio_sender_rate_limit and isinstance(adapter, TwilioSms):
            per_sender = lambda m, a=adapter: f"sender:{a.sender_for(m.to)}"  # noqa: E731
        if name not in self.rate_limits and per_sender is None:
            return adapter
        return RateLimited(adapter, acquire, account_key=name, sender_key=per_sender)

    @cached_property
    def rate_limits(self) -> dict[str, float]:
        """Calls per second allowed per provider account and channel (and per SMS sender), fleet-wide."""
        s = self.settings
        limits = {"twilio:sms": s.twilio_rate_limit, "twilio-secondary:sms": s.twilio_secondary_rate_limit,
                  "twilio:voice": s.twilio_call_rate_limit, "twilio-secondary:voice": s.twilio_call_rate_limit,
                  "smtp:email": s.smtp_rate_limit, "smtp-secondary:email": s.smtp_rate_limit}
        limits.update({f"sender:{n}": s.twilio_sender_rate_limit for n in s.twilio_senders})
        return {k: v for k, v in limits.items() if v > 0}

    def make_limiter(self) -> RedisRateLimiter | None:
        """A limiter on its own async Redis connection; call inside the event loop that will use it.
        Sender keys not known in advance (a secondary's pool) share the per-sender rate."""
        if not self.rate_limits and not self.settings.twilio_sender_rate_limit:
            return None
        # A blocking pool: hundreds of concurrent sends wait for one of a few connections.
        pool = BlockingConnectionPool.from_url(self.settings.redis_url or "", max_connections=16, timeout=30)
        return RedisRateLimiter(AsyncRedis(connection_pool=pool), self.rate_limits,
                                default_prefix_rates={"sender:": self.settings.twilio_sender_rate_limit})

    @cached_property
    def vapid_private_key(self) -> str:
        """The VAPID private key (base64url, raw 32 bytes): TOCSIN_VAPID_PRIVATE_KEY, or one generated
        once into the data directory. Every process of a fleet must share it."""
        from ops.vapid_keys import load_or_create_vapid_key
        return load_or_create_vapid_key(self.settings)

    @cached_property
    def sender(self) -> "LoopSender":
        return LoopSender(self.make_adapter, self.make_limiter, self.settings.send_concurrency,
                          lagging=self.lagging_providers)

    def lagging_providers(self, channel: str) -> set[str]:
        with self.sessions() as session:
            return lagging_providers(session, channel)

    def close(self) -> None:
        if "sender" in self.__dict__:
            self.sender.close()
        self.redis.close()
        self.engine.dispose()


def _check_provider_settings(settings: Settings) -> None:
    """Fail at start-up, naming the variable, rather than in the first send job."""
    from channels.smtp_email import parse_smtp_url
    for name, url in (("TOCSIN_SMTP_URL", settings.smtp_url), ("TOCSIN_SMTP_SECONDARY_URL", settings.smtp_secondary_url)):
        if url:
            try:
                parse_smtp_url(url)
            except ValueError as exc:
                raise SettingsError(str(exc).replace("TOCSIN_SMTP_URL", name)) from None


class LoopSender:
    """The worker's `BatchSender`: one event loop for the life of the process, one adapter per
    channel on it, so provider connections stay open from batch to batch (a new TCP connection
    per message costs both ends more CPU than the message itself)."""

    #: How often a worker re-reads which providers are lagging (a query over the last hour).
    HEALTH_REFRESH_S = 30.0

    def __init__(self, make_adapter: Callable[[str, Acquire | None], ChannelAdapter],
                 make_limiter: Callable[[], RedisRateLimiter | None], concurrency: int, *,
                 lagging: Callable[[str], set[str]] | None = None):
        self._make_adapter = make_adapter
        self._lagging = lagging
        self._health_read_at: dict[str, float] = {}
        self._make_limiter = make_limiter
        self._concurrency = concurrency
        self._loop = event_loop.new_event_loop()
        self._adapters: dict[str, ChannelAdapter] = {}
        self._limiter: RedisRateLimiter | None = None
        self._limiter_made = False

    def send(self, channel: str, messages: list[Outbound]) -> list[Receipt]:
        return self._loop.run_until_complete(self._send(channel, messages))

    def _steer(self, channel: str, adapter: ChannelAdapter) -> None:
        """Tell a multi-provider adapter which providers deliver late, now and then."""
        if self._lagging is None or not isinstance(adapter, Failover):
            return
        now = time.monotonic()
        if now - self._health_read_at.get(channel, -1e9) >= self.HEALTH_REFRESH_S:
            self._health_read_at[channel] = now
            adapter.set_slow(self._lagging(channel))

    def prepare(self, channels: Iterable[str]) -> None:
        """Build the channels' adapters now, at worker start, rather than inside the first send job:
        the provider clients' imports and set-up then never delay an alert's first message."""
        async def build() -> None:
            for channel in channels:
                self._adapter(channel)

        self._loop.run_until_complete(build())

    def _adapter(self, channel: str) -> ChannelAdapter:
        """The channel's adapter, made on first use inside the loop (aiohttp sessions need one)."""
        if not self._limiter_made:
            self._limiter, self._limiter_made = self._make_limiter(), True
        adapter = self._adapters.get(channel)
        if adapter is None:
            acquire = self._limiter.acquire if self._limiter else None
            adapter = self._adapters[channel] = self._make_adapter(channel, acquire)
        return adapter

    async def _send(self, channel: str, messages: list[Outbound]) -> list[Receipt]:
        adapter = self._adapter(channel)
        self._steer(channel, adapter)
        return await send_concurrently(adapter, messages, self._concurrency)

    def close(self) -> None:
        if self._loop.is_closed():
            return
        for adapter in self._adapters.values():
            self._loop.run_until_complete(adapter.aclose())
        self._adapters.clear()
        if self._limiter is not None:
            self._loop.run_until_complete(self._limiter.aclose())
        self._loop.close()
