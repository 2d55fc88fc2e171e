"""Switching the wire format on a fresh deployment changes nothing a register or wallet
consumer sees, and the hash chain verifies in both (the real stages on the in-memory log).

The registry's ids are learnt as registration would learn them; registration against a
real registry (Apicurio) and Apicurio's own serde reading the log are in
tests/integration/registry/.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.fanout.base import CanonicalDecoder
from connectors.fanout.state import register_state_stage
from connectors.register.table import TABLE_TOPICS
from hub.adapters.memory import MemoryBroker
from hub.audit.verify import verify_topics
from hub.contract.framing import SCHEMA_IDS, single_object_form
from hub.contract.store import SchemaStore
from hub.publish import publish, sample_messages
from hub.settings import Settings
from hub.stream.checkpoints import trust_anchors
from hub.topics import AUDIT_CHECKPOINTS, CANONICAL_LOG, REGISTER_STATE, apply_topics
from tests.support import memory_settings, shared_dir
from tests.support_kafka import core_stream

pytestmark = pytest.mark.unit

SAMPLES = shared_dir() / "feeds" / "samples"
SAMPLE_EVENTS = 25
ENROLMENT = b"eu.mchub.canonical.EnrolmentRecorded"


@pytest.fixture
def registered_ids() -> Iterator[None]:
    """Registry ids for every released schema (numbered from 41, as a registry might)."""
    for n, entry in enumerate(SchemaStore().entries()):
        SCHEMA_IDS.learn(41 + n, entry.fingerprint)
    yield
    SCHEMA_IDS.clear()


def records(settings: Settings, logical: str) -> list[Any]:
    broker = MemoryBroker.named(settings.bootstrap)
    return [r for part in broker.partitions.get(settings.topic(logical), []) for r in part]


async def run_hub(settings: Settings) -> None:
    """Core stream + register projection over the sample feeds, until the register
    state holds every credential of the log."""
    await apply_topics(settings)
    async with core_stream(settings, register_state_stage(settings)):
        await publish(settings, sample_messages(SAMPLES))
        for _ in range(2000):
            log = records(settings, CANONICAL_LOG)
            credentials = [r for r in log if dict(r.headers)["mchub-schema"] != ENROLMENT]
            projected = len(records(settings, REGISTER_STATE))
            if len(log) == SAMPLE_EVENTS and projected == len(credentials):
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the hub did not log and project the samples")

def without_reception_time(value: bytes | None) -> Any:
    """A register record with the event time dropped where the feed has none (the adult
    learning CSV: the time the hub received the file, which differs between runs)."""
    if value is None:
        return None
    doc = json.loads(value)
    row = doc.get("payload", doc)
    if row.get("sourceSystem", row.get("source_system")) == "FAR":
        row.pop("occurredAt", None)
        row.pop("occurred_at", None)
    return doc


def consumer_view(settings: Settings) -> dict[str, dict[bytes, Any]]:
    """What a register consumer reads: the last value per key of the register topics."""
    view: dict[str, dict[bytes, Any]] = {}
    for logical in (REGISTER_STATE, *TABLE_TOPICS):
        view[logical] = {bytes(r.key): without_reception_time(r.value)
                         for r in records(settings, logical)}
    return view


async def test_both_wire_formats_chain_verify_and_show_the_register_the_same(
    tmp_path: Path, registered_ids: None
) -> None:
    views = {}
    for wire_format in ("single-object", "registry"):
        settings = memory_settings(tmp_path / wire_format).model_copy(
            update={"wire_format": wire_format})
        await run_hub(settings)
        log = records(settings, CANONICAL_LOG)
        first = {bytes(r.value[:1]) for r in log}
        assert first == ({b"\xc3"} if wire_format == "single-object" else {b"\x00"})
        formats = {dict(r.headers)["mchub-value-format"] for r in log}
        assert formats == {b"avro-" + wire_format.encode()}
        report = await verify_topics(
            settings, settings.topic(CANONICAL_LOG), settings.topic(AUDIT_CHECKPOINTS),
            trust_anchors(settings))
        assert report.ok, [f.line() for f in report.findings]
        assert sum(p.seq for p in report.partitions) == SAMPLE_EVENTS
        views[wire_format] = consumer_view(settings)
        if wire_format == "registry":
            # every fan-out destination (wallets, EDC, register) works from the decoded
            # item: the same for a record in either framing
            decoder = CanonicalDecoder(settings)
            for r in log:
                assert decoder.item(r.value) == decoder.item(single_object_form(r.value))
    assert views["registry"] == views["single-object"]
    assert all(views["registry"][topic] for topic in (REGISTER_STATE, *TABLE_TOPICS[:3]))
