"""What `channels.http1` hands back: a complete answer, its body decoded, and the errors it raises.

Kept apart from the pool (connections, limits, timeouts), which `channels.http1` is about;
`channels.http1` re-exports the answer and the errors.
"""
from __future__ import annotations

import codecs
import zlib


class ServerDisconnected(ConnectionError):
    """The peer closed or reset the connection before the whole answer arrived."""


class PoolClosed(ConnectionError):
    """The pool was closed before or while the request ran."""


class BadResponse(ValueError):
    """The peer's answer is not a well-formed HTTP/1.x response (or is larger than allowed)."""


class Http1Response:
    """A complete answer: status, headers as received (lower-case names, latin-1 text), raw body."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name: str, default: str | None = None) -> str | None:
        """The first value of header `name` (any case), or `default`."""
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return default

    def decoded_body(self) -> bytes:
        """The body with its Content-Encoding (gzip, deflate, br, zstd) undone; raises BadResponse."""
        return decode_content(self.header("content-encoding"), self.body)

    def text(self) -> str:
        """The decoded body as text, in the charset of its Content-Type (utf-8 if none or unknown)."""
        charset = "utf-8"
        for param in (self.header("content-type") or "").split(";")[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "charset" and value.strip().strip('"'):
                charset = value.strip().strip('"')
        try:
            codecs.lookup(charset)
        except LookupError:
            charset = "utf-8"
        return self.decoded_body().decode(charset, "replace")

    def __repr__(self) -> str:
        return f"<Http1Response {self.status}, {len(self.body)} bytes>"


def decode_content(encoding: str | None, body: bytes) -> bytes:
    """Undo a Content-Encoding, as aiohttp does for the encodings it advertises."""
    coding = (encoding or "").strip().lower()
    if coding in ("", "identity"):
        return body
    try:
        if coding in ("gzip", "x-gzip"):
            return zlib.decompress(body, 16 + zlib.MAX_WBITS)
        if coding == "deflate":
            try:
                return zlib.decompress(body)                  # zlib-wrapped, as the RFC says
            except zlib.error:
                return zlib.decompress(body, -zlib.MAX_WBITS)  # raw deflate, as some servers send
        if coding in ("br", "zstd"):
            from aiohttp import (
                compression_utils as cu,  # only aiohttp knows which library it found
            )
            if coding == "br" and cu.HAS_BROTLI:
                return cu.BrotliDecompressor().decompress_sync(body)
            if coding == "zstd" and cu.HAS_ZSTD:
                return cu.ZSTDDecompressor().decompress_sync(body)
    except Exception as exc:  # zlib.error, brotli.error...: a body that does not match its encoding
        raise BadResponse(f"the body is not valid {coding}: {exc}") from exc
    raise BadResponse(f"unsupported Content-Encoding {encoding!r}")
