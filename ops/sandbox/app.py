"""Build the sandbox application and list every URL it serves.

The sandbox is meant to be mounted: `root.add_subapp("/sandbox/", create_sandbox_app())`,
so the paths below are relative to `/sandbox/`. `create_standalone_app()` does
that mounting for a process that only runs the sandbox.

    /twilio/2010-04-01/Accounts/{sid}/Messages.json        POST  Twilio: send an SMS
    /twilio/2010-04-01/Accounts/{sid}/Messages/{sid}.json  GET   Twilio: fetch one
    /messages[?to=ADDRESS]                                 GET   what an address received
    /stats                                                 GET   per-channel counts
    /config                                                GET, POST
    /reset                                                 POST
    /sms/reply                                             POST  a phone answers
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

from aiohttp import web

from . import views
from .keys import SANDBOX_STATE, TWILIO_WEBHOOKS
from .state import SandboxState
from .twilio_api import add_twilio_routes
from .twilio_webhooks import TwilioWebhooks

MOUNT_PREFIX = "/sandbox/"


def setup_routes(app: web.Application) -> None:
    """Every sandbox URL, relative to where the app is mounted."""
    add_twilio_routes(app, "/twilio")
    app.router.add_get("/", index)
    app.router.add_get("/messages", views.list_messages)
    app.router.add_get("/stats", views.stats)
    app.router.add_get("/config", views.get_config)
    app.router.add_post("/config", views.post_config)
    app.router.add_post("/reset", views.reset)
    app.router.add_post("/sms/reply", views.sms_reply)


def create_sandbox_app(
    *, inbound_sms_url: str | None = None, state: SandboxState | None = None
) -> web.Application:
    """The fake-provider application, to mount at `/sandbox/` (see the module docstring).

    Pass `state` to share or inspect it in-process; it is also at `app[SANDBOX_STATE]`.
    `inbound_sms_url` is where phone replies are delivered, and survives a config reset.
    """
    state = state if state is not None else SandboxState()
    if inbound_sms_url is not None:
        state.base_config = replace(state.base_config, inbound_sms_url=inbound_sms_url)
        state.config = replace(state.config, inbound_sms_url=inbound_sms_url)
    webhooks = TwilioWebhooks(state)

    # Closes over `webhooks` rather than reading the app it is given: when the
    # sandbox is a subapp, the app passed here depends on aiohttp's version.
    async def run_webhooks(_app: web.Application) -> AsyncIterator[None]:
        await webhooks.start()
        yield
        await webhooks.stop()

    app = web.Application()
    app[SANDBOX_STATE] = state
    app[TWILIO_WEBHOOKS] = webhooks
    app.cleanup_ctx.append(run_webhooks)
    setup_routes(app)
    return app


def create_standalone_app(
    *, inbound_sms_url: str | None = None, state: SandboxState | None = None
) -> web.Application:
    """A root app with the sandbox mounted at `/sandbox/`; its state is also at `root[SANDBOX_STATE]`."""
    sandbox = create_sandbox_app(inbound_sms_url=inbound_sms_url, state=state)
    root = web.Application()
    root[SANDBOX_STATE] = sandbox[SANDBOX_STATE]
    root.router.add_get("/", standalone_index)
    root.add_subapp(MOUNT_PREFIX, sandbox)
    return root


async def index(request: web.Request) -> web.Response:
    """GET /sandbox/: what this is and where to look."""
    base = request.path.rstrip("/")  # where the sandbox is mounted
    return web.json_response(
        {
            "service": "Tocsin provider sandbox: fake providers speaking their real wire protocols",
            "twilio_api_base": f"{base}/twilio",
            "endpoints": [f"{base}/{name}" for name in ("messages", "stats", "config", "reset", "sms/reply")],
        }
    )


async def standalone_index(request: web.Request) -> web.Response:
    """GET /: say what this server is."""
    return web.Response(
        text="Tocsin provider sandbox. Twilio API base: /sandbox/twilio; "
        "inspect /sandbox/messages, /sandbox/stats, /sandbox/config.\n"
    )
