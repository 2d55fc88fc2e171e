"""Sealing a canonical event's learner identification with the learner's own key.

:func:`seal_event` is what ingest applies to every accepted event before it is encoded:
the envelope's ``learnerKey`` becomes the keyed pseudonym and each ``Learner`` record
(issuances and enrolments) keeps only placeholders in its clear fields, the values going
encrypted into ``sealed`` (AES-256-GCM; associated data: pseudonym and key id, so a
ciphertext moved to another learner's record does not open). The log's hash chain and
checkpoints cover the ciphertext, so destroying the key (``mchub learners erase``)
removes the data from every copy of every topic without touching a byte of the log.

:func:`open_event` reverses it for the stages inside the hub that need the values (the
fan-out to the register, wallets and EDC, the audit tools): ``opened`` with the clear
fields back, ``erased`` when the key was destroyed (the placeholders stay), ``clear`` for
records written before sealing existed (schema version 1). A key the store never held is
an error (:class:`~hub.errors.ConfigurationError`), never read as an erasure.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, Final, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hub.contract.models import (
    CanonicalEvent,
    CredentialIssued,
    EnrolmentRecorded,
    Learner,
    SealedPersonalData,
)
from hub.errors import ConfigurationError
from hub.privacy.keystore import ERASED, Erased, LearnerKey

#: the placeholder birth date of a sealed learner
PLACEHOLDER_BIRTH_DATE: Final = date(1900, 1, 1)
#: what the audit tools show for a field whose learner was erased
ERASED_VALUE: Final = "erased"

LearnerState = Literal["clear", "opened", "erased"]
KeyLookup = Callable[[str, str], "LearnerKey | Erased | None"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _aad(pseudonym: str, kid: str) -> bytes:
    return f"mchub-learner-v1\n{pseudonym}\n{kid}".encode()


def seal_json(value: dict[str, Any], key: LearnerKey) -> SealedPersonalData:
    """``value`` (JSON) encrypted under the learner's ``key``."""
    plaintext = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    nonce = secrets.token_bytes(12)
    ciphertext = AESGCM(key.key).encrypt(nonce, plaintext, _aad(key.pseudonym, key.kid))
    return SealedPersonalData(
        alg="A256GCM", kid=key.kid, nonce=_b64(nonce), ciphertext=_b64(ciphertext)
    )


def open_json(
    sealed: SealedPersonalData, pseudonym: str, lookup: KeyLookup
) -> dict[str, Any] | Erased:
    """The JSON ``sealed`` holds, or ``ERASED`` when the learner's key was destroyed.

    Raises :class:`~hub.errors.ConfigurationError` for a key the store never held or a
    ciphertext that does not open (altered record or store).
    """
    key = lookup(pseudonym, sealed.kid)
    if key == ERASED:
        return ERASED
    if key is None:
        raise ConfigurationError(
            f"learner key {sealed.kid} of {pseudonym} is not in this stage's learner key "
            "store: give every stage the same MCHUB_LEARNER_KEY_STORE (and MCHUB_LEARNER_KEK)"
        )
    assert not isinstance(key, str)
    try:
        plaintext = AESGCM(key.key).decrypt(
            _unb64(sealed.nonce), _unb64(sealed.ciphertext), _aad(pseudonym, sealed.kid)
        )
    except InvalidTag as exc:
        raise ConfigurationError(
            f"sealed learner data of {pseudonym} (key {sealed.kid}) does not open: the record "
            "or the key store was altered"
        ) from exc
    value: dict[str, Any] = json.loads(plaintext)
    return value


def seal_learner(learner: Learner, key: LearnerKey) -> Learner:
    """``learner`` with its values encrypted under ``key`` and placeholders in the clear."""
    sealed = seal_json(learner.model_dump(mode="json", by_alias=True, exclude={"sealed"}), key)
    return Learner(
        education_id=key.pseudonym,
        family_name="",
        given_name="",
        date_of_birth=PLACEHOLDER_BIRTH_DATE,
        other_identifiers=[],
        sealed=sealed,
    )


def open_learner(learner: Learner, lookup: KeyLookup) -> tuple[Learner, LearnerState]:
    """The clear ``learner`` and how it was read (see the module docstring)."""
    sealed = learner.sealed
    if sealed is None:
        return learner, "clear"
    value = open_json(sealed, learner.education_id, lookup)
    if value == ERASED:
        return learner, "erased"
    assert not isinstance(value, str)
    return Learner.model_validate(value), "opened"


