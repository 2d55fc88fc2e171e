"""The national register's push contract, as the hub's register connector speaks it.

:mod:`connectors.register.models` holds the request and answer bodies (credential and
enrolment changes, apply results, verification answers). A reference register that serves
this contract lives apart from the product, in :mod:`mchub_reference.register`.
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
    "Verification",
]
