"""``mchub bench codec``: the canonical codec against raw fastavro, in the same run.

Both sides encode and decode the same Avro dict records (built from the feed contract's
worked examples plus a revocation and an enrolment) with the same parsed schemas:

- ``codec``: :meth:`AvroCodec.encode_dict` + :meth:`AvroCodec.decode_dict` (single-object
  header, fingerprint lookup, error mapping, trailing-byte check);
- ``raw``: ``fastavro.schemaless_writer`` + ``schemaless_reader`` on a ``BytesIO``.

Rounds alternate between the two and the best round of each counts, so both see the same
machine state. ``ratio`` = codec / raw (goal >= 0.9). ``model_level`` adds the pydantic
conversion (``encode(model)`` + ``decode(bytes)``) for information.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import Any

from fastavro import schemaless_reader, schemaless_writer

from hub.bench import machine_info
from hub.contract.build import build_canonical_event
from hub.contract.codec import AvroCodec
from hub.contract.models import CanonicalEvent
from hub.normalise.types import NormalisedEvent
from hub.settings import Settings


def sample_events(shared_dir: Path | None = None) -> list[CanonicalEvent]:
    """Canonical events from the worked examples, plus one revocation and one enrolment."""
    expected_dir = (shared_dir or Settings().shared_dir) / "feeds" / "samples" / "expected"
    events: list[CanonicalEvent] = []
    common: dict[str, Any] = {
        "raw_sha256": hashlib.sha256(b"bench").hexdigest(),
        "received_at": datetime(2025, 7, 1, 8, 0, tzinfo=UTC),
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "hub_version": "bench"}
    learner = None
    for path in sorted(expected_dir.glob("*.expected.json")):
        sample = json.loads(path.read_text(encoding="utf-8"))
        feed = sample["idempotencyKey"].split(":", 1)[0]
        elements = sample["elements"]
        learner = elements["learnerIdentification"]
        events.append(build_canonical_event(NormalisedEvent(
            feed=feed, record_type="credential", event_type="issued",
            idempotency_key=sample["idempotencyKey"], credential_key=sample["credentialKey"],
            source_event_id=sample["idempotencyKey"].rsplit(":", 1)[-1],
            learner_id=learner["educationId"], awarding_body_id="bench",
            occurred_at=None if feed == "al" else "2025-06-30T14:05:00+02:00",
            record=elements, content="{}", mapping_version="1", row=sample.get("row"),
            sor_azonosito=sample.get("sor_azonosito")), **common))
    if learner is None:
        raise FileNotFoundError(f"no worked examples in {expected_dir}")
    events.append(build_canonical_event(NormalisedEvent(
        feed="he", record_type="revocation", event_type="revoked",
        idempotency_key="he:bench-revocation", credential_key="he:FI31457:TME-MK-2025-0117",
        source_event_id="bench-revocation", learner_id=learner["educationId"],
        awarding_body_id="FI31457", occurred_at="2025-07-01T09:00:00+02:00",
        record={"credentialKey": "he:FI31457:TME-MK-2025-0117", "reason": "DATA_ERROR",
                "reasonText": "Hibás adat.", "revokedOn": "2025-07-01"},
        content="{}", mapping_version="1"), **common))
    events.append(build_canonical_event(NormalisedEvent(
        feed="he", record_type="enrolment", event_type="enrolled",
        idempotency_key="he:bench-enrolment", credential_key=None,
        source_event_id="bench-enrolment", learner_id=learner["educationId"],
        awarding_body_id="FI31457", occurred_at="2025-07-01T09:00:00+02:00",
        record={"status": "enrolled", "statusDate": "2025-07-01",
                "learnerIdentification": learner,
                "provider": {"id": "FI31457", "scheme": "HU-FI", "name": "Egyetem",
                             "country": "http://publications.europa.eu/resource/authority/"
                                        "country/HUN"},
                "programme": {"id": "P-1", "title": "Program"}, "withdrawalReason": None},
        content="{}", mapping_version="1"), **common))
    return events


def _rate(function: Callable[[], None], count: int) -> float:
    start = time.perf_counter()
    function()
    return count / (time.perf_counter() - start)


def run(events: int = 3000, rounds: int = 7, shared_dir: Path | None = None) -> dict[str, Any]:
    """Measure and return the result object (events/s, ratio, machine info)."""
    codec = AvroCodec()
    models = sample_events(shared_dir)
    batch = [models[i % len(models)] for i in range(events)]
    records = [(m.avro_name, m.model_dump()) for m in batch]
    parsed = {name: codec.store.get(name).parsed for name, _ in records}
    raw_work = [(parsed[name], record) for name, record in records]

    def ours() -> None:
        encode, decode = codec.encode_dict, codec.decode_dict
        for name, record in records:
            decode(encode(name, record))

    def raw() -> None:
        for schema, record in raw_work:
            buffer = BytesIO()
            schemaless_writer(buffer, schema, record)
            schemaless_reader(BytesIO(buffer.getvalue()), schema, None)

    def model_level() -> None:
        encode, decode = codec.encode, codec.decode
        for model in batch:
            decode(encode(model))

    ours()  # warm up both paths once
    raw()
    best_ours = best_raw = 0.0
    for _ in range(rounds):
        best_raw = max(best_raw, _rate(raw, events))
        best_ours = max(best_ours, _rate(ours, events))
    best_model = max(_rate(model_level, events) for _ in range(max(1, rounds // 2)))
    sizes = [len(codec.encode_dict(name, record)) for name, record in records[:len(models)]]
    return {
        "benchmark": "codec",
        "events_per_round": events,
        "rounds": rounds,
        "record_bytes": {"min": min(sizes), "max": max(sizes)},
        "codec_events_per_s": round(best_ours),
        "raw_fastavro_events_per_s": round(best_raw),
        "ratio": round(best_ours / best_raw, 3),
        "goal_ratio": 0.9,
        "model_level_events_per_s": round(best_model),
        "measures": "encode+decode of one event (dict level; model_level adds pydantic)",
        "machine": machine_info(),
    }
