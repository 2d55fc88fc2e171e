"""The hub with a real schema registry (Apicurio, started by hub.localregistry): its
schemas registered idempotently under FULL_TRANSITIVE topic-record subjects, the
canonical log written in registry framing, decoded by Apicurio's own Avro serde (Java,
from Maven Central), verified by `mchub audit verify` and shown by `mchub tail` in a
fresh process that learns the ids from the registry."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from hub.contract.codec import AvroCodec
from hub.contract.framing import SCHEMA_IDS
from hub.contract.store import SchemaStore
from hub.localregistry import LocalRegistry
from hub.publish import publish, sample_messages
from hub.settings import Settings
from hub.stream.schema_registry import register_schemas, subject_for
from hub.topics import CANONICAL_LOG
from tests.support import REPO_ROOT, free_port_block, shared_dir
from tests.support_kafka import core_stream, read_topic

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SAMPLES = shared_dir() / "feeds" / "samples"
SAMPLE_EVENTS = 25


@pytest.fixture(scope="module")
def registry_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    registry = LocalRegistry(tmp_path_factory.mktemp("registry"))
    spec, _ = registry.up(port=free_port_block(1))
    try:
        yield spec.url
    finally:
        registry.down()


@pytest.fixture(autouse=True)
def fresh_ids() -> Iterator[None]:
    SCHEMA_IDS.clear()
    yield
    SCHEMA_IDS.clear()


async def test_schemas_register_idempotently_under_full_transitive_subjects(
    settings: Settings, registry_url: str
) -> None:
    settings = settings.model_copy(update={"schema_registry_url": registry_url})
    first = await register_schemas(settings)
    again = await register_schemas(settings)
    store = SchemaStore()
    assert len(first) == len(store.entries())
    assert [r.schema_id for r in again] == [r.schema_id for r in first]
    assert len({r.schema_id for r in first}) == len(first)
    subjects = {subject_for(settings, e.full_name) for e in store.entries()}
    assert {r.subject for r in first} == subjects
    with httpx.Client(base_url=registry_url) as client:
        for subject in subjects:
            config = client.get(f"/config/{subject}").json()
            assert config["compatibilityLevel"] == "FULL_TRANSITIVE"
            versions = client.get(f"/subjects/{subject}/versions").json()
            assert len(versions) == len(store.versions)


@pytest.fixture
async def registry_log(
    applied_settings: Settings, registry_url: str, tmp_path: Path
) -> AsyncIterator[Settings]:
    """The sample feeds through the real core stream, the log framed for the registry."""
    settings = applied_settings.model_copy(update={
        "data_dir": tmp_path / "data", "wire_format": "registry",
        "schema_registry_url": registry_url})
    async with core_stream(settings):
        await publish(settings, sample_messages(SAMPLES))
        logged = await read_topic(settings, settings.topic(CANONICAL_LOG), at_least=SAMPLE_EVENTS)
        assert len(logged) == SAMPLE_EVENTS
        await asyncio.sleep(1.0)  # an idle checkpoint
    yield settings


def mchub(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """The real CLI in a fresh process (no ids known: it must ask the registry)."""
    env = {
        **os.environ,
        "MCHUB_BOOTSTRAP": settings.bootstrap,
        "MCHUB_TOPIC_PREFIX": settings.topic_prefix,
        "MCHUB_CONSUMER_GROUP": settings.consumer_group,
        "MCHUB_DATA_DIR": str(settings.data_dir),
        "MCHUB_PARTITIONS": str(settings.partitions),
        "MCHUB_SCHEMA_REGISTRY_URL": settings.schema_registry_url,
        "MCHUB_WIRE_FORMAT": settings.wire_format,
    }
    return subprocess.run([sys.executable, "-m", "hub", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=180, check=False)


async def test_apicurio_serde_audit_verify_and_tail_read_the_registry_framed_log(
    registry_log: Settings,
) -> None:
    settings = registry_log
    topic = settings.topic(CANONICAL_LOG)
    logged = await read_topic(settings, topic, at_least=SAMPLE_EVENTS)
    assert {bytes(r.value[:1]) for r in logged} == {b"\x00"}
    assert {dict(r.headers)["mchub-value-format"] for r in logged} == {b"avro-registry"}

    verified = mchub(settings, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    tail = mchub(settings, "tail", CANONICAL_LOG, "--max", "3")
    assert tail.returncode == 0, tail.stderr
    shown = [json.loads(line) for line in tail.stdout.splitlines() if line.strip()]
    assert len(shown) == 3
    assert all(doc["format"].startswith("avro:") for doc in shown), shown[0]
    assert all(doc["value"]["envelope"]["eventId"] for doc in shown)

    # an implementation we did not write: Apicurio's Avro deserializer, ids from the registry
    from tests.support_serde import decode_topic

    lines = decode_topic(settings.bootstrap, topic, settings.schema_registry_url)
    decoded = [line for line in lines if "value" in line]
    errors = [line for line in lines if "error" in line]
    assert not errors, errors[:3]
    assert len(decoded) == SAMPLE_EVENTS
    codec = AvroCodec()
    ours = {(r.partition, r.offset): codec.decode_dict(r.value) for r in logged}
    for line in decoded:
        name, record = ours[(line["partition"], line["offset"])]
        assert line["schema"] == f"eu.mchub.canonical.{name}"
        theirs = line["value"] if isinstance(line["value"], dict) else json.loads(line["value"])
        assert theirs["envelope"]["eventId"] == record["envelope"]["eventId"]
        assert theirs["envelope"]["prevHash"] == record["envelope"]["prevHash"]