def seal_event(
    event: CanonicalEvent, pseudonym: str, key: Callable[[], LearnerKey]
) -> CanonicalEvent:
    """``event`` with its learner key pseudonymised and its learner data sealed.

    ``key`` gives the learner's current data key; the pseudonym replaces
    ``envelope.learnerKey`` (a revocation keeps the education ID it named sealed in
    ``sealedLearnerId``).
    """
    envelope = event.envelope.model_copy(update={"learner_key": pseudonym})
    if isinstance(event, CredentialIssued):
        learner = seal_learner(event.credential.learner_identification, key())
        credential = event.credential.model_copy(update={"learner_identification": learner})
        return event.model_copy(update={"envelope": envelope, "credential": credential})
    if isinstance(event, EnrolmentRecorded):
        learner = seal_learner(event.learner_identification, key())
        return event.model_copy(update={"envelope": envelope, "learner_identification": learner})
    sealed_id = seal_json({"educationId": event.envelope.learner_key}, key())
    return event.model_copy(update={"envelope": envelope, "sealed_learner_id": sealed_id})


@dataclass(frozen=True)
class OpenedEvent:
    """A canonical event as a stage inside the hub reads it."""

    event: CanonicalEvent
    learner: LearnerState  # clear (schema v1) | opened | erased
    education_id: str | None = None  # the learner's education ID when known
    @property
    def erased(self) -> bool:
        """True when the learner's identification was erased."""
        return self.learner == "erased"


def open_event(event: CanonicalEvent, lookup: KeyLookup) -> OpenedEvent:
    """``event`` with its learner records opened (see :func:`open_learner`)."""
    if isinstance(event, CredentialIssued):
        learner, state = open_learner(event.credential.learner_identification, lookup)
        if state == "erased":
            return OpenedEvent(event, state)
        credential = event.credential.model_copy(update={"learner_identification": learner})
        opened = event.model_copy(update={"credential": credential})
        return OpenedEvent(opened, state, learner.education_id)
    if isinstance(event, EnrolmentRecorded):
        learner, state = open_learner(event.learner_identification, lookup)
        if state == "erased":
            return OpenedEvent(event, state)
        opened_enrolment = event.model_copy(update={"learner_identification": learner})
        return OpenedEvent(opened_enrolment, state, learner.education_id)
    if event.sealed_learner_id is None:
        return OpenedEvent(event, "clear", event.envelope.learner_key)
    value = open_json(event.sealed_learner_id, event.envelope.learner_key, lookup)
    if value == ERASED:
        return OpenedEvent(event, "erased")
    assert not isinstance(value, str)
    return OpenedEvent(event, "opened", str(value["educationId"]))


def erased_view(event_json: dict[str, Any]) -> dict[str, Any]:
    """The JSON form of an erased learner's event as the audit tools show it: every learner
    field ``"erased"`` (the pseudonym stays, the ciphertext is left out)."""
    def redact(learner: dict[str, Any]) -> dict[str, Any]:
        return {
            "educationId": ERASED_VALUE,
            "familyName": ERASED_VALUE,
            "givenName": ERASED_VALUE,
            "dateOfBirth": ERASED_VALUE,
            "otherIdentifiers": ERASED_VALUE,
            "pseudonym": learner.get("educationId"),
        }

    view: dict[str, Any] = json.loads(json.dumps(event_json))
    if isinstance(view.get("credential"), dict) and "learnerIdentification" in view["credential"]:
        view["credential"]["learnerIdentification"] = redact(
            view["credential"]["learnerIdentification"])
    if isinstance(view.get("learnerIdentification"), dict):
        view["learnerIdentification"] = redact(view["learnerIdentification"])
    return view


def readable_json(event: CanonicalEvent, lookup: KeyLookup) -> tuple[dict[str, Any], LearnerState]:
    """The JSON form of ``event`` as the audit tools show it: the learner opened, or every
    learner field ``"erased"`` (:func:`erased_view`); and how the learner was read."""
    opened = open_event(event, lookup)
    data = opened.event.model_dump(mode="json", by_alias=True)
    if opened.erased:
        return erased_view(data), opened.learner
    return data, opened.learner
