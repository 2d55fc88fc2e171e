"""Keyed learner pseudonyms: what the hub keys a learner by instead of the education ID.

``lk1-`` followed by the first 128 bits of HMAC-SHA-256(secret, "mchub-learner\\n" + ID) in
lowercase base32 (26 characters). Unlike an unsalted hash of the 11-digit education ID
(a space of 10⁹ values, searched in about an hour on one core), a pseudonym cannot be
tested against a guessed ID without the secret. The secret is ``MCHUB_LEARNER_SECRET``
when set, else ``learner-pseudonym.secret`` in the keys directory (made on first use);
every stage of a deployment must use the same one (share the keys directory or the
setting), and it must stay the same for the deployment's lifetime.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import Final

from hub.crypto.secret import load_secret
from hub.settings import Settings

SECRET_SETTING: Final = "MCHUB_LEARNER_SECRET"
SECRET_FILE: Final = "learner-pseudonym.secret"
PREFIX: Final = "lk1-"
_PSEUDONYM_RE: Final = re.compile(r"lk1-[a-z2-7]{26}")


def learner_pseudonym(secret: bytes, education_id: str) -> str:
    """The learner's pseudonym under ``secret`` (stable, not reversible without it)."""
    mac = hmac.new(secret, b"mchub-learner\n" + education_id.encode("utf-8"), hashlib.sha256)
    return PREFIX + base64.b32encode(mac.digest()[:16]).decode("ascii").rstrip("=").lower()


def is_pseudonym(value: str) -> bool:
    """True when ``value`` has the form of a learner pseudonym (not an education ID)."""
    return _PSEUDONYM_RE.fullmatch(value) is not None


def learner_secret(settings: Settings) -> bytes:
    """The pseudonym secret: ``MCHUB_LEARNER_SECRET``, else the keys directory's file."""
    given = settings.privacy.secret
    value = None if given is None else given.get_secret_value()
    return load_secret(settings.data_dir / "keys", SECRET_FILE, value, setting=SECRET_SETTING)


def learner_log_key(learner_key: str) -> str:
    """The canonical log's key of a learner's enrolments (also their delivery order key):
    ``learner:`` + the pseudonym; for a learner key of a hub before pseudonyms (an
    education ID) the old key, a prefix of the ID's unsalted SHA-256."""
    if is_pseudonym(learner_key):
        return "learner:" + learner_key
    return "learner:" + hashlib.sha256(learner_key.encode()).hexdigest()[:32]
