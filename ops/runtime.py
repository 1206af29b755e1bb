"""Building the live objects a process needs (database, Redis, queues, channel adapters) from Settings."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from redis import Redis
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from twilio.rest import Client

from alerting.sending import SendOptions
from alerting.statuses import Channel
from channels.base import ChannelAdapter
from channels.twilio_http import RebasedAsyncTwilioHttpClient
from channels.twilio_sms import TwilioSms
from ops import defaults
from ops.database import make_engine, make_sessions
from ops.queues import RQEnqueuer
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
        """Channels this installation can send on; more arrive as their adapters are configured."""
        return (Channel.SMS,)

    @cached_property
    def send_options(self) -> SendOptions:
        s = self.settings
        return SendOptions(public_url=s.effective_public_url, org_name=s.org_name,
                           concurrency=s.send_concurrency, max_tries=self.enqueuer.max_tries)

    def make_adapter(self, channel: str) -> ChannelAdapter:
        """A fresh adapter for one job; call inside the job's event loop."""
        s = self.settings
        if channel != Channel.SMS:
            raise ValueError(f"channel {channel!r} has no adapter configured")
        http = RebasedAsyncTwilioHttpClient(s.twilio_api_base, max_connections=s.send_concurrency)
        client = Client(s.twilio_account_sid, s.twilio_auth_token, http_client=http)
        return TwilioSms(client, s.twilio_from or SANDBOX_FROM_NUMBER)

    def close(self) -> None:
        self.redis.close()
        self.engine.dispose()
