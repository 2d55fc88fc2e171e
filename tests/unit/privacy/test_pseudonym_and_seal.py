"""Keyed learner pseudonyms and sealed learner data in canonical records."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.contract import AvroCodec
from hub.contract.models import CredentialIssued, EnrolmentRecorded
from hub.errors import ConfigurationError
from hub.privacy.keystore import MemoryLearnerKeys
from hub.privacy.pseudonym import (
    is_pseudonym,
    learner_log_key,
    learner_pseudonym,
    learner_secret,
)
from hub.privacy.seal import erased_view, open_event, readable_json, seal_event
from hub.settings import Settings
from tests.unit.contract.contract_testdata import (
    build,
    enrolment_normalised,
    issued,
    revocation_normalised,
)

SECRET = b"s" * 32
ID = "77721222107"
AT = datetime(2026, 12, 6, tzinfo=UTC)
CODEC = AvroCodec()


@given(st.from_regex(r"7[0-9]{10}", fullmatch=True), st.from_regex(r"7[0-9]{10}", fullmatch=True))
def test_pseudonym_is_stable_keyed_and_well_formed(education_id: str, other: str) -> None:
    p = learner_pseudonym(SECRET, education_id)
    assert is_pseudonym(p) and p == learner_pseudonym(SECRET, education_id)
    assert p != learner_pseudonym(b"t" * 32, education_id)
    assert (p == learner_pseudonym(SECRET, other)) == (education_id == other)


def test_pseudonym_is_not_the_unsalted_hash_anymore() -> None:
    p = learner_pseudonym(SECRET, ID)
    assert hashlib.sha256(ID.encode()).hexdigest()[:26] not in p
    assert learner_log_key(p) == "learner:" + p
    # a learner key of a hub before pseudonyms keeps its old log key
    assert learner_log_key(ID) == "learner:" + hashlib.sha256(ID.encode()).hexdigest()[:32]
    assert not is_pseudonym(ID)


def test_secret_is_the_setting_else_a_kept_file(tmp_path: Path) -> None:
    made = learner_secret(Settings(data_dir=tmp_path))
    assert made == learner_secret(Settings(data_dir=tmp_path))
    given_secret = Settings(data_dir=tmp_path).with_section("privacy", secret="x" * 20)
    assert learner_secret(given_secret) == b"x" * 20


def _seal(event, keys: MemoryLearnerKeys):  # type: ignore[no-untyped-def]
    p = learner_pseudonym(SECRET, ID)
    return seal_event(event, p, lambda: keys.current(p))


def test_sealed_issuance_holds_no_personal_data_and_opens_with_its_key() -> None:
    keys = MemoryLearnerKeys()
    event = issued("he")
    learner = event.credential.learner_identification
    sealed = _seal(event, keys)
    data = CODEC.encode(sealed)
    for value in (learner.education_id, learner.family_name, learner.given_name):
        assert value.encode() not in data
    decoded = CODEC.decode(data)
    assert isinstance(decoded, CredentialIssued)
    assert decoded.envelope.learner_key == learner_pseudonym(SECRET, ID)
    opened = open_event(decoded, keys.get)
    assert opened.learner == "opened"
    assert opened.event.credential.learner_identification == learner  # type: ignore[union-attr]
    # everything else is as it was
    assert opened.event.model_dump(exclude={"envelope"}) == event.model_dump(exclude={"envelope"})


def test_erased_learner_reads_erased_and_others_stay() -> None:
    keys = MemoryLearnerKeys()
    data = CODEC.encode(_seal(build(enrolment_normalised("enrolled")), keys))
    keys.erase(learner_pseudonym(SECRET, ID), reason="Art. 17", at=AT)
    decoded = CODEC.decode(data)
    assert isinstance(decoded, EnrolmentRecorded)
    opened = open_event(decoded, keys.get)
    assert opened.erased
    view, state = readable_json(decoded, keys.get)
    assert state == "erased"
    assert view["learnerIdentification"]["familyName"] == "erased"
    assert view["learnerIdentification"]["pseudonym"] == learner_pseudonym(SECRET, ID)
    assert view["programme"] == decoded.model_dump(mode="json", by_alias=True)["programme"]
    assert erased_view({"envelope": {}}) == {"envelope": {}}


def test_revocation_keeps_the_education_id_it_names_sealed() -> None:
    keys = MemoryLearnerKeys()
    event = build(revocation_normalised())
    data = CODEC.encode(_seal(event, keys))
    assert ID.encode() not in data
    sealed = CODEC.decode(data)
    assert sealed.envelope.learner_key == learner_pseudonym(SECRET, ID)
    opened = open_event(sealed, keys.get)
    assert (opened.learner, opened.education_id) == ("opened", ID)
    keys.erase(learner_pseudonym(SECRET, ID), reason="r", at=AT)
    assert open_event(sealed, keys.get).erased


def test_unknown_key_or_altered_ciphertext_is_an_error_not_an_erasure() -> None:
    keys = MemoryLearnerKeys()
    sealed = _seal(issued("he"), keys)
    with pytest.raises(ConfigurationError, match="MCHUB_LEARNER_KEY_STORE"):
        open_event(sealed, MemoryLearnerKeys().get)
    learner = sealed.credential.learner_identification  # type: ignore[union-attr]
    assert learner.sealed is not None
    ct = learner.sealed.ciphertext
    flipped = ("A" if ct[0] != "A" else "B") + ct[1:]
    forged = learner.sealed.model_copy(update={"ciphertext": flipped})
    credential = sealed.credential.model_copy(  # type: ignore[union-attr]
        update={"learner_identification": learner.model_copy(update={"sealed": forged})})
    tampered = sealed.model_copy(update={"credential": credential})
    with pytest.raises(ConfigurationError, match="altered"):
        open_event(tampered, keys.get)


def test_schema_v1_records_still_read_clear() -> None:
    event = issued("he")
    assert open_event(CODEC.decode(CODEC.encode(event)), MemoryLearnerKeys().get).learner == "clear"
