"""The local schema registry (hub.localregistry: Apicurio Registry built from Maven Central)
speaks the Confluent REST API: registration is idempotent, FULL_TRANSITIVE refuses an
incompatible version, ids resolve; it starts idempotently, stops, and keeps its ids across
a restart. Records framed the Confluent way with fastavro and the id the registry gave are
decoded by Apicurio's own Avro serde (Java, tests/support_serde.py)."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fastavro
import httpx
import pytest

from hub.errors import ConfigurationError
from hub.localregistry import REGISTRY_VERSION, LocalRegistry, RegistrySpec
from tests.support import free_port_block

pytestmark = pytest.mark.integration

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"

V1: dict[str, Any] = {
    "type": "record", "name": "Reading", "namespace": "eu.mchub.test",
    "fields": [{"name": "sensor", "type": "string"}, {"name": "value", "type": "long"}],
}  # fmt: skip
#: a new optional field with a default: readable both ways (FULL compatible)
V2_COMPATIBLE: dict[str, Any] = {
    **V1, "fields": [*V1["fields"], {"name": "unit", "type": ["null", "string"], "default": None}],
}  # fmt: skip
#: ``value`` changes type: neither version can read the other
V2_INCOMPATIBLE: dict[str, Any] = {
    **V1, "fields": [V1["fields"][0], {"name": "value", "type": "string"}],
}  # fmt: skip


def start(registry: LocalRegistry) -> RegistrySpec:
    """Up on a free port (a port found free may be taken before the JVM binds it)."""
    for attempt in range(3):
        try:
            spec, started = registry.up(port=free_port_block(1))
            assert started
            return spec
        except ConfigurationError:
            registry.down()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def registry_spec(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistrySpec]:
    registry = LocalRegistry(tmp_path_factory.mktemp("registry"))
    spec = start(registry)
    try:
        yield spec
    finally:
        registry.down()


def register(client: httpx.Client, subject: str, schema: dict[str, Any]) -> httpx.Response:
    return client.post(f"/subjects/{subject}/versions", json={"schema": json.dumps(schema)},
                       headers={"Content-Type": CONTENT_TYPE})


def registered_id(client: httpx.Client, subject: str, schema: dict[str, Any]) -> int:
    answer = register(client, subject, schema)
    assert answer.status_code == 200, answer.text
    schema_id: int = answer.json()["id"]
    return schema_id


def test_the_confluent_api_registers_checks_compatibility_and_resolves_ids(
    registry_spec: RegistrySpec,
) -> None:
    assert registry_spec.version == REGISTRY_VERSION
    assert registry_spec.url.endswith("/apis/ccompat/v7")
    subject = f"t{uuid.uuid4().hex[:8]}-eu.mchub.test.Reading"
    with httpx.Client(base_url=registry_spec.url, timeout=10) as client:
        first = registered_id(client, subject, V1)
        config = client.put(f"/config/{subject}", json={"compatibility": "FULL_TRANSITIVE"},
                            headers={"Content-Type": CONTENT_TYPE})
        assert config.status_code == 200, config.text
        assert client.get(f"/config/{subject}").json()["compatibilityLevel"] == "FULL_TRANSITIVE"

        refused = register(client, subject, V2_INCOMPATIBLE)
        assert refused.status_code == 409, refused.text
        second = registered_id(client, subject, V2_COMPATIBLE)
        assert second != first
        assert registered_id(client, subject, V1) == first  # idempotent
        assert client.get(f"/subjects/{subject}/versions").json() == [1, 2]

        for schema_id, schema in ((first, V1), (second, V2_COMPATIBLE)):
            answer = client.get(f"/schemas/ids/{schema_id}")
            assert answer.status_code == 200, answer.text
            assert json.loads(answer.json()["schema"]) == schema
        assert client.get("/schemas/ids/987654").status_code == 404

        # the ccompat ids are content ids: one schema under two subjects has one id
        assert registered_id(client, f"{subject}-copy", V1) == first


@pytest.mark.slow
def test_up_is_idempotent_down_stops_and_ids_survive_a_restart(tmp_path: Path) -> None:
    registry = LocalRegistry(tmp_path / "registry")
    assert registry.status() is None
    assert registry.down() is False
    spec = start(registry)
    try:
        again, started = registry.up(port=spec.port)
        assert started is False
        assert again.pid == spec.pid
        with pytest.raises(ConfigurationError, match="already runs"):
            registry.up(port=spec.port + 1)
        status = registry.status()
        assert status is not None and status.url == spec.url
        assert (tmp_path / "registry" / "registry.json").exists()
        assert (tmp_path / "registry" / "registry.log").stat().st_size > 0
        with httpx.Client(base_url=spec.url, timeout=10) as client:
            schema_id = registered_id(client, "restart-eu.mchub.test.Reading", V1)

        assert registry.down() is True
        assert registry.status() is None
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{spec.url}/subjects", timeout=3)

        restarted, started = registry.up(port=spec.port)
        assert started is True
        with httpx.Client(base_url=restarted.url, timeout=10) as client:
            answer = client.get(f"/schemas/ids/{schema_id}")
            assert answer.status_code == 200, answer.text
            assert json.loads(answer.json()["schema"]) == V1
            assert registered_id(client, "restart-eu.mchub.test.Reading", V1) == schema_id
    finally:
        registry.down()
    assert registry.status() is None


def test_a_port_in_use_is_a_configuration_error(tmp_path: Path,
                                                registry_spec: RegistrySpec) -> None:
    with pytest.raises(ConfigurationError, match=f"port {registry_spec.port}"):
        LocalRegistry(tmp_path / "other").up(port=registry_spec.port)


def confluent_frame(schema_id: int, schema: dict[str, Any], record: dict[str, Any]) -> bytes:
    """Magic byte 0, the 4-byte big-endian id, the Avro binary body."""
    body = io.BytesIO()
    fastavro.schemaless_writer(body, fastavro.parse_schema(schema), record)
    return b"\x00" + schema_id.to_bytes(4, "big") + body.getvalue()


@pytest.mark.slow
async def test_apicurio_serde_decodes_confluent_framed_records(
    kafka_bootstrap: str, registry_spec: RegistrySpec
) -> None:
    from aiokafka import AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    from tests.support_serde import build_serde_consumer, decode_topic

    consumer = build_serde_consumer()  # before the records: a first build takes a while
    topic = f"t{uuid.uuid4().hex[:10]}.serde"
    subject = f"{topic}-eu.mchub.test.Reading"
    with httpx.Client(base_url=registry_spec.url, timeout=10) as client:
        v1 = registered_id(client, subject, V1)
        v2 = registered_id(client, subject, V2_COMPATIBLE)

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    finally:
        await admin.close()
    sent = [
        (0, v1, V1, {"sensor": "s-0", "value": 0}),
        (0, v2, V2_COMPATIBLE, {"sensor": "s-1", "value": -7, "unit": "°C"}),
        (1, v1, V1, {"sensor": "s-2", "value": 2**40}),
        (1, v2, V2_COMPATIBLE, {"sensor": "s-\"3\"", "value": 3, "unit": None}),
    ]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for partition, schema_id, schema, record in sent:
            await producer.send_and_wait(
                topic, confluent_frame(schema_id, schema, record), partition=partition)
        # an id the registry never gave: an error line, not a crash
        await producer.send_and_wait(
            topic, confluent_frame(987654, V1, {"sensor": "lost", "value": 1}), partition=0)
    finally:
        await producer.stop()

    lines = decode_topic(kafka_bootstrap, topic, registry_spec.url, consumer=consumer)
    assert len(lines) == len(sent) + 1
    by_place = {(line["partition"], line["offset"]): line for line in lines}
    expected: dict[tuple[int, int], dict[str, Any]] = {}
    for partition, _, _, record in sent:
        expected[(partition, sum(1 for key in expected if key[0] == partition))] = record
    for place, record in expected.items():
        line = by_place[place]
        assert "error" not in line, line
        assert line["schema"] == "eu.mchub.test.Reading"
        assert line["value"] == record
    unknown = by_place[(0, 2)]
    assert set(unknown) == {"partition", "offset", "error"}
    assert "987654" in unknown["error"] or "NotFound" in unknown["error"], unknown
