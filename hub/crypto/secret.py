"""Shared secrets of a deployment: given in the configuration, else a file in the keys
directory (``<data_dir>/keys``) made with 32 random bytes, mode 0600, on first use.

One mechanism for every secret the hub keys a MAC with: the pseudonym secret behind OB3
``credentialSubject.id`` (:mod:`hub.crypto.pseudonym`) and the gateway's attestation of
the record headers it writes (:mod:`hub.crypto.attestation`). Processes that must agree
on a secret either share the keys directory or are given the same value.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Final

from hub.errors import ConfigurationError

SECRET_BYTES: Final = 32
#: the shortest secret accepted from the configuration
MIN_SECRET_BYTES: Final = 16


def load_secret(keys_dir: Path, file_name: str, value: str | None, *, setting: str) -> bytes:
    """The secret: ``value`` (from ``setting``) when given, else ``keys_dir/file_name``,
    made when missing. Raises :class:`ConfigurationError` for a value or file shorter than
    16 bytes."""
    if value:
        if len(value.encode("utf-8")) < MIN_SECRET_BYTES:
            raise ConfigurationError(f"{setting} must be at least {MIN_SECRET_BYTES} bytes long")
        return value.encode("utf-8")
    path = keys_dir / file_name
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    keys_dir.mkdir(parents=True, exist_ok=True)
    # written aside, then linked in place: a reader never sees a half-written secret, and
    # of two processes making it at once the first link wins
    tmp = keys_dir / f".{file_name}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(SECRET_BYTES))
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return _read(path)


def _read(path: Path) -> bytes:
    data = path.read_bytes()
    if len(data) < MIN_SECRET_BYTES:
        raise ConfigurationError(f"{path} holds fewer than 16 bytes (a truncated secret?)")
    return data
