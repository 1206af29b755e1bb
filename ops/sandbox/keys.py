"""Typed keys for what the sandbox application keeps: one place to look them up."""

from aiohttp import web

from .push import PushService
from .smtp import SmtpServer
from .state import SandboxState
from .twilio_webhooks import TwilioWebhooks
from .voice_carrier import VoiceCarrier

SANDBOX_STATE = web.AppKey("sandbox_state", SandboxState)
TWILIO_WEBHOOKS = web.AppKey("sandbox_twilio_webhooks", TwilioWebhooks)
VOICE_CARRIER = web.AppKey("sandbox_voice_carrier", VoiceCarrier)
PUSH_SERVICE = web.AppKey("sandbox_push_service", PushService)
SMTP_SERVER = web.AppKey("sandbox_smtp_server", SmtpServer)
