"""Who may write what (hub.principals) and how a client picks its credentials (settings)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hub.authz import example_registry_path, load_registry
from hub.errors import ConfigurationError
from hub.principals import HUB_WRITES, acl_plan, check_source_id
from hub.settings import Settings

REGISTRY = load_registry(example_registry_path())


def writes(plan: list, principal: str) -> set[tuple[str, str]]:
    return {(a.pattern, a.name) for a in plan
            if a.principal == principal and a.resource == "TOPIC" and a.operation == "WRITE"}


def test_only_the_hub_writes_its_own_topics() -> None:
    plan = acl_plan(Settings(topic_prefix="p."), REGISTRY)
    for acl in plan:
        if acl.resource == "TOPIC" and acl.operation in ("WRITE", "CREATE") and any(
                acl.name.startswith("p." + prefix) for prefix in HUB_WRITES):
            assert acl.principal == "mchub", acl


def test_a_source_writes_its_own_topics_and_the_shared_one_only_as_default() -> None:
    plan = acl_plan(Settings(topic_prefix="p."), REGISTRY)
    assert writes(plan, "fi31457-own") == {("LITERAL", "p.src.he.events.fi31457-own")}
    assert writes(plan, "fir-central") == {("LITERAL", "p.src.he.events.fir-central"),
                                           ("LITERAL", "p.src.he.events")}
    assert writes(plan, "mchub-gateway") == {
        ("LITERAL", "p.src.he.events"), ("LITERAL", "p.src.vet.events"),
        ("LITERAL", "p.src.al.batches")}
    reads = {a.principal for a in plan if a.operation == "READ"}
    assert reads == {"mchub", "mchub-gateway"}  # sector systems read nothing


@pytest.mark.parametrize("name", ["mchub", "mchub-admin", "mchub-gateway", "mchubx"])
def test_the_hub_principals_cannot_be_taken_by_a_source(name: str) -> None:
    with pytest.raises(ValueError, match="reserved"):
        check_source_id(name)


def test_clients_take_their_password_from_the_local_broker_file(tmp_path: Path) -> None:
    file = tmp_path / "credentials.json"
    settings = Settings(bootstrap="127.0.0.1:9999", data_dir=tmp_path).with_section(
        "kafka", credentials_file=file)
    assert settings.kafka_security() == {"security_protocol": "PLAINTEXT"}  # no file
    file.write_text(json.dumps({"bootstrap": "127.0.0.1:9999",
                                "passwords": {"mchub": "a", "mchub-admin": "b"}}))
    assert settings.kafka_security()["sasl_plain_username"] == "mchub"
    assert settings.kafka_security()["sasl_plain_password"] == "a"
    admin = settings.as_principal("mchub-admin").kafka_security()
    assert admin["sasl_plain_password"] == "b" and admin["sasl_mechanism"] == "SCRAM-SHA-512"
    with pytest.raises(ConfigurationError, match="no principal 'nobody'"):
        settings.as_principal("nobody").kafka_security()
    other = settings.model_copy(update={"bootstrap": "10.0.0.1:9092"})
    assert other.kafka_security() == {"security_protocol": "PLAINTEXT"}  # another cluster's
    explicit = other.with_section("kafka", security_protocol="SASL_SSL", user="x")
    with pytest.raises(ConfigurationError, match="MCHUB_KAFKA_PASSWORD"):
        explicit.kafka_security()
    assert settings.with_section("kafka", user="me").as_principal(
        "mchub-admin", unless_set=True).kafka.user == "me"
