"""Encryption of secrets kept for a while in the database (a task's secrets, until it ends).

Fernet (AES-128-CBC with HMAC-SHA256) with the key in `PORTAL_SECRETS_KEY`. Production
requires the variable; in development the key is generated on first use into
`DATA_DIR/secrets.key`, readable by its owner only, so restarts can still read what was
stored.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings

KEY_FILE = "secrets.key"

__all__ = ["DecryptionError", "decrypt_json", "encrypt_json", "fernet"]


class DecryptionError(ValueError):
    """Stored secrets that the current key cannot read (the key changed, or the data is damaged)."""


def fernet() -> Fernet:
    """The Fernet of the configured key (or of the development key file)."""
    key = settings.PORTAL_SECRETS_KEY or _development_key(Path(settings.DATA_DIR) / KEY_FILE)
    try:
        return Fernet(key.encode() if isinstance(key, str) else key)
    except ValueError:
        raise ValueError(
            "PORTAL_SECRETS_KEY is not a Fernet key: it must be 32 url-safe base64-encoded bytes, "
            'e.g. the output of: python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
        ) from None


def encrypt_json(value: Any) -> bytes:
    """`value` as JSON, encrypted; empty bytes for nothing to keep."""
    if not value:
        return b""
    return fernet().encrypt(json.dumps(value, separators=(",", ":")).encode())


def decrypt_json(token: bytes | memoryview | None, default: Any = None) -> Any:
    """The value `encrypt_json` stored; `default` for an empty token."""
    if not token:
        return default
    try:
        return json.loads(fernet().decrypt(bytes(token)))
    except InvalidToken:
        raise DecryptionError(
            "Stored secrets cannot be decrypted with the current PORTAL_SECRETS_KEY (was the key changed?)."
        ) from None


def _development_key(path: Path) -> str:
    """Read the key file, creating it (mode 0600) when absent; safe when several processes race."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process is writing it: read theirs below
        else:
            key = Fernet.generate_key().decode()
            with os.fdopen(descriptor, "w") as handle:
                handle.write(key + "\n")
            return key
    # The creator may not have written its key yet: a moment, at most.
    for _attempt in range(50):
        key = path.read_text().strip()
        if key:
            return key
        time.sleep(0.02)
    raise ValueError(f"{path} is empty: delete it to generate a new development key, or set PORTAL_SECRETS_KEY.")
