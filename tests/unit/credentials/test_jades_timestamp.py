"""B-T pieces without a TSA: the RFC 3161 request bytes, refusals and mismatches in the
answer, and where a seal puts the signature time-stamp (DSS reads the real thing in
tests/integration/credentials/test_dss_seal.py)."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.crypto.devca import dev_signer
from hub.crypto.jades import seal, verify_seal
from hub.crypto.keys import b64url_decode, load_certificates
from hub.crypto.tsp import Timestamp, timestamp_request, timestamp_token
from hub.errors import TimestampError

DIGEST = hashlib.sha256(b"signature").digest()


def test_request_is_the_der_of_rfc_3161_timestampreq() -> None:
    der = timestamp_request(DIGEST, 0x80)
    expected = (
        "303d"  # SEQUENCE, 61 bytes
        "020101"  # version 1
        "3031300d060960864801650304020105000420"
        + DIGEST.hex()  # messageImprint, SHA-256
        + "02020080"  # nonce 128 (leading zero: positive)
        + "0101ff"  # certReq TRUE
    )
    assert der.hex() == expected
    with pytest.raises(ValueError):
        timestamp_request(b"short", 1)


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("3005300302", "truncated"),
        ("30053003020102", "refused"),  # PKIStatus rejection (2)
        ("30053003020100", "no token"),  # granted, but nothing follows
        ("0400", "not a TimeStampResp"),
        ("3009300302010030020500", "not CMS SignedData"),
    ],
)
def test_answers_that_are_not_a_token_for_the_request(answer: str, reason: str) -> None:
    data = bytes.fromhex(answer)
    with pytest.raises(TimestampError, match=reason):
        timestamp_token(data, DIGEST, 1)


def test_a_seal_carries_the_signature_timestamp_unprotected(tmp_path: Path) -> None:
    signer = dev_signer(tmp_path)
    asked: list[bytes] = []
    token = b"\x30\x03\x02\x01\x01"

    def stamper(message: bytes) -> Timestamp:
        asked.append(message)
        return Timestamp(token, datetime(2026, 1, 1, tzinfo=UTC))

    sealed = seal({"id": "urn:x"}, signer, timestamper=stamper)
    entry = sealed["signatures"][0]
    # the time-stamped message is BASE64URL(JWS signature value), ETSI TS 119 182-1 5.3.4
    assert asked == [entry["signature"].encode("ascii")]
    [component] = entry["header"]["etsiU"]
    assert json.loads(b64url_decode(component)) == {
        "sigTst": {"tstTokens": [{"val": base64.b64encode(token).decode()}]}
    }
    # the unprotected header is outside the signature: the seal still verifies
    anchors = load_certificates(tmp_path / "ca.cert.pem")
    assert verify_seal(sealed, anchors).credential == {"id": "urn:x"}
