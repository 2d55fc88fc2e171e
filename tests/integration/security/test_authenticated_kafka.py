"""The issue's attacks against a Kafka client, on a broker with SASL/SCRAM and ACLs.

The broker is the real one ``mchub kafka up`` runs (KRaft ``StandardAuthorizer``, no ACL:
no access), provisioned from the pilot's issuer registry: principals ``fir-central``
(the he feed's default source) and ``fi31457-own`` (may act only for FI31457) among
them. What the broker refuses is Kafka's own verdict (TopicAuthorizationFailed, a failed
SASL handshake); what the hub decides is read back from its receipts and its log.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka.errors import KafkaError, TopicAuthorizationFailedError

from hub.adapters.kafka import make_consumer, make_producer
from hub.authz import REGISTRY_ENV, example_registry_path, load_registry
from hub.contract.codec import AvroCodec
from hub.localkafka import LocalKafka
from hub.localkafka.security import provision
from hub.settings import ADMIN_PRINCIPAL, Settings, read_kafka_credentials
from hub.topics import (
    AUDIT_CHECKPOINTS,
    CANONICAL_LOG,
    DECIDE_CHANGELOG,
    DELIVERY_RECEIPTS,
    REGISTER_STATE,
    SOURCE_TOPICS,
    apply_topics,
    source_receipts,
    source_topic,
)
from tests.support import free_port_block, shared_dir
from tests.support_kafka import core_stream, read_topic

SAMPLES = shared_dir() / "feeds" / "samples" / "he"
HE_01 = (SAMPLES / "01_kiallitas_tesztvezerelt_python.json").read_bytes()  # FI31457
HE_02 = (SAMPLES / "02_kiallitas_agilis_projektmenedzsment.json").read_bytes()  # FI52804


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalKafka, str]]:
    """An authenticated local broker of its own (its own port)."""
    local = LocalKafka(tmp_path_factory.mktemp("kafka-auth"))
    spec, _ = local.up(port=free_port_block(2, start=47192), auth=True)
    try:
        yield local, spec.bootstrap
    finally:
        local.down()


@pytest.fixture
def registry_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "issuers.json"
    shutil.copy(example_registry_path(), path)
    monkeypatch.setenv(REGISTRY_ENV, str(path))
    return path


@pytest.fixture
def hub(cluster: tuple[LocalKafka, str], tmp_path: Path, registry_file: Path) -> Settings:
    """The hub principal's settings on the test's own topics, provisioned: every declared
    topic, the registry sources' principals, ACLs and own topics."""
    local, bootstrap = cluster
    tag = uuid.uuid4().hex[:8]
    settings = Settings(
        bootstrap=bootstrap, topic_prefix=f"s{tag}.", consumer_group=f"sec-{tag}",
        client_id=f"sec-{tag}", partitions=2, data_dir=tmp_path / "var",
    ).with_section("kafka", credentials_file=local.credentials_file)
    admin = settings.as_principal(ADMIN_PRINCIPAL)
    asyncio.run(apply_topics(admin))
    provision(admin, load_registry(registry_file))
    return settings


def as_source(settings: Settings, source: str) -> Settings:
    return settings.as_principal(source)


async def send(settings: Settings, topic: str, value: bytes,
               headers: list[tuple[str, bytes]] | None = None) -> None:
    producer = make_producer(settings, request_timeout_ms=10_000)
    await producer.start()
    try:
        await asyncio.wait_for(producer.send_and_wait(topic, value, headers=headers), 30)
    finally:
        await producer.stop()


async def refused(settings: Settings, topic: str) -> bool:
    """True when the broker refuses ``settings``' principal a write to ``topic``."""
    try:
        await send(settings, topic, b"forged")
    except TopicAuthorizationFailedError:
        return True
    return False


async def test_without_a_valid_principal_the_broker_answers_nothing(hub: Settings) -> None:
    plain = hub.with_section("kafka", security_protocol="PLAINTEXT")
    wrong = hub.with_section("kafka", user="fir-central", password="guessed",
                             security_protocol="SASL_PLAINTEXT")
    for settings in (plain, wrong):
        producer = make_producer(settings, request_timeout_ms=5_000)
        with pytest.raises((KafkaError, OSError)):
            await asyncio.wait_for(producer.start(), 20)
        await producer.stop()


async def test_a_source_writes_only_its_own_topics(hub: Settings) -> None:
    """Attack 1 at the broker, and attack 3's forged append: a sector system cannot write
    another source's topic, the shared topic of a feed it is not the default of, or any
    topic of the hub's own."""
    own = as_source(hub, "fi31457-own")
    await send(own, hub.topic(source_topic("he", "fi31457-own")), HE_01)
    for logical in (SOURCE_TOPICS["he"], source_topic("he", "fir-central"), CANONICAL_LOG,
                    DECIDE_CHANGELOG, AUDIT_CHECKPOINTS, REGISTER_STATE, DELIVERY_RECEIPTS):
        assert await refused(own, hub.topic(logical)), logical
    central = as_source(hub, "fir-central")
    await send(central, hub.topic(SOURCE_TOPICS["he"]), HE_02)  # the feed's default source
    assert await refused(central, hub.topic(SOURCE_TOPICS["vet"]))
    # a source reads nothing, not even the receipts of its feed (other sources' outcomes)
    consumer = make_consumer(own, hub.topic(source_receipts("he")), group=None)
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            await asyncio.wait_for(consumer.start(), 20)
            await asyncio.wait_for(consumer.getmany(timeout_ms=2000), 20)
    finally:
        await consumer.stop()


