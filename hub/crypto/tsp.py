"""RFC 3161 time-stamp requests and responses, just enough for a JAdES-BASELINE-T seal.

:func:`timestamp_request` builds a ``TimeStampReq`` (SHA-256 message imprint, nonce,
``certReq``) as DER; :func:`timestamp_token` takes the TSA's ``TimeStampResp``, checks its
status, and that the token's ``TSTInfo`` carries the imprint and nonce asked for, and
returns the token (the CMS ``ContentInfo``) with its ``genTime``. The TSA's signature on
the token is checked by the verifier (EU DSS in the tests), not here. Pure functions
over bytes; :func:`http_timestamper` is the one doing I/O (an HTTP POST of
``application/timestamp-query``).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from hub.errors import TimestampError

#: DER of the SHA-256 AlgorithmIdentifier (OID 2.16.840.1.101.3.4.2.1, NULL parameters)
_SHA256_ALG: Final = bytes.fromhex("300d06096086480165030402010500")
#: OIDs (DER content octets): CMS signedData, id-ct-TSTInfo
_SIGNED_DATA: Final = bytes.fromhex("2a864886f70d010702")
_TST_INFO: Final = bytes.fromhex("2a864886f70d0109100104")
QUERY_MEDIA_TYPE: Final = "application/timestamp-query"
REPLY_MEDIA_TYPE: Final = "application/timestamp-reply"




@dataclass(frozen=True)
class Timestamp:
    """A time-stamp token (DER ``ContentInfo``) and the time it attests."""

    token: bytes
    gen_time: datetime


def _tlv(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        length = bytes([size])
    else:
        raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + content


def _integer(value: int) -> bytes:
    raw = value.to_bytes(value.bit_length() // 8 + 1, "big")  # leading 0: stays positive
    return _tlv(0x02, raw)


def _read(data: bytes, offset: int = 0) -> tuple[int, bytes, int]:
    """One DER element at ``offset``: (tag, content, offset after it)."""
    try:
        tag = data[offset]
        first = data[offset + 1]
        pos = offset + 2
        if first < 0x80:
            size = first
        else:
            count = first & 0x7F
            if count == 0 or count > 4:
                raise TimestampError("unsupported DER length")
            size = int.from_bytes(data[pos : pos + count], "big")
            pos += count
    except IndexError:
        raise TimestampError("truncated DER") from None
    end = pos + size
    if end > len(data):
        raise TimestampError("truncated DER")
    return tag, data[pos:end], end


def _children(content: bytes) -> list[tuple[int, bytes]]:
    items, pos = [], 0
    while pos < len(content):
        tag, value, pos = _read(content, pos)
        items.append((tag, value))
    return items


def timestamp_request(digest: bytes, nonce: int) -> bytes:
    """A DER ``TimeStampReq`` for a SHA-256 ``digest`` (v1, nonce, certReq true)."""
    if len(digest) != 32:
        raise ValueError("a SHA-256 digest has 32 bytes")
    imprint = _tlv(0x30, _SHA256_ALG + _tlv(0x04, digest))
    return _tlv(0x30, _integer(1) + imprint + _integer(nonce) + _tlv(0x01, b"\xff"))


def timestamp_token(response: bytes, digest: bytes, nonce: int) -> Timestamp:
    """The token of a DER ``TimeStampResp`` answering :func:`timestamp_request`."""
    tag, body, _ = _read(response)
    parts = _children(body) if tag == 0x30 else []
    if not parts or parts[0][0] != 0x30:
        raise TimestampError("not a TimeStampResp")
    status_tag, status = _children(parts[0][1])[0]
    code = int.from_bytes(status, "big") if status_tag == 0x02 else -1
    if code not in (0, 1):  # granted, grantedWithMods
        raise TimestampError(f"the TSA refused the request (PKIStatus {code})")
    if len(parts) < 2:
        raise TimestampError("the TSA granted but sent no token")
    token = _tlv(parts[1][0], parts[1][1])
    info = _tst_info(parts[1][1])
    fields = _children(info)
    # TSTInfo: version, policy, messageImprint, serialNumber, genTime, [accuracy],
    # [ordering], [nonce], ...
    imprint = _children(fields[2][1])
    if imprint[0][1] != _SHA256_ALG[2:] or imprint[1][1] != digest:
        raise TimestampError("the token time-stamps another message imprint")
    nonces = [v for t, v in fields[5:] if t == 0x02]
    if not nonces or int.from_bytes(nonces[0], "big") != nonce:
        raise TimestampError("the token does not carry the request's nonce")
    if fields[4][0] != 0x18:
        raise TimestampError("TSTInfo has no genTime")
    return Timestamp(token, _generalized_time(fields[4][1].decode("ascii")))


def _tst_info(content_info: bytes) -> bytes:
    """The DER ``TSTInfo`` inside a token's ``ContentInfo``/``SignedData``."""
    items = _children(content_info)
    if len(items) != 2 or items[0] != (0x06, _SIGNED_DATA) or items[1][0] != 0xA0:
        raise TimestampError("the token is not CMS SignedData")
    _, signed_data, _ = _read(items[1][1])
    encap = _children(signed_data)[2][1]  # version, digestAlgorithms, encapContentInfo
    e_type, e_content = _children(encap)
    if e_type != (0x06, _TST_INFO) or e_content[0] != 0xA0:
        raise TimestampError("the token does not encapsulate a TSTInfo")
    _, octets, _ = _read(e_content[1])
    _, info, _ = _read(octets)
    return info


def _generalized_time(text: str) -> datetime:
    main = text.rstrip("Z").split(".")[0]
    return datetime.strptime(main, "%Y%m%d%H%M%S").replace(tzinfo=UTC)


def new_nonce() -> int:
    """A random 64-bit nonce."""
    return secrets.randbits(63) + 1


def http_timestamper(url: str, *, timeout: float = 10.0) -> Callable[[bytes], Timestamp]:
    """A time-stamper for :func:`hub.crypto.jades.seal`: POSTs the request for a
    message (its SHA-256 imprint) to the TSA at ``url`` and returns the checked token."""
    import httpx

    def stamp(message: bytes) -> Timestamp:
        digest = hashlib.sha256(message).digest()
        nonce = new_nonce()
        try:
            answer = httpx.post(
                url,
                content=timestamp_request(digest, nonce),
                headers={"Content-Type": QUERY_MEDIA_TYPE},
                timeout=timeout,
            )
        except httpx.HTTPError as exc:
            raise TimestampError(f"the TSA {url} cannot be reached: {exc}") from exc
        if answer.status_code != 200:
            raise TimestampError(f"the TSA {url} answered HTTP {answer.status_code}")
        return timestamp_token(answer.content, digest, nonce)

    return stamp
