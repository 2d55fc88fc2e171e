"""The pseudonym secret behind OB3 ``credentialSubject.id`` (see
:func:`hub.render.ob3.subject_id`).

``MCHUB_SUBJECT_ID_SECRET`` when set (its UTF-8 bytes), else ``subject-id.secret`` in the
keys directory (``<data_dir>/keys``): 32 random bytes, mode 0600, made on first use. The
secret must stay the same for the deployment's lifetime — a learner's subject id changes
with it — and must stay secret: with it, an education ID can be tested against a subject id.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from hub.errors import ConfigurationError

SECRET_ENV: Final = "MCHUB_SUBJECT_ID_SECRET"
SECRET_FILE: Final = "subject-id.secret"
SECRET_BYTES: Final = 32


def load_subject_secret(keys_dir: Path, env: Mapping[str, str] | None = None) -> bytes:
    """The pseudonym secret: from the environment, else the keys directory's file (made
    with 32 random bytes, mode 0600, when missing)."""
    environ = os.environ if env is None else env
    value = environ.get(SECRET_ENV)
    if value:
        if len(value.encode("utf-8")) < 16:
            raise ConfigurationError(f"{SECRET_ENV} must be at least 16 bytes long")
        return value.encode("utf-8")
    path = keys_dir / SECRET_FILE
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    keys_dir.mkdir(parents=True, exist_ok=True)
    # written aside, then linked in place: a reader never sees a half-written secret, and
    # of two processes making it at once the first link wins
    tmp = keys_dir / f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
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
    if len(data) < 16:
        raise ConfigurationError(f"{path} holds fewer than 16 bytes (a truncated secret?)")
    return data
