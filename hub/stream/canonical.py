"""Keys of the canonical log: the order per credential holds because the key is the
hub-wide credential id (enrolments: the learner's keyed pseudonym)."""

from __future__ import annotations

from hub.contract.build import credential_id
from hub.core.lifecycle import Emission
from hub.privacy.pseudonym import learner_log_key


def log_key(emission: Emission) -> bytes:
    """Key on the canonical log: the credential id, or the learner's log key."""
    if emission.credential_key:
        return credential_id(emission.credential_key).encode()
    return learner_log_key(emission.learner_id).encode()
