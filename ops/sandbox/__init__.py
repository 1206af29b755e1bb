"""Provider sandbox: fake Twilio (SMS, voice), Web Push and SMTP for demos, tests and benchmarks.

The official provider clients run unchanged against it; see `app.py` for the URLs.
"""

from .app import create_sandbox_app, create_standalone_app
from .config import AccountBehaviour, AccountCredentials, ConfigError, SandboxConfig
from .keys import PUSH_SERVICE, SANDBOX_STATE
from .mail import EmailMessage
from .push import PushMessage, PushService, PushSubscription
from .state import RecordedMessage, SandboxState
from .voice_call import VoiceCall

__all__ = [
    "PUSH_SERVICE",
    "SANDBOX_STATE",
    "AccountBehaviour",
    "AccountCredentials",
    "ConfigError",
    "EmailMessage",
    "PushMessage",
    "PushService",
    "PushSubscription",
    "RecordedMessage",
    "SandboxConfig",
    "SandboxState",
    "VoiceCall",
    "create_sandbox_app",
    "create_standalone_app",
]
