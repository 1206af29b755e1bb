"""Build the sandbox application and list every URL it serves.

The sandbox is meant to be mounted: `root.add_subapp("/sandbox/", create_sandbox_app())`,
so the paths below are relative to `/sandbox/`. `create_standalone_app()` does
that mounting for a process that only runs the sandbox.

    /twilio/2010-04-01/Accounts/{sid}/Messages.json        POST  Twilio: send an SMS
    /twilio/2010-04-01/Accounts/{sid}/Messages/{sid}.json  GET   Twilio: fetch one
    /twilio/2010-04-01/Accounts/{sid}/Calls.json           POST  Twilio: place a call
    /twilio/2010-04-01/Accounts/{sid}/Calls/{sid}.json     GET   Twilio: fetch one; POST: hang up
    /push/subscriptions                                    POST  a simulated browser subscribes; GET
    /push/subscriptions/{id}[/expire]                      GET, POST
    /push/send/{id}                                        POST  Web Push: the push resource
    /push/messages/{sid}                                   GET   a delivered push
    /messages[?to=ADDRESS]                                 GET   what an address received, any channel
    /stats                                                 GET   per-channel counts
    /tally?channel=C[&contains=T]                          GET   messages per address on a channel
    /config                                                GET, POST
    /reset                                                 POST
    /sms/reply                                             POST  a phone answers an SMS
    /voice/press                                           POST  a phone keys digits into a call
    /voice/timeout                                         POST  a phone lets a <Gather> time out

With `smtp_port`, an SMTP server (`smtp.py`) listens too, started and stopped
with the app; `GET /sandbox/` and `GET /sandbox/config` show its port.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

from aiohttp import web

from . import push_views, views, voice_views
from .keys import PUSH_SERVICE, SANDBOX_STATE, SMTP_SERVER, TWILIO_WEBHOOKS, VOICE_CARRIER
from .push import PushService
from .smtp import SmtpServer
from .state import SandboxState
from .twilio_api import add_twilio_routes
from .twilio_calls import add_twilio_call_routes
from .twilio_webhooks import TwilioWebhooks
from .voice_carrier import VoiceCarrier

MOUNT_PREFIX = "/sandbox/"
_ENDPOINTS = ("messages", "stats", "config", "reset", "sms/reply", "voice/press", "voice/timeout",
              "push/subscriptions")


def setup_routes(app: web.Application) -> None:
    """Every sandbox URL, relative to where the app is mounted."""
    add_twilio_routes(app, "/twilio")
    add_twilio_call_routes(app, "/twilio")
    push_views.add_push_routes(app, "/push")
    app.router.add_get("/", index)
    app.router.add_get("/messages", views.list_messages)
    app.router.add_get("/stats", views.stats)
    app.router.add_get("/tally", views.tally)
    app.router.add_get("/config", views.get_config)
    app.router.add_post("/config", views.post_config)
    app.router.add_post("/reset", views.reset)
    app.router.add_post("/sms/reply", views.sms_reply)
    app.router.add_post("/voice/press", voice_views.press)
    app.router.add_post("/voice/timeout", voice_views.timeout)


def create_sandbox_app(
    *,
    inbound_sms_url: str | None = None,
    state: SandboxState | None = None,
    smtp_host: str = "127.0.0.1",
    smtp_port: int | None = None,
) -> web.Application:
    """The fake-provider application, to mount at `/sandbox/` (see the module docstring).

    Pass `state` to share or inspect it in-process; it is also at `app[SANDBOX_STATE]`.
    `inbound_sms_url` is where phone replies are delivered, and survives a config reset.
    `smtp_port` starts the SMTP server on `smtp_host` while the app runs (0: any free
    port, then in `state.smtp_port`); None starts none.
    """
    if smtp_port is not None and not 0 <= smtp_port <= 65535:
        raise ValueError(f"smtp_port must be between 0 and 65535 or None, got {smtp_port!r}")
    state = state if state is not None else SandboxState()
    if inbound_sms_url is not None:
        state.base_config = replace(state.base_config, inbound_sms_url=inbound_sms_url)
        state.config = replace(state.config, inbound_sms_url=inbound_sms_url)
    webhooks = TwilioWebhooks(state)
    smtp = SmtpServer(state, smtp_host, smtp_port) if smtp_port is not None else None

    # Closes over `webhooks` and `smtp` rather than reading the app it is given:
    # when the sandbox is a subapp, the app passed here depends on aiohttp's version.
    async def run_services(_app: web.Application) -> AsyncIterator[None]:
        await webhooks.start()
        try:
            if smtp is not None:
                await smtp.start()
            yield
        finally:
            if smtp is not None:
                await smtp.stop()
            await webhooks.stop()

    app = web.Application()
    app[SANDBOX_STATE] = state
    app[TWILIO_WEBHOOKS] = webhooks
    app[VOICE_CARRIER] = VoiceCarrier(state, webhooks)
    app[PUSH_SERVICE] = PushService()
    if smtp is not None:
        app[SMTP_SERVER] = smtp
    app.cleanup_ctx.append(run_services)
    setup_routes(app)
    return app


def create_standalone_app(
    *,
    inbound_sms_url: str | None = None,
    state: SandboxState | None = None,
    smtp_host: str = "127.0.0.1",
    smtp_port: int | None = None,
) -> web.Application:
    """A root app with the sandbox mounted at `/sandbox/`; its state is also at `root[SANDBOX_STATE]`."""
    sandbox = create_sandbox_app(inbound_sms_url=inbound_sms_url, state=state, smtp_host=smtp_host,
                                 smtp_port=smtp_port)
    root = web.Application()
    root[SANDBOX_STATE] = sandbox[SANDBOX_STATE]
    root.router.add_get("/", standalone_index)
    root.add_subapp(MOUNT_PREFIX, sandbox)
    return root


async def index(request: web.Request) -> web.Response:
    """GET /sandbox/: what this is and where to look."""
    base = request.path.rstrip("/")  # where the sandbox is mounted
    state = request.app[SANDBOX_STATE]
    return web.json_response(
        {
            "service": "Tocsin provider sandbox: fake providers speaking their real wire protocols",
            "twilio_api_base": f"{base}/twilio",
            "push_subscriptions": f"{base}/push/subscriptions",
            "smtp_host": state.smtp_host,
            "smtp_port": state.smtp_port,
            "endpoints": [f"{base}/{name}" for name in _ENDPOINTS],
        }
    )


async def standalone_index(request: web.Request) -> web.Response:
    """GET /: say what this server is."""
    smtp = request.app[SANDBOX_STATE].smtp_port
    return web.Response(
        text="Tocsin provider sandbox. Twilio API base: /sandbox/twilio; Web Push: /sandbox/push/subscriptions; "
        f"SMTP: {'port ' + str(smtp) if smtp else 'off'}; "
        "inspect /sandbox/messages, /sandbox/stats, /sandbox/config.\n"
    )
