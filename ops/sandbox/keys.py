"""Typed keys for what the sandbox application keeps: one place to look them up."""

from aiohttp import web

from .state import SandboxState
from .twilio_webhooks import TwilioWebhooks

SANDBOX_STATE = web.AppKey("sandbox_state", SandboxState)
TWILIO_WEBHOOKS = web.AppKey("sandbox_twilio_webhooks", TwilioWebhooks)
