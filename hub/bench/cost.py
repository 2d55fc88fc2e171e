"""``mchub bench cost``: where each event's CPU time goes, stage by stage, in µs per event.

No broker and no profiler: every step the hub runs per event is timed on its own, over
the same generated ``he`` issuance events, in this process, one pass per step after a
warm-up (each event is new to the step, as in the live stream):

- core stream, ingest side: ``normalise`` (parse + map the feed's JSON), ``build``
  (canonical model), ``validate`` (the contract's rules), ``encode`` (Avro), and
  ``ingest`` (the whole ingest handler per record: all of these plus the decide request
  and receipts);
- core stream, decide side: ``decide_read`` (decode a decide request), ``decide_core``
  (the core's lifecycle decision in the state tables), and ``decide`` (the whole decide
  handler per request: read, decide, hash chain, changelog and receipt records);
- fan-out per issuance: ``decode`` (canonical record to a delivery item), ``render_ob3``,
  ``sign`` (VC-JWT), ``render_elm``, ``seal`` (JAdES), ``status`` (the status list
  entry, as the wallet and EDC destinations claim it: one SQLite transaction per
  delivery batch, then a lookup per credential).

Baselines in the same run: ``json_loads`` of the raw event and ``fastavro_encode`` of the
same Avro record (the floor of parsing and encoding these bytes in Python), and the
implied ceiling of one core for the core stream and for an issuance's fan-out work.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import json
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import Any, TypeVar

from aiokafka import ConsumerRecord, TopicPartition
from fastavro import schemaless_writer

from hub import __version__
from hub.bench import machine_info
from hub.bench.pipeline import he_events
from hub.contract.build import build_canonical_event
from hub.contract.codec import AvroCodec
from hub.contract.rules import ValidationContext, validate_event
from hub.normalise import normalise
from hub.normalise.types import NormalisedEvent
from hub.settings import Settings
from hub.topics import DECIDE_REQUESTS, SOURCE_TOPICS, apply_topics

T = TypeVar("T")
R = TypeVar("R")

RECEIVED_AT = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)


def per_event_us(
    step: Callable[[T], R], inputs: Sequence[T], *, warmup: int = 50
) -> tuple[float, list[R]]:
    """CPU µs of this process per call of ``step`` over ``inputs`` (one pass, after
    ``warmup`` calls whose results are thrown away), and the results.

    Process CPU time, not wall time: what one event costs the hub, less disturbed by
    whatever else the machine runs. The garbage collector is off during the pass: the
    bench keeps every result for the next step, which a running stage does not, and the
    full collections that growing heap triggers (up to half of a step's time) belong to
    the bench, not to the step.
    """
    for item in inputs[: min(warmup, len(inputs))]:
        step(item)
    gc.collect()
    gc.disable()
    try:
        started = time.process_time()
        results = [step(item) for item in inputs]
        elapsed = time.process_time() - started
    finally:
        gc.enable()
    return elapsed / len(inputs) * 1e6, results


def source_record(topic: str, offset: int, value: bytes) -> ConsumerRecord:
    """A source record as the kernel hands it to the ingest handler."""
    return ConsumerRecord(
        topic,
        0,
        offset,
        int(RECEIVED_AT.timestamp() * 1000),
        0,
        None,
        value,
        None,
        -1,
        len(value),
        [],
    )


def core_costs(settings: Settings, payloads: Sequence[bytes]) -> dict[str, float]:
    """µs per event of each core-stream step (see the module docstring)."""
    from hub.stream.decide import DecideHandler
    from hub.stream.ingest import IngestHandler

    codec = AvroCodec()
    ctx = ValidationContext(now=RECEIVED_AT, clock_skew_seconds=settings.issue_clock_skew_seconds)
    costs: dict[str, float] = {}

    costs["json_loads"], _ = per_event_us(json.loads, payloads)
    costs["normalise"], results = per_event_us(lambda p: normalise("he", p), payloads)
    events: list[NormalisedEvent] = [r.items[0].event for r in results if r.items[0].event]
    digest = hashlib.sha256(b"bench").hexdigest()

    def build(event: NormalisedEvent) -> Any:
        return build_canonical_event(
            event,
            raw_sha256=digest,
            received_at=RECEIVED_AT,
            trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
            hub_version=__version__,
        )

    costs["build"], models = per_event_us(build, events)
    costs["validate"], _ = per_event_us(lambda m: validate_event(m, ctx), models)
    costs["encode"], _ = per_event_us(codec.encode, models)
    records = [m.model_dump() for m in models]
    writer = codec.writer_schema(models[0].avro_name)

    def raw_encode(record: dict[str, Any]) -> bytes:
        buffer = BytesIO()
        schemaless_writer(buffer, writer, record)
        return buffer.getvalue()

    costs["fastavro_encode"], _ = per_event_us(raw_encode, records)

    ingest = IngestHandler(settings)
    topic = settings.topic(SOURCE_TOPICS["he"])
    sources = [source_record(topic, i, p) for i, p in enumerate(payloads)]
    costs["ingest"], outputs = per_event_us(ingest.handle, sources)
    requests_topic = settings.topic(DECIDE_REQUESTS)
    requests = [
        source_record(requests_topic, i, o.value)
        for i, out in enumerate(outputs)
        for o in out
        if o.topic == requests_topic and o.value
    ]
    costs.update(asyncio.run(_decide_costs(settings, DecideHandler, requests)))
    return costs


async def _decide_costs(
    settings: Settings, handler_class: Any, requests: Sequence[ConsumerRecord]
) -> dict[str, float]:
    from hub.core.tables import StateTables

    await apply_topics(settings)
    handler = handler_class(settings, store="memory")
    task = TopicPartition(settings.topic(DECIDE_REQUESTS), 0)
    await handler.assigned([task])
    try:
        costs: dict[str, float] = {}
        costs["decide_read"], read = per_event_us(handler._read_request, requests)
        tables = StateTables()
        costs["decide_core"], _ = per_event_us(
            lambda r: tables.process(r[0], now=r[2], ttl=handler.ttl, context=r[1]),
            read,
            warmup=0,
        )
        half = len(requests) // 2  # warm on the first half, time the second
        await handler.process({task: list(requests[:half])})
        gc.collect()
        gc.disable()
        try:
            started = time.process_time()
            for record in requests[half:]:
                await handler.process({task: [record]})
            elapsed = time.process_time() - started
        finally:
            gc.enable()
        costs["decide"] = elapsed / (len(requests) - half) * 1e6
        return costs
    finally:
        await handler.revoked([task])


def fanout_costs(payloads: Sequence[bytes], settings: Settings) -> dict[str, float]:
    """µs per issuance of each fan-out step (see the module docstring)."""
    from connectors.edc.destination import seal_issuer
    from connectors.fanout.base import decode_canonical
    from connectors.status import SqliteStatusStore, StatusPublisher
    from hub.crypto.devca import dev_signer
    from hub.crypto.jades import seal
    from hub.crypto.vcjwt import sign_vc
    from hub.render import RenderInput, StatusRef
    from hub.render.elm import render_elm
    from hub.render.ob3 import render_ob3
    from hub.stream.ingest import IngestHandler

    ingest = IngestHandler(settings)
    topic = settings.topic(SOURCE_TOPICS["he"])
    canonical: list[bytes] = []
    for i, payload in enumerate(payloads):
        result = normalise("he", payload)
        event = result.items[0].event
        assert event is not None
        data, _ = ingest.canonical(
            event,
            {
                "rawSha256": hashlib.sha256(payload).hexdigest(),
                "receivedAt": RECEIVED_AT.isoformat(),
                "traceId": uuid.uuid4().hex,
            },
        )
        assert data is not None, f"event {i} of {topic} was not valid"
        canonical.append(data)
    costs: dict[str, float] = {}
    keys = ingest.learner_keys

    def decode(data: bytes) -> Any:
        return decode_canonical(data, keys)

    costs["decode"], items = per_event_us(decode, canonical)
    issued: list[tuple[str, str, dict[str, Any], datetime]] = []
    for item in items:
        if item.credential_id is None or item.credential_key is None or item.elements is None:
            raise RuntimeError(f"issuance {item.event_id} decoded without credential or elements")
        issued.append((item.credential_id, item.credential_key, item.elements, item.issued_at))
    with tempfile.TemporaryDirectory(prefix="mchub-bench-cost-") as tmp:
        signer = dev_signer(Path(tmp) / "keys")
        publisher = StatusPublisher(SqliteStatusStore(Path(tmp) / "status.sqlite"), signer)
        publisher.allocate("warm-up")  # creates and publishes the first list

        # as the wallet and EDC destinations do: one allocate_many per delivery batch
        # (their prepare), then one allocate per credential as its request is built
        def allocate_batch(
            batch: list[tuple[str, str, dict[str, Any], datetime]],
        ) -> list[StatusRef]:
            publisher.allocate_many([entry[0] for entry in batch])
            return [publisher.allocate(entry[0]) for entry in batch]

        size = settings.fanout.fanout_batch
        batches = [issued[i : i + size] for i in range(0, len(issued), size)]
        per_batch, allocated = per_event_us(allocate_batch, batches, warmup=0)
        costs["status"] = per_batch * len(batches) / len(issued)
        refs = [ref for batch_refs in allocated for ref in batch_refs]
        secret = bytes(32)  # the pseudonym secret: any fixed bytes measure the same
        inputs = [
            RenderInput(*entry, ref, subject_secret=secret)
            for entry, ref in zip(issued, refs, strict=True)
        ]
        costs["render_ob3"], badges = per_event_us(render_ob3, inputs)
        costs["sign"], _ = per_event_us(lambda badge: sign_vc(badge, signer), badges)
        issuer = seal_issuer(signer)
        costs["render_elm"], documents = per_event_us(lambda i: render_elm(i, issuer), inputs)
        costs["seal"], _ = per_event_us(lambda doc: seal(doc, signer), documents)
    return costs


def run(settings: Settings, *, events: int, samples_dir: Path) -> dict[str, Any]:
    """Every measurement in one go, as the JSON-ready result."""
    template = json.loads(
        (samples_dir / "he" / "01_kiallitas_tesztvezerelt_python.json").read_text()
    )
    payloads = he_events(template, events)
    tag = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory(prefix="mchub-bench-cost-") as tmp:
        local = settings.model_copy(
            update={
                "bootstrap": f"memory://bench-cost-{tag}",
                "topic_prefix": f"bench{tag}.",
                "data_dir": Path(tmp),
                "state_store": "memory",
            }
        )
        core = core_costs(local, payloads)
        fanout = fanout_costs(payloads, local)
    core_us = core["ingest"] + core["decide"]
    issuance_us = sum(fanout[k] for k in ("render_ob3", "sign", "render_elm", "seal", "status"))
    return {
        "benchmark": "cost",
        "events": events,
        "unit": "CPU microseconds per event (process time), one core, no broker",
        "core_stream": {k: round(v, 1) for k, v in core.items()},
        "fanout_per_issuance": {k: round(v, 1) for k, v in fanout.items()},
        "core_stream_us": round(core_us, 1),
        "core_stream_ceiling_events_per_s": round(1e6 / core_us),
        "issuance_wallet_and_edc_us": round(issuance_us, 1),
        "baselines": {
            "json_loads_us": round(core["json_loads"], 1),
            "fastavro_encode_us": round(core["fastavro_encode"], 1),
        },
        "goals": {"core_stream_us": 200, "issuance_wallet_and_edc_us": 500},
        "machine": machine_info(),
    }
