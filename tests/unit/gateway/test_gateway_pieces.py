"""Pure parts of the gateway: verdicts and §2 reports, Prefer, media types, the store,
the OpenAPI document (staleness) and the ingest stage's authorisation rule."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiokafka import ConsumerRecord

from hub.authz import RegistryFile, example_registry_path
from hub.errors import RequestRefused
from hub.gateway.app import render_openapi
from hub.gateway.idempotency import Submission, SubmissionStore, now_iso
from hub.gateway.receipts import verdict
from hub.gateway.runtime import Gateway, prefer_wait
from hub.settings import Settings
from hub.stream.ingest import IngestHandler, decode_request
from hub.topics import REJECTIONS, SOURCE_TOPICS, source_receipts, source_topic
from tests.support import REPO_ROOT, shared_dir

EXAMPLE = example_registry_path()
SAMPLES = shared_dir() / "feeds" / "samples"


def test_committed_openapi_document_is_current() -> None:
    committed = (REPO_ROOT / "docs" / "openapi" / "gateway.json").read_text(encoding="utf-8")
    assert committed == render_openapi(), "run: mchub gateway openapi"


def test_openapi_documents_every_error_status_as_problem_json() -> None:
    doc = json.loads(render_openapi())
    post = doc["paths"]["/v1/feeds/{feed}/events"]["post"]
    for status in ("400", "401", "403", "404", "409", "413", "415", "422", "429", "503"):
        assert "application/problem+json" in post["responses"][status]["content"]
    assert set(post["requestBody"]["content"]) == {
        "application/json", "application/xml", "text/xml", "text/csv"}
    assert doc["paths"]["/v1/receipts/{receiptId}"]["get"]["security"] == [{"HTTPBearer": []}]


def r(outcome: str, *, row: int | None = None, final: bool = True, **extra: Any) -> dict[str, Any]:
    return {"outcome": outcome, "row": row, "final": final, "rules": [], "scope": "event",
            "idempotencyKey": "k", **extra}


@pytest.mark.parametrize("outcome, fate, status", [
    ("accept", "accepted", 200), ("hold", "held", 200), ("duplicate-ignored", "duplicate", 200),
    ("conflict", "conflict", 409), ("reject", "rejected", 400)])
def test_he_vet_verdicts_follow_the_feed_contract(outcome: str, fate: str, status: int) -> None:
    v = verdict("he", {None: r(outcome, final=outcome != "hold")})
    assert (v.status, v.fate, v.http_status) == ("decided", fate, status)
    assert v.report == {"feed": "he", "outcome": outcome, "rules": [], "idempotencyKey": "k"}
    assert verdict("vet", {}).status == "pending"


def test_al_verdict_waits_for_every_row_then_reports_them() -> None:
    head = {"scope": "file", "outcome": "processed", "rows": 2, "final": True}
    assert verdict("al", {None: head, 1: r("accept", row=1)}).status == "pending"
    v = verdict("al", {None: head, 2: r("reject", row=2), 1: r("accept", row=1)})
    assert v.status == "decided" and v.http_status == 200 and v.fate == "processed"
    assert v.report is not None
    assert [row["row"] for row in v.report["rows"]] == [1, 2]
    assert v.report["file"] == {"outcome": "processed", "rules": []}
    rejected = verdict("al", {None: {"scope": "file", "outcome": "reject", "rules": [
        {"rule": "CSV_HEADER", "path": "header", "message": "m"}]}})
    assert rejected.http_status == 400 and rejected.fate == "rejected"


def test_prefer_wait_is_parsed_and_capped() -> None:
    assert prefer_wait(None, 30) == 0
    assert prefer_wait("wait=5", 30) == 5
    assert prefer_wait("respond-async, wait=100", 30) == 30
    assert prefer_wait("handling=lenient", 30) == 0


@pytest.mark.parametrize("feed, content_type, ok", [
    ("he", "application/json", True), ("he", "application/json; charset=UTF-8", True),
    ("he", "application/json; charset=latin-1", False), ("he", "text/plain", False),
    ("he", None, False), ("vet", "text/xml", True), ("vet", "application/xml", True),
    ("vet", "application/json", False), ("al", "text/csv; charset=utf-8", True),
    ("al", "text/plain", False)])
def test_media_types_per_feed(feed: str, content_type: str | None, ok: bool) -> None:
    if ok:
        Gateway.check_media_type(feed, content_type)
    else:
        with pytest.raises(RequestRefused) as caught:
            Gateway.check_media_type(feed, content_type)
        assert caught.value.status == 415


def test_store_reserves_keys_per_source_and_replays(tmp_path: Path) -> None:
    store = SubmissionStore(tmp_path / "gw.db")
    first = Submission("gw-1", "a", "he", "K", "h1", "writing", now_iso())
    assert store.reserve(first) is None
    again = store.reserve(Submission("gw-2", "a", "he", "K", "h1", "writing", now_iso()))
    assert again is not None and again.receipt_id == "gw-1" and again.state == "writing"
    store.written("gw-1", "src.he.events", 0, 7)
    stored = store.get("gw-1")
    assert stored is not None and stored.state == "written" and stored.offset == 7
    # another source may use the same key
    assert store.reserve(Submission("gw-3", "b", "he", "K", "h2", "writing", now_iso())) is None
    # a failed write releases the key
    store.release("gw-3")
    assert store.get("gw-3") is None
    assert store.reserve(Submission("gw-4", "b", "he", "K", "h2", "writing", now_iso())) is None
    store.close()


# -- the stream's side of the rule (pure: the handler builds outputs, no broker) ---------


def record(settings: Settings, feed: str, value: bytes,
           headers: list[tuple[str, bytes]] | None = None,
           source: str | None = None) -> ConsumerRecord:
    """A record of ``feed``'s shared topic, or of ``source``'s own topic."""
    logical = SOURCE_TOPICS[feed] if source is None else source_topic(feed, source)
    return ConsumerRecord(topic=settings.topic(logical), partition=0, offset=3,
                          timestamp=1751371200000, timestamp_type=0, key=None, value=value,
                          checksum=None, serialized_key_size=0, serialized_value_size=len(value),
                          headers=tuple(headers or ()))


def outcomes(settings: Settings, outputs: list[Any], feed: str) -> list[dict[str, Any]]:
    topic = settings.topic(source_receipts(feed))
    return [json.loads(o.value) for o in outputs if o.topic == topic]


def test_ingest_rejects_kafka_events_for_bodies_the_sender_may_not_act_for() -> None:
    settings = Settings(topic_prefix="u.")
    handler = IngestHandler(settings, registry=RegistryFile(EXAMPLE))
    body = (SAMPLES / "he" / "02_kiallitas_agilis_projektmenedzsment.json").read_bytes()
    # on its own topic fi31457-own is the sender, whatever header it sets
    forged = [("mchub-source", b"fir-central")]
    outputs = handler.handle(record(settings, "he", body, forged, source="fi31457-own"))
    receipts = outcomes(settings, outputs, "he")
    assert [x["outcome"] for x in receipts] == ["reject"]
    assert receipts[0]["rules"][0]["rule"] == "ISSUER_NOT_AUTHORISED"
    assert receipts[0]["rules"][0]["path"] == "intezmeny.kod"
    assert receipts[0]["sender"] == "fi31457-own"
    assert {o.topic for o in outputs} == {settings.topic(REJECTIONS),
                                         settings.topic(source_receipts("he"))}
    # on the shared topic the feed's default source (fir-central) may send it
    accepted = handler.handle(record(settings, "he", body))
    assert outcomes(settings, accepted, "he") == []  # a decide request, no rejection
    assert accepted[0].topic == settings.topic("canon.decide.requests")
    assert decode_request(accepted[0].value)["sender"] == "fir-central"


def test_an_unattested_source_header_is_not_believed() -> None:
    """The issue's attack 1 at the handler: a header naming another source changes
    nothing; the sender is what the topic (written only by one principal) says."""
    settings = Settings(topic_prefix="u.")
    handler = IngestHandler(settings, registry=RegistryFile(EXAMPLE))
    body = (SAMPLES / "he" / "02_kiallitas_agilis_projektmenedzsment.json").read_bytes()
    shared = handler.handle(record(settings, "he", body, [("mchub-source", b"fi31457-own")]))
    assert decode_request(shared[0].value)["sender"] == "fir-central"
    own = handler.handle(record(settings, "he", body, source="fir-central"))
    assert decode_request(own[0].value)["sender"] == "fir-central"


def test_ingest_checks_every_al_row(tmp_path: Path) -> None:
    settings = Settings(topic_prefix="u.")
    doc = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    doc["kafkaDefaultSource"].pop("al")
    path = tmp_path / "issuers.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    handler = IngestHandler(settings, registry=RegistryFile(path))
    body = (SAMPLES / "al" / "FAR_E-2021-000457_20250702_01.csv").read_bytes()
    receipts = outcomes(settings, handler.handle(record(settings, "al", body)), "al")
    rows = [x for x in receipts if x["scope"] == "event"]
    assert len(rows) == 3 and {x["rules"][0]["rule"] for x in rows} == {"ISSUER_NOT_AUTHORISED"}
    assert rows[0]["rules"][0]["path"] == "row 1: felnottkepzo_nyilvantartasi_szam"


def test_ingest_without_registry_is_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MCHUB_ISSUERS", raising=False)
    settings = Settings(topic_prefix="u.")
    handler = IngestHandler(settings)
    body = (SAMPLES / "he" / "02_kiallitas_agilis_projektmenedzsment.json").read_bytes()
    outputs = handler.handle(record(settings, "he", body, [("mchub-source", b"anyone")]))
    assert outputs[0].topic == settings.topic("canon.decide.requests")
    assert "sender" not in decode_request(outputs[0].value)  # a header is not a sender
    own = handler.handle(record(settings, "he", body, source="anyone"))
    assert decode_request(own[0].value)["sender"] == "anyone"
