"""The gateway's header attestation: only the gateway's own writes keep their receipt id."""

from __future__ import annotations

import json
from pathlib import Path

from hub.crypto.attestation import attest, attestation_secret, read_attested
from hub.settings import Settings
from hub.stream.ingest import IngestHandler
from hub.topics import SOURCE_TOPICS, source_receipts
from tests.unit.gateway.test_gateway_pieces import SAMPLES, record

SECRET = b"s" * 32
TOPIC = "p.src.he.events"


def headers(mark: bytes | None, rid: str = "gw-1", source: str = "fir-central") -> list[
    tuple[str, bytes]
]:
    found = [("mchub-receipt-id", rid.encode()), ("mchub-source", source.encode())]
    return found + ([("mchub-attestation", mark)] if mark is not None else [])


def test_an_attestation_holds_for_its_topic_receipt_source_and_bytes_only() -> None:
    mark = attest(SECRET, topic=TOPIC, receipt_id="gw-1", source="fir-central", value=b"x")
    good = read_attested(SECRET, TOPIC, b"x", headers(mark))
    assert (good.receipt_id, good.source, good.attested) == ("gw-1", "fir-central", True)
    for topic, value, hdrs, secret in (
        ("p.src.vet.events", b"x", headers(mark), SECRET),  # moved to another feed
        (TOPIC, b"y", headers(mark), SECRET),  # another body
        (TOPIC, b"x", headers(mark, rid="gw-2"), SECRET),  # another receipt id
        (TOPIC, b"x", headers(mark, source="far-central"), SECRET),  # another source
        (TOPIC, b"x", headers(None), SECRET),  # none
        (TOPIC, b"x", headers(b"v1.AAAA"), SECRET),  # made up
        (TOPIC, b"x", headers(mark), b"t" * 32),  # another deployment's secret
    ):
        claims = read_attested(secret, topic, value, hdrs)
        assert not claims.attested and claims.receipt_id is not None


def test_ingest_keeps_only_attested_receipt_ids(tmp_path: Path) -> None:
    settings = Settings(topic_prefix="u.", data_dir=tmp_path)
    handler = IngestHandler(settings)
    body = (SAMPLES / "he" / "01_kiallitas_tesztvezerelt_python.json").read_bytes()
    topic = settings.topic(SOURCE_TOPICS["he"])
    secret = attestation_secret(settings)  # made on first use, the gateway's too
    assert (tmp_path / "keys" / "gateway-attestation.secret").stat().st_mode & 0o777 == 0o600
    mark = attest(secret, topic=topic, receipt_id="gw-ok", source="fir-central", value=body)

    def receipt_id(hdrs: list[tuple[str, bytes]], value: bytes = body) -> str:
        outputs = handler.handle(record(settings, "he", value, hdrs))
        request = [o for o in outputs if o.topic == settings.topic("canon.decide.requests")]
        if request:
            from hub.stream.ingest import decode_request

            return str(decode_request(request[0].value)["receiptId"])
        receipts = [o for o in outputs if o.topic == settings.topic(source_receipts("he"))]
        return str(json.loads(receipts[0].value)["receiptId"])

    assert receipt_id(headers(mark, rid="gw-ok")) == "gw-ok"
    assert receipt_id(headers(None, rid="gw-ok")) == f"{topic}:0:3"
    assert receipt_id(headers(mark, rid="gw-ok"), b"{malformed") == f"{topic}:0:3"
    assert receipt_id([]) == f"{topic}:0:3"
