"""The reference national register: a store of current credential state and enrolments.

It accepts the push contract (:mod:`connectors.register.models`, served over HTTP by
:mod:`connectors.register.service`), keeps the state in SQLite (embedded default) or
PostgreSQL (production) behind the :class:`~connectors.register.store.RegisterStore`
port, and answers credential, learner and verification queries.
"""

from __future__ import annotations

from connectors.register.models import (
    ApplyResult,
    Change,
    CredentialChange,
    CredentialElements,
    CredentialPush,
    CredentialState,
    EnrolmentChange,
    EnrolmentPush,
    EnrolmentRecord,
    Verification,
)
from connectors.register.store import RegisterStore, open_store

__all__ = [
    "ApplyResult",
    "Change",
    "CredentialChange",
    "CredentialElements",
    "CredentialPush",
    "CredentialState",
    "EnrolmentChange",
    "EnrolmentPush",
    "EnrolmentRecord",
    "RegisterStore",
    "Verification",
    "open_store",
]
