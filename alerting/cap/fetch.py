"""Fetching feeds and CAP documents over HTTP, with a timeout and a size cap.

Only http:// and https:// URLs are fetched (a feed cannot make us read file:// or other schemes);
a body larger than the cap is abandoned as soon as it passes it, not read to the end.
"""
from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import aiohttp

from alerting.cap.parse import MAX_DOCUMENT_BYTES
from alerting.errors import ValidationError

#: Feeds list many entries; each CAP document is capped by MAX_DOCUMENT_BYTES.
MAX_FEED_BYTES = 4 * 1024 * 1024
TIMEOUT_S = 15.0
USER_AGENT = "Tocsin CAP follower"


async def fetch_async(session: aiohttp.ClientSession, url: str, *, max_bytes: int) -> bytes:
    if urlsplit(url).scheme not in ("http", "https"):
        raise ValidationError(f"only http(s) URLs are fetched, got {url[:100]!r}", field="url")
    async with session.get(url, allow_redirects=True, max_redirects=3) as response:
        if response.status != 200:
            raise ValidationError(f"{url[:100]} answered {response.status}", field="url")
        body = bytearray()
        async for chunk in response.content.iter_chunked(65536):
            body.extend(chunk)
            if len(body) > max_bytes:
                raise ValidationError(f"{url[:100]} sent more than {max_bytes:,} bytes", field="url")
        return bytes(body)


def fetch(url: str, *, max_bytes: int = MAX_DOCUMENT_BYTES, timeout_s: float = TIMEOUT_S) -> bytes:
    """GET `url` (blocking; for worker jobs). Raises ValidationError on any failure, naming the URL."""
    async def run() -> bytes:
        timeout = aiohttp.ClientTimeout(total=timeout_s)
        async with aiohttp.ClientSession(timeout=timeout, headers={"User-Agent": USER_AGENT}) as session:
            return await fetch_async(session, url, max_bytes=max_bytes)
    try:
        return asyncio.run(run())
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
        raise ValidationError(f"could not fetch {url[:100]}: {type(exc).__name__}", field="url") from None
