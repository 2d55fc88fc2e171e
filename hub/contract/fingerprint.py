"""Avro schema fingerprints and the single-object encoding header (Avro spec 1.12).

A single-object encoded message is ``C3 01`` + the 8-byte little-endian CRC-64-AVRO
fingerprint of the writer schema's Parsing Canonical Form + the Avro binary body.
"""

from __future__ import annotations

import json
from typing import Any, Final

from fastavro.schema import to_parsing_canonical_form

#: the two marker bytes that start every single-object encoded message
MAGIC: Final = b"\xc3\x01"
HEADER_SIZE: Final = 10

_EMPTY: Final = 0xC15D213AA4D7A795


def _table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (_EMPTY & -(fp & 1))
        table.append(fp & 0xFFFFFFFFFFFFFFFF)
    return tuple(table)


_TABLE: Final = _table()


def crc64_avro(data: bytes) -> int:
    """The CRC-64-AVRO (Rabin) fingerprint of ``data`` as an unsigned 64-bit integer."""
    fp = _EMPTY
    for byte in data:
        fp = (fp >> 8) ^ _TABLE[(fp ^ byte) & 0xFF]
    return fp


def canonical_form(schema: dict[str, Any] | str) -> str:
    """The Parsing Canonical Form of a schema (a dict, or its JSON text)."""
    parsed = json.loads(schema) if isinstance(schema, str) else schema
    return str(to_parsing_canonical_form(parsed))


def schema_fingerprint(schema: dict[str, Any] | str) -> bytes:
    """The 8-byte little-endian CRC-64-AVRO fingerprint of a schema's canonical form."""
    return crc64_avro(canonical_form(schema).encode("utf-8")).to_bytes(8, "little")


def single_object_header(schema: dict[str, Any] | str) -> bytes:
    """The 10-byte header of single-object encoded messages written with ``schema``."""
    return MAGIC + schema_fingerprint(schema)
