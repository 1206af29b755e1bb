"""Provider sandbox: fake Twilio (and later other providers) for demos, tests and benchmarks.

The official provider clients run unchanged against it; see `app.py` for the URLs.
"""

from .app import create_sandbox_app, create_standalone_app
from .config import AccountBehaviour, AccountCredentials, ConfigError, SandboxConfig
from .keys import SANDBOX_STATE
from .state import RecordedMessage, SandboxState

__all__ = [
    "SANDBOX_STATE",
    "AccountBehaviour",
    "AccountCredentials",
    "ConfigError",
    "RecordedMessage",
    "SandboxConfig",
    "SandboxState",
    "create_sandbox_app",
    "create_standalone_app",
]
