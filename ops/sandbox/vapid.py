"""Check a push request's `Authorization: vapid t=<JWT>, k=<key>` header (RFC 8292).

The JWT must be ES256-signed by the P-256 key `k`, name the push resource's
origin as `aud`, expire in the future but at most 24 hours ahead, and carry a
`sub` that is a `mailto:` or `https:` URL. Failures raise `VapidError` with the
HTTP status a push service answers (401; 403 when the key is not the one a
restricted subscription was created with) and a reason that names the problem.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

MAX_EXPIRY_S = 24 * 3600  # RFC 8292 §2: exp MUST NOT be more than 24 hours from the request
_DEFAULT_PORTS = {"http": 80, "https": 443}
VERIFIED_LIMIT = 1000  # tokens whose signature was checked, remembered (see _signed_claims)

#: (k, token) -> (raw key, claims) for tokens whose signature verified; kept by the caller.
VerifiedTokens = dict[tuple[str, str], tuple[bytes, dict[str, Any]]]


class VapidError(Exception):
    """The request's VAPID authorization is missing or wrong; `status` is the HTTP answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class VapidIdentity:
    """Who signed a push: their public key (65 raw bytes) and the JWT claims."""

    public_key: bytes
    claims: dict[str, Any]

    @property
    def subject(self) -> str:
        return str(self.claims.get("sub", ""))


def b64url_decode(text: str) -> bytes:
    """Base64url without padding, as Web Push writes it; ValueError if it is not."""
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError(f"not base64url: {text[:20]!r}") from None


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def origin(url: str) -> str:
    """`scheme://host[:port]` of a URL, lower-cased and without a default port."""
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    shown = f":{port}" if port is not None and port != _DEFAULT_PORTS.get(scheme) else ""
    return f"{scheme}://{host}{shown}"


def public_key_from_raw(raw: bytes) -> ec.EllipticCurvePublicKey:
    if len(raw) != 65 or raw[0] != 4:
        raise ValueError("expected a 65-byte uncompressed P-256 point")
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)


def _auth_params(header: str | None) -> dict[str, str]:
    if not header:
        raise VapidError(401, "missing Authorization header: expected 'vapid t=<JWT>, k=<public key>' (RFC 8292)")
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "vapid":
        raise VapidError(401, f"Authorization scheme must be 'vapid' (RFC 8292), got {scheme!r}")
    params = {}
    for item in rest.split(","):
        name, equals, value = item.strip().partition("=")
        if equals:
            params[name.strip().lower()] = value.strip().strip('"')
    for name in ("t", "k"):
        if not params.get(name):
            raise VapidError(401, f"vapid Authorization is missing its '{name}=' parameter")
    return params


def _json_part(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(b64url_decode(text))
    except ValueError:
        raise VapidError(401, f"VAPID JWT {what} is not base64url-encoded JSON") from None
    if not isinstance(value, dict):
        raise VapidError(401, f"VAPID JWT {what} must be a JSON object")
    return value


def _check_claims(claims: dict[str, Any], audience: str, now: float) -> None:
    aud = claims.get("aud")
    if not isinstance(aud, str) or urlsplit(aud).path not in ("", "/") or origin(aud) != origin(audience):
        raise VapidError(401, f"VAPID JWT aud must be the push resource's origin {origin(audience)!r}, got {aud!r}")
    exp = claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, (int, float)):
        raise VapidError(401, f"VAPID JWT exp must be a number (Unix seconds), got {exp!r}")
    if exp <= now:
        raise VapidError(401, f"VAPID JWT expired: exp {int(exp)} is {int(now - exp)} s in the past")
    if exp > now + MAX_EXPIRY_S:
        raise VapidError(401, f"VAPID JWT exp {int(exp)} is more than 24 hours ahead")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub.lower().startswith(("mailto:", "https:")) or len(sub) < 8:
        raise VapidError(401, f"VAPID JWT sub must be a mailto: or https: URL, got {sub!r}")


def verify_vapid(
    header: str | None, audience: str, now: float, *, restricted_to: bytes | None = None,
    verified: VerifiedTokens | None = None,
) -> VapidIdentity:
    """Check the Authorization header of a push to `audience` (the endpoint URL); VapidError if bad.

    `restricted_to` is the applicationServerKey the subscription was created
    with, if any: a push signed by another key is refused with 403. `verified`,
    if given, remembers the tokens whose signature checked out (see `_signed_claims`).
    """
    params = _auth_params(header)
    raw_key, claims = _signed_claims(params["k"], params["t"], {} if verified is None else verified)
    _check_claims(claims, audience, now)
    if restricted_to is not None and raw_key != restricted_to:
        raise VapidError(403, "this subscription was created for another application server key (RFC 8292 §4.2)")
    return VapidIdentity(public_key=raw_key, claims=claims)


def _signed_claims(k: str, token: str, verified: VerifiedTokens) -> tuple[bytes, dict[str, Any]]:
    """The key and claims of a token whose signature verifies with `k`; VapidError if it does not.

    An application server reuses one token for many pushes (RFC 8292), so a verified (k, token)
    pair is remembered: checking the ES256 signature again would give the same answer. Claims that
    depend on the request (audience, expiry) are checked on every push by the caller.
    """
    cached = verified.get((k, token))
    if cached is not None:
        return cached[0], dict(cached[1])
    try:
        raw_key = b64url_decode(k)
        key = public_key_from_raw(raw_key)
    except ValueError as exc:
        raise VapidError(401, f"vapid k= is not a P-256 public key: {exc}") from None
    parts = token.split(".")
    if len(parts) != 3:
        raise VapidError(401, "VAPID t= is not a JWT (header.claims.signature)")
    jose = _json_part(parts[0], "header")
    if jose.get("alg") != "ES256":
        raise VapidError(401, f"VAPID JWT must be signed with ES256, got alg {jose.get('alg')!r}")
    try:
        signature = b64url_decode(parts[2])
    except ValueError:
        signature = b""
    if len(signature) != 64:
        raise VapidError(401, "VAPID JWT signature must be 64 bytes (R || S)")
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    try:
        key.verify(der, f"{parts[0]}.{parts[1]}".encode("ascii"), ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, UnicodeEncodeError):
        raise VapidError(401, "VAPID JWT signature does not verify with the key in k=") from None
    claims = _json_part(parts[1], "claims")
    if len(verified) >= VERIFIED_LIMIT:
        verified.clear()
    verified[(k, token)] = (raw_key, dict(claims))
    return raw_key, claims
