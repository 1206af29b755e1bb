"""Secrets the embedded default generates once and keeps in the data directory."""
from __future__ import annotations

import os
import secrets
from pathlib import Path


def stored_secret(data_dir: Path, name: str, nbytes: int = 32) -> str:
    """Read `data_dir/secrets/<name>`, creating it (mode 600) with a random value the first time."""
    folder = data_dir / "secrets"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / name
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(nbytes))
    return path.read_text().strip()
