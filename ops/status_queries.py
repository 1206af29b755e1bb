"""Asking the provider what became of SMS and calls whose status callbacks never came (step 5 of
the sweep, ops/sweep.py).

A status callback that arrives while the database is down is lost once the web process's own
retries (about 12 s) run out, and a provider retries a failed callback little, if at all. The
provider still knows the message: it keeps its Message or Call resource. So messages still
`queued` or `sent` TOCSIN_STATUS_QUERY_AFTER_S after anything last happened to them are fetched
through the official client (`client.messages(sid).fetch_async()`, `client.calls(sid).fetch_async()`), at most
STATUS_QUERIES_PER_SWEEP a run, STATUS_QUERY_CONCURRENCY at a time and STATUS_QUERY_RATE a second
(one sweep runs at a time fleet-wide, so these limits are fleet-wide too), and each answer is
applied by `deliveries.apply_statuses`, the code path callbacks take: forward only, same message id.

A query that tells nothing new (the provider says what we know, or a 404: it has no such message)
counts; after STATUS_QUERIES_MAX of them, spaced by the limit, the message is marked
`status-unknown` with the reason and not asked about again. A query with no answer (network, 5xx,
429, credentials) does not count: the message is asked about again after the limit.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

import aiohttp
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from alerting import sweep as stuck
from alerting.deliveries import TWILIO_STATUS, StatusReport
from alerting.statuses import DELIVERY_RANK, Channel
from channels.twilio_http import RebasedAsyncTwilioHttpClient
from ops.runtime import Runtime
from ops.settings import Settings

log = logging.getLogger(__name__)

#: Status queries per message before the sweep stops asking (spaced by the query limit).
STATUS_QUERIES_MAX = 3
#: At most this many status queries a run, so a run stays short (it holds an urgent worker):
#: 200 at 50/s is 4 s; a backlog after a long outage is worked through run by run.
STATUS_QUERIES_PER_SWEEP = 200
STATUS_QUERY_RATE = 50.0
STATUS_QUERY_CONCURRENCY = 10
#: How long a message's query count is kept (far longer than its queries are spaced).
STATUS_QUERY_COUNT_TTL_S = 7 * 86400


@dataclass(frozen=True)
class Answer:
    """What one status query found. Neither a status nor `unknown`: no answer this time (network,
    5xx, 429, credentials); the message is asked about again after the limit, uncounted."""
    status: str | None = None      # the provider's own status word ("delivered", "completed", ...)
    error_code: str | None = None
    unknown: bool = False          # the provider has no such message (404)


def twilio_accounts(settings: Settings) -> dict[str, tuple[str, str, str | None]]:
    """Each Twilio account (SID, token, API base) by the provider name its receipts carry
    (ops/runtime.py names them "twilio" and "twilio-secondary")."""
    accounts = {}
    if settings.twilio_account_sid and settings.twilio_auth_token:
        accounts["twilio"] = (settings.twilio_account_sid, settings.twilio_auth_token, settings.twilio_api_base)
    if settings.twilio_secondary_account_sid and settings.twilio_secondary_auth_token:
        accounts["twilio-secondary"] = (settings.twilio_secondary_account_sid, settings.twilio_secondary_auth_token,
                                        settings.twilio_secondary_api_base)
    return accounts


class _Pace:
    """Spaces calls `1/rate` seconds apart, across every task of one run."""

    def __init__(self, rate: float):
        self._interval = 1 / rate if rate > 0 else 0.0
        self._next = 0.0

    async def wait(self) -> None:
        now = asyncio.get_running_loop().time()
        at = max(now, self._next)
        self._next = at + self._interval
        if at > now:
            await asyncio.sleep(at - now)


async def fetch_statuses(accounts: dict[str, tuple[str, str, str | None]], rows: list[stuck.Unconfirmed], *,
                         concurrency: int = STATUS_QUERY_CONCURRENCY, rate: float = STATUS_QUERY_RATE) -> list[Answer]:
    """Fetch each row's Message or Call resource through the official client; answers in row order.
    Rows whose provider account is not configured get no answer (the caller gives up on them)."""
    clients: dict[str, Client] = {}
    for name in sorted({r.provider for r in rows} & set(accounts)):
        sid, token, base = accounts[name]
        clients[name] = Client(sid, token, http_client=RebasedAsyncTwilioHttpClient(base, max_connections=concurrency))
    gate, pace = asyncio.Semaphore(concurrency), _Pace(rate)

    async def one(row: stuck.Unconfirmed) -> Answer:
        client = clients.get(row.provider)
        if client is None:
            return Answer()
        context = (client.calls if row.channel == Channel.VOICE else client.messages)(row.provider_message_id)
        async with gate:
            await pace.wait()
            try:
                found = await context.fetch_async()
            except TwilioRestException as exc:
                return Answer(unknown=exc.status == 404)
            except (TimeoutError, aiohttp.ClientError, OSError, TwilioException, ValueError, KeyError):
                return Answer()
        code = getattr(found, "error_code", None)
        return Answer(status=str(found.status) if found.status else None, error_code=str(code) if code else None)

    try:
        return list(await asyncio.gather(*(one(r) for r in rows)))
    finally:
        for client in clients.values():
            await client.http_client.close()  # type: ignore[attr-defined]


def status_queries_key(delivery_id: int) -> str:
    """How many times the sweep asked the provider about this delivery without learning anything."""
    return f"tocsin:status-queries:{delivery_id}"


def query_unconfirmed(rt: Runtime) -> dict[str, int]:
    """Step 5: ask the provider about messages left `queued`/`sent`, and record what it says."""
    with rt.sessions() as session:
        rows = stuck.unconfirmed(session, timedelta(seconds=rt.settings.status_query_after_s),
                                 STATUS_QUERIES_PER_SWEEP)
    if not rows:
        return {}
    accounts = twilio_accounts(rt.settings)
    loop = asyncio.new_event_loop()  # its own loop: the worker's sending loop is not running now
    try:
        answers = loop.run_until_complete(fetch_statuses(accounts, rows))
    finally:
        loop.close()
    reports: list[StatusReport] = []
    give_up: dict[int, str] = {}
    uncounted = 0
    counted: list[tuple[stuck.Unconfirmed, Answer]] = []
    for row, answer in zip(rows, answers):
        if row.provider not in accounts:
            give_up[row.delivery_id] = f"no provider account named {row.provider!r} is configured to ask"
        elif answer.status is not None:
            reports.append(StatusReport(row.delivery_id, row.provider_message_id, answer.status, answer.error_code))
            status = TWILIO_STATUS.get(answer.status.lower())
            if not status or DELIVERY_RANK[status] <= row.rank:  # nothing new: this query counts
                counted.append((row, answer))
        elif answer.unknown:
            counted.append((row, answer))
        else:
            uncounted += 1
    if counted:
        with rt.redis.pipeline(transaction=False) as pipe:
            for row, _ in counted:
                pipe.incr(status_queries_key(row.delivery_id))
                pipe.expire(status_queries_key(row.delivery_id), STATUS_QUERY_COUNT_TTL_S)
            asked = pipe.execute()[::2]
        for (row, answer), times in zip(counted, asked):
            if int(times) >= STATUS_QUERIES_MAX:
                give_up[row.delivery_id] = (
                    f"the provider does not know message {row.provider_message_id}" if answer.unknown else
                    f"the provider still reported {answer.status!r} after {times} status queries")
    with rt.sessions.begin() as session:
        moved = stuck.record_status_queries(session, rows, reports, give_up)
    if uncounted:
        log.warning("sweep: %d of %d status queries got no answer; asked again later", uncounted, len(rows))
    return {"queried": len(rows), "confirmed": moved, "gave_up": len(give_up)}