@pytest.fixture
async def stream(hub: Settings) -> AsyncIterator[Settings]:
    """Ingest and decide as the hub's principal."""
    async with core_stream(hub) as running:
        yield running


async def test_the_sender_is_the_authenticated_principal_not_a_header(stream: Settings) -> None:
    """Attacks 1 and 2 end to end: fi31457-own, on its own topic, claims to be fir-central
    and carries a gateway receipt id; the hub names it fi31457-own, refuses the body it may
    not act for, gives the malformed record a receipt id of its own, and logs only its own
    credential. The legitimate default source still issues over the shared topic."""
    own = as_source(stream, "fi31457-own")
    topic = stream.topic(source_topic("he", "fi31457-own"))
    forged = [("mchub-source", b"fir-central")]
    await send(own, topic, HE_02, forged)
    await send(own, topic, HE_01, forged)
    await send(own, topic, b'{"not": "an event"', [
        ("mchub-receipt-id", b"gw-stolen-receipt"), ("mchub-source", b"fir-central"),
        ("mchub-attestation", b"v1.AAAA")])
    receipts = [json.loads(r.value) for r in await read_topic(
        stream, stream.topic(source_receipts("he")), at_least=3, timeout=60)]
    assert {r["sender"] for r in receipts if "sender" in r} == {"fi31457-own"}
    by_outcome: dict[str, list[dict[str, Any]]] = {}
    for r in receipts:
        by_outcome.setdefault(r["outcome"], []).append(r)
    assert len(by_outcome["accept"]) == 1
    rules = sorted(r["rules"][0]["rule"] for r in by_outcome["reject"])
    assert "ISSUER_NOT_AUTHORISED" in rules and len(rules) == 2
    assert all(r["receiptId"] != "gw-stolen-receipt" and r["receiptId"].startswith(topic + ":")
               for r in receipts)
    codec = AvroCodec()
    logged = [codec.decode(r.value) for r in await read_topic(
        stream, stream.topic(CANONICAL_LOG), at_least=1, timeout=60)]
    keys = [e.model_dump()["envelope"]["credentialKey"] for e in logged]
    assert keys == [by_outcome["accept"][0]["credentialKey"]]
    # fir-central, the he feed's default source, may issue FI52804's credential
    await send(as_source(stream, "fir-central"), stream.topic(SOURCE_TOPICS["he"]), HE_02)
    logged = await read_topic(stream, stream.topic(CANONICAL_LOG), at_least=2, timeout=60)
    assert len(logged) == 2


def mchub(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hub", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=240, check=False)


async def test_sources_add_creates_principal_acls_and_topic_that_survive_a_restart(
    hub: Settings, cluster: tuple[LocalKafka, str], registry_file: Path
) -> None:
    local, bootstrap = cluster
    env = {"MCHUB_BOOTSTRAP": bootstrap, "MCHUB_TOPIC_PREFIX": hub.topic_prefix,
           "MCHUB_KAFKA_CREDENTIALS_FILE": str(local.credentials_file),
           "MCHUB_DATA_DIR": str(hub.data_dir), REGISTRY_ENV: str(registry_file)}
    added = mchub("sources", "add", "fi99999-own", "--feed", "he", "--awarding-body", "FI99999",
                  "--name", "Own system of FI99999", env=env)
    assert added.returncode == 0, added.stderr
    assert "User:fi99999-own" in added.stderr
    assert load_registry(registry_file).source("fi99999-own") is not None
    assert "fi99999-own" in read_kafka_credentials(local.credentials_file)["passwords"]
    acls = mchub("kafka", "acls", "--source", "fi99999-own", env=env)
    assert acls.returncode == 0, acls.stderr
    own_topic = hub.topic(source_topic("he", "fi99999-own"))
    assert f"fi99999-own\tWRITE\tTOPIC\tLITERAL\t{own_topic}" in acls.stdout.splitlines()
    newcomer = as_source(hub, "fi99999-own")
    await send(newcomer, own_topic, HE_01)
    assert await refused(newcomer, hub.topic(SOURCE_TOPICS["he"]))
    # principals and ACLs live in the broker's metadata: a restart keeps them
    await asyncio.to_thread(local.down)
    await asyncio.to_thread(local.up, port=int(bootstrap.rsplit(":", 1)[1]), auth=True)
    await send(newcomer, own_topic, HE_01)
    assert await refused(newcomer, hub.topic(CANONICAL_LOG))
    assert await refused(as_source(hub, "fi31457-own"), own_topic)
