"""Wire framings of canonical Avro records: single-object and schema-registry (pure).

One Avro binary body, two ways to say which schema wrote it (``MCHUB_WIRE_FORMAT``):

``single-object`` (Avro specification, "Single-object encoding")::

    C3 01 | CRC-64-AVRO fingerprint of the writer schema (8 bytes, little-endian) | body

``registry`` (the framing of Confluent-compatible serdes, Kafka Connect converters,
ksqlDB and Flink)::

    00 | schema id in the registry (4 bytes, big-endian) | body

The body is the same bytes in both, so changing the framing is a header swap. The hub
computes everything that must not depend on the framing on the **single-object form**:
the hash chain (``hub.stream.chain``) hashes it, the decoders read it. A registry-framed
record is turned into its single-object form with the id's fingerprint, which the
:class:`SchemaIds` table knows (filled when the hub registers its schemas, or by a
lookup in the registry for an id it has not seen: :meth:`SchemaIds.install_lookup`).

Record headers say what a value is (:func:`value_headers`): ``mchub-value-format``
(``avro-single-object`` or ``avro-registry``), ``mchub-schema`` (the record's full
name), ``mchub-schema-fingerprint`` (16 hex digits) and, framed for a registry,
``mchub-schema-id``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Final, Literal

from hub.contract.fingerprint import HEADER_SIZE, MAGIC
from hub.errors import UndecodableInput

WireFormat = Literal["single-object", "registry"]

#: the first byte of a registry-framed value (Confluent wire format, "magic byte")
REGISTRY_MAGIC: Final = b"\x00"
#: magic byte + 4-byte schema id
REGISTRY_HEADER_SIZE: Final = 5
#: value of the ``mchub-value-format`` header per wire format
FORMAT_HEADER: Final[dict[str, bytes]] = {
    "single-object": b"avro-single-object",
    "registry": b"avro-registry",
}

#: a lookup of an unknown schema id: the writer schema's fingerprint, or None if the id is
#: not one of the hub's schemas (``hub.stream.schema_registry.RegistryLookup``)
IdLookup = Callable[[int], bytes | None]


class SchemaIds:
    """Registry schema ids of the hub's schemas, both ways (fingerprint <-> id).

    Thread-safe; ids are learnt (:meth:`learn`) when the hub registers its schemas, or
    looked up on first sight through the installed lookup.
    """

    def __init__(self) -> None:
        self._by_id: dict[int, bytes] = {}
        self._by_fingerprint: dict[bytes, int] = {}
        self._lookup: IdLookup | None = None
        self._lock = threading.Lock()

    def learn(self, schema_id: int, fingerprint: bytes) -> None:
        """Record that the registry holds the schema of ``fingerprint`` as ``schema_id``."""
        with self._lock:
            self._by_id[schema_id] = fingerprint
            self._by_fingerprint[fingerprint] = schema_id

    def install_lookup(self, lookup: IdLookup | None) -> None:
        """Ask ``lookup`` for ids not learnt yet (None: unknown ids stay undecodable)."""
        self._lookup = lookup

    def id_of(self, fingerprint: bytes) -> int | None:
        """The registry id of the schema with ``fingerprint``, if registered."""
        return self._by_fingerprint.get(fingerprint)

    def fingerprint_of(self, schema_id: int) -> bytes:
        """The fingerprint of registry id ``schema_id``; UndecodableInput if unknown."""
        found = self._by_id.get(schema_id)
        if found is None and self._lookup is not None:
            found = self._lookup(schema_id)
            if found is not None:
                self.learn(schema_id, found)
        if found is None:
            hint = ("" if self._lookup is not None else
                    "; set MCHUB_SCHEMA_REGISTRY_URL to the registry the log was written with")
            raise UndecodableInput(f"schema id {schema_id} is not one of the hub's schemas{hint}")
        return found

    def clear(self) -> None:
        """Forget every id and the lookup (tests; a new registry)."""
        with self._lock:
            self._by_id.clear()
            self._by_fingerprint.clear()
        self._lookup = None


#: the process's table: one registry per deployment, shared by every codec and reader
SCHEMA_IDS: Final = SchemaIds()


def is_registry_framed(value: bytes | bytearray | memoryview) -> bool:
    """Whether ``value`` starts like a registry-framed record."""
    return len(value) >= REGISTRY_HEADER_SIZE and value[0] == 0


def _swapped(value: bytes | bytearray | memoryview, ids: SchemaIds) -> bytes:
    """A registry-framed ``value`` with the single-object header of its schema id."""
    schema_id = int.from_bytes(value[1:REGISTRY_HEADER_SIZE], "big")
    return MAGIC + ids.fingerprint_of(schema_id) + bytes(value[REGISTRY_HEADER_SIZE:])


def as_single_object(value: bytes, ids: SchemaIds = SCHEMA_IDS) -> bytes:
    """``value`` in single-object framing when it is registry-framed, else ``value`` as it
    is (the caller checks its header) — what the decoders read and the chain hashes."""
    return _swapped(value, ids) if is_registry_framed(value) else value


def single_object_form(
    value: bytes | bytearray | memoryview, ids: SchemaIds = SCHEMA_IDS
) -> bytes:
    """``value`` in single-object framing (unchanged when it already is).

    Raises :class:`~hub.errors.UndecodableInput` for any other first bytes or an unknown
    schema id.
    """
    if len(value) >= HEADER_SIZE and value[:2] == MAGIC:
        return bytes(value)
    if is_registry_framed(value):
        return _swapped(value, ids)
    raise UndecodableInput("not an Avro record in single-object or registry framing")


def registry_form(value: bytes, ids: SchemaIds = SCHEMA_IDS) -> bytes:
    """A single-object ``value`` framed for the registry (its schema must be registered)."""
    if len(value) < HEADER_SIZE or value[:2] != MAGIC:
        raise ValueError("not a single-object encoded record")
    fingerprint = bytes(value[2:HEADER_SIZE])
    schema_id = ids.id_of(fingerprint)
    if schema_id is None:
        raise LookupError(
            f"schema {fingerprint.hex()} is not registered: the hub registers its schemas "
            "when `mchub run` starts (MCHUB_SCHEMA_REGISTRY_URL)")
    return REGISTRY_MAGIC + schema_id.to_bytes(4, "big") + value[HEADER_SIZE:]


def frame(value: bytes, wire_format: WireFormat, ids: SchemaIds = SCHEMA_IDS) -> bytes:
    """A single-object ``value`` in ``wire_format``."""
    return value if wire_format == "single-object" else registry_form(value, ids)


def value_headers(
    value: bytes, full_name: str, wire_format: WireFormat, ids: SchemaIds = SCHEMA_IDS
) -> list[tuple[str, bytes]]:
    """The headers that say what a single-object ``value`` is once framed in
    ``wire_format`` (see the module doc)."""
    fingerprint = bytes(value[2:HEADER_SIZE])
    headers = [
        ("mchub-value-format", FORMAT_HEADER[wire_format]),
        ("mchub-schema", full_name.encode()),
        ("mchub-schema-fingerprint", fingerprint.hex().encode()),
    ]
    if wire_format == "registry":
        headers.append(("mchub-schema-id", str(ids.id_of(fingerprint)).encode()))
    return headers
