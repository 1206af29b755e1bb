"""The VAPID key pair that identifies this installation to browsers' push services (RFC 8292).

Generated once and kept: browsers bind each subscription to the public key they were given, so a
new key would silently orphan every subscription.
"""
from __future__ import annotations

import base64
import os

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives import serialization

from ops.settings import Settings


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def generate_private_key() -> str:
    """A new P-256 private key as base64url of its raw 32-byte scalar (what pywebpush accepts)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return _b64url(key.private_numbers().private_value.to_bytes(32, "big"))


def public_key_of(private_key: str) -> str:
    """The base64url uncompressed public point browsers pass as `applicationServerKey`."""
    raw = base64.urlsafe_b64decode(private_key + "=" * (-len(private_key) % 4))
    key = ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
    point = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return _b64url(point)


def load_or_create_vapid_key(settings: Settings) -> str:
    """TOCSIN_VAPID_PRIVATE_KEY (the key itself, or the path of a file holding it), else
    `<data dir>/secrets/vapid-private-key`, created on first use."""
    configured = settings.vapid_private_key
    if configured:
        if os.path.isfile(configured):
            return open(configured).read().strip()
        return configured
    folder = settings.data_dir / "secrets"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / "vapid-private-key"
    if not path.exists():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            return path.read_text().strip()
        with os.fdopen(fd, "w") as handle:
            handle.write(generate_private_key())
    return path.read_text().strip()
