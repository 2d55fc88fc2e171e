"""The pseudonym secret behind OB3 ``credentialSubject.id`` (see
:func:`hub.render.ob3.subject_id`).

``MCHUB_SUBJECT_ID_SECRET`` when set (its UTF-8 bytes), else ``subject-id.secret`` in the
keys directory (``<data_dir>/keys``): 32 random bytes, mode 0600, made on first use. The
secret must stay the same for the deployment's lifetime — a learner's subject id changes
with it — and must stay secret: with it, an education ID can be tested against a subject id.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from hub.crypto.secret import load_secret

SECRET_ENV: Final = "MCHUB_SUBJECT_ID_SECRET"
SECRET_FILE: Final = "subject-id.secret"


def load_subject_secret(keys_dir: Path, env: Mapping[str, str] | None = None) -> bytes:
    """The pseudonym secret: from the environment, else the keys directory's file (made
    with 32 random bytes, mode 0600, when missing)."""
    environ = os.environ if env is None else env
    return load_secret(keys_dir, SECRET_FILE, environ.get(SECRET_ENV), setting=SECRET_ENV)
