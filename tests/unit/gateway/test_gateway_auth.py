"""API keys (hashed at rest, several per source, expiry, rotation) and rate limits."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from hub.authz import IssuerRegistry, example_registry_path, parse_registry
from hub.gateway.auth import authenticate, generate_key, hash_key, key_id_of, verify_hash
from hub.gateway.ratelimit import RateLimiter, TokenBucket

EXAMPLE = example_registry_path()


def registry_with(keys: dict[str, list[dict[str, object]]]) -> IssuerRegistry:
    doc = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    for source in doc["sources"]:
        source["apiKeys"] = keys.get(source["id"], [])
    return parse_registry(json.dumps(doc))


def test_keys_are_hashed_with_a_salt_and_verified() -> None:
    presented, stored = generate_key("k1")
    assert key_id_of(presented) == "k1"
    assert presented not in stored and presented.split(".")[2] not in stored
    assert stored.startswith("sha256$")
    assert verify_hash(presented, stored)
    assert not verify_hash(presented + "x", stored)
    assert hash_key(presented) != hash_key(presented)  # per-key random salt
    assert not verify_hash(presented, "scrypt$a$b") and not verify_hash(presented, "garbage")


def test_several_active_keys_per_source_and_removal_rotates() -> None:
    old, old_hash = generate_key("fir-old")
    new, new_hash = generate_key("fir-new")
    both = registry_with({"fir-central": [{"id": "fir-old", "hash": old_hash},
                                          {"id": "fir-new", "hash": new_hash}]})
    for key in (old, new):
        who = authenticate(both, f"Bearer {key}")
        assert who is not None and who.source.id == "fir-central"
    rotated = registry_with({"fir-central": [{"id": "fir-new", "hash": new_hash}]})
    assert authenticate(rotated, f"Bearer {old}") is None
    assert authenticate(rotated, f"Bearer {new}") is not None


def test_wrong_missing_expired_or_foreign_keys_are_refused() -> None:
    key, stored = generate_key("fir-a")
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    registry = registry_with({"fir-central": [{"id": "fir-a", "hash": stored}]})
    assert authenticate(registry, None) is None
    assert authenticate(registry, f"Basic {key}") is None
    assert authenticate(registry, "Bearer mchub.fir-a.wrongsecret") is None
    assert authenticate(registry, "Bearer not-a-key") is None
    assert authenticate(registry, "Bearer mchub.nobody.secret") is None
    expired = registry_with({"fir-central": [{"id": "fir-a", "hash": stored, "expiresAt": past}]})
    assert authenticate(expired, f"Bearer {key}") is None
    # a key presented under another key id does not match that id's hash
    other, other_hash = generate_key("far-a")
    mixed = registry_with({"fir-central": [{"id": "fir-a", "hash": stored}],
                           "far-central": [{"id": "far-a", "hash": other_hash}]})
    forged = other.replace("far-a", "fir-a")
    assert authenticate(mixed, f"Bearer {forged}") is None


def test_client_certificates_identify_a_source_and_must_agree_with_the_key() -> None:
    key, stored = generate_key("fir-a")
    registry = registry_with({"fir-central": [{"id": "fir-a", "hash": stored}]})
    subject = "CN=fi31457.sis.example.hu,O=Example University"
    who = authenticate(registry, None, subject)
    assert who is not None and who.source.id == "fi31457-own" and who.certificate == subject
    assert authenticate(registry, f"Bearer {key}", subject) is None  # different sources
    assert authenticate(registry, None, "CN=unknown") is None


def test_token_bucket_allows_burst_then_paces() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=2.0, burst=3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take() == 0.5
    now[0] += 0.5
    assert bucket.take() == 0.0


def test_rate_limiter_per_source_with_retry_after_in_whole_seconds() -> None:
    now = [0.0]
    limiter = RateLimiter(clock=lambda: now[0])
    assert limiter.check("a", 0.2, 1) == 0
    assert limiter.check("a", 0.2, 1) == 5
    assert limiter.check("b", 0.2, 1) == 0  # buckets are per source
    assert limiter.check("a", 10.0, 1) == 0  # a changed limit starts a new bucket
