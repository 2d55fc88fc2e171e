"""Keys of the canonical log: the order per credential holds because the key is the
hub-wide credential id (enrolments: a pseudonymous learner key)."""

from __future__ import annotations

import hashlib

from hub.contract.build import credential_id
from hub.core.lifecycle import Emission


def log_key(emission: Emission) -> bytes:
    """Key on the canonical log: the credential id, or a pseudonymous learner key."""
    if emission.credential_key:
        return credential_id(emission.credential_key).encode()
    return ("learner:" + hashlib.sha256(emission.learner_id.encode()).hexdigest()[:32]).encode()
