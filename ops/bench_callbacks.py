"""CPU per Twilio status callback, on each side: the sandbox sending them, Tocsin receiving them.

A micro benchmark to run by hand (never from the tests: it asserts nothing), e.g.

    .venv/bin/python -m ops.bench_callbacks send -n 20000
    .venv/bin/python -m ops.bench_callbacks receive -n 20000

`send` runs the sandbox's `TwilioWebhooks` in this process and posts every message's status
callbacks to a sink in a child process; `receive` runs Tocsin's web app (the real `create_app`,
its middlewares, signature check and group-committed status writes on a SQLite file holding the
deliveries) in this process while a child process posts signed callbacks at it. Either way the
figure is this process's CPU time (`time.process_time()`, every thread) per callback, so the other
side's work is never counted. On a shared 2-core machine run each a few times and keep the lowest.
"""
from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from aiohttp import web

from ops.embedded_redis import free_port

TOKEN = "bench-callback-token"
ACCOUNT_SID = "AC" + "b" * 32
SENDER = "+15550001111"
CONCURRENCY = 32  # callbacks in flight, as the sandbox's default worker count


def _sid(i: int) -> str:
    return f"SM{i:032x}"


def _phone(i: int) -> str:
    return f"+1555{i:07d}"


# -- the sink: a child process that answers every callback 204 ------------------------------------

async def _sink(port: int) -> None:
    async def answer(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/{tail:.*}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await asyncio.Event().wait()


# -- the sender side ----------------------------------------------------------------------------

async def _bench_send(n: int) -> dict[str, float]:
    from ops.sandbox.sms import SmsMessage
    from ops.sandbox.state import SandboxState
    from ops.sandbox.twilio_webhooks import TwilioWebhooks

    port = free_port()
    sink = await asyncio.create_subprocess_exec(sys.executable, "-m", "ops.bench_callbacks", "_sink",
                                                "--port", str(port))
    try:
        await _wait_for_port(port)
        state = SandboxState()
        webhooks = TwilioWebhooks(state)
        await webhooks.start()
        url = f"http://127.0.0.1:{port}/hooks/twilio/status"
        messages = [SmsMessage(to=_phone(i), sender=SENDER, body="x", at=time.time(), sid=_sid(i),
                               account_sid=ACCOUNT_SID, status="queued", from_number=SENDER,
                               status_callback=f"{url}?d={i}", auth_token=TOKEN) for i in range(n)]
        await _sent_through(webhooks, messages[: min(n, 200)])  # warm: connections open, code paths hot
        before_cb = state.callbacks.sent + state.callbacks.failed
        cpu, wall = time.process_time(), time.perf_counter()
        await _sent_through(webhooks, messages)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        callbacks = state.callbacks.sent + state.callbacks.failed - before_cb
        failed = state.callbacks.failed
        await webhooks.stop()
    finally:
        sink.terminate()
        await sink.wait()
    return {"callbacks": callbacks, "failed": failed, "cpu_us_per_callback": cpu / callbacks * 1e6,
            "callbacks_per_s": callbacks / wall}


async def _sent_through(webhooks, messages) -> None:  # type: ignore[no-untyped-def]
    for message in messages:
        message.status = "queued"
        webhooks.message_accepted(message)
    while webhooks.pending:
        await asyncio.sleep(0.005)


# -- the receiver side --------------------------------------------------------------------------

async def _fire(url: str, first: int, n: int) -> None:
    """Post signed `delivered` callbacks for deliveries first..first+n-1, CONCURRENCY at a time."""
    from ops.sandbox.state import SandboxState
    from ops.sandbox.twilio_webhooks import TwilioWebhooks

    state = SandboxState()
    webhooks = TwilioWebhooks(state, workers=CONCURRENCY)
    await webhooks.start()
    ids = iter(range(first, first + n))

    async def worker() -> None:
        for i in ids:
            params = {"MessageSid": _sid(i), "SmsSid": _sid(i), "AccountSid": ACCOUNT_SID, "From": SENDER,
                      "To": _phone(i), "MessageStatus": "delivered", "SmsStatus": "delivered",
                      "ApiVersion": "2010-04-01"}
            await webhooks.notify(f"{url}?d={i}", params, TOKEN)

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    await webhooks.stop()
    if state.callbacks.failed:
        raise SystemExit(f"{state.callbacks.failed} callbacks failed")


def _deliveries(db: Path, n: int) -> None:
    """n SMS deliveries in `queued`, written straight to the file (foreign keys off: no alert
    or recipient rows are needed for a status write)."""
    from alerting.statuses import DELIVERY_RANK
    with sqlite3.connect(db) as conn:
        conn.executemany(
            "INSERT INTO deliveries (id, alert_id, recipient_id, channel, attempt, address, provider, "
            "provider_message_id, status, status_rank, tries, created_at, updated_at) "
            "VALUES (?, 1, ?, 'sms', 1, ?, 'twilio', ?, 'queued', ?, 1, '2026-01-01 00:00:00', "
            "'2026-01-01 00:00:00')",
            [(i, i, _phone(i), _sid(i), DELIVERY_RANK["queued"]) for i in range(1, n + 1)])


async def _bench_receive(n: int) -> dict[str, float]:
    from console.app import create_app
    from ops import database
    from ops.runtime import Runtime
    from ops.settings import Settings

    warm = min(n, 500)
    with tempfile.TemporaryDirectory(prefix="tocsin-bench-callbacks-") as tmp:
        db = Path(tmp) / "tocsin.db"
        database.upgrade(f"sqlite:///{db}")
        _deliveries(db, warm + n)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        settings = Settings(data_dir=Path(tmp), port=port, database_url=f"sqlite:///{db}",
                            redis_url="redis://127.0.0.1:1/0", public_url=base, twilio_account_sid=ACCOUNT_SID,
                            twilio_auth_token=TOKEN, twilio_from=SENDER, log_level="WARNING")
        runtime = Runtime.build(settings)
        runner = web.AppRunner(create_app(runtime), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        url = f"{base}/hooks/twilio/status"
        try:
            await _run_child("_fire", "--url", url, "--first", "1", "-n", str(warm))
            cpu, wall = time.process_time(), time.perf_counter()
            await _run_child("_fire", "--url", url, "--first", str(warm + 1), "-n", str(n))
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        finally:
            await runner.cleanup()
            runtime.close()
        with sqlite3.connect(db) as conn:
            delivered = conn.execute("SELECT count(*) FROM deliveries WHERE status = 'delivered'").fetchone()[0]
    return {"callbacks": n, "recorded": delivered - warm, "cpu_us_per_callback": cpu / n * 1e6,
            "callbacks_per_s": n / wall}


async def _run_child(*args: str) -> None:
    child = await asyncio.create_subprocess_exec(sys.executable, "-m", "ops.bench_callbacks", *args)
    if await child.wait():
        raise SystemExit(f"the load process {args[0]} exited with {child.returncode}")


async def _wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ops.bench_callbacks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("side", choices=("send", "receive", "_sink", "_fire"),
                        help="send or receive (_sink and _fire are the child processes it starts)")
    parser.add_argument("-n", type=int, default=10_000, help="messages (send: two callbacks each) or callbacks")
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--url", default="", help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error(f"-n must be at least 1, got {args.n}")
    if args.side == "_sink":
        asyncio.run(_sink(args.port))
    elif args.side == "_fire":
        asyncio.run(_fire(args.url, args.first, args.n))
    else:
        result = asyncio.run(_bench_send(args.n) if args.side == "send" else _bench_receive(args.n))
        print(" ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
