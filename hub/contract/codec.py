"""The canonical codec: Avro single-object encoding behind a small port.

Wire format of every canonical Kafka record value (Avro spec, "Single-object encoding")::

    C3 01 | CRC-64-AVRO fingerprint of the writer schema's canonical form (8 bytes, LE) | body

so any Avro library holding the published schemas (``hub/contract/schemas/eu.mchub.canonical/``) can
decode our topics. With ``MCHUB_WIRE_FORMAT=registry`` the same body is framed for a
schema registry instead (:mod:`hub.contract.framing`); the codec decodes both.
Decoding looks the fingerprint up in the :class:`SchemaStore` (every
released version), reads with that writer schema and resolves to the current reader
schema of the same record. Bad headers, unknown fingerprints and broken bodies raise
:class:`hub.errors.UndecodableInput`.

Hot path: schemas are parsed once; ``encode_dict``/``decode_dict`` work on the Avro dict
form and call fastavro's schemaless writer/reader directly; ``encode``/``decode`` add the
pydantic conversion.
"""

from __future__ import annotations

from io import BytesIO
from typing import Any, Protocol

from fastavro import schemaless_reader, schemaless_writer
from pydantic import ValidationError

from hub.contract.fingerprint import HEADER_SIZE, MAGIC
from hub.contract.framing import as_single_object
from hub.contract.models import EVENT_CLASSES, CanonicalEvent
from hub.contract.store import SchemaStore
from hub.errors import UndecodableInput


class Codec(Protocol):
    """Port: canonical events to bytes and back."""

    def encode(self, event: CanonicalEvent) -> bytes:
        """Serialise one event."""
        ...

    def decode(self, data: bytes) -> CanonicalEvent:
        """Deserialise one event; raise :class:`~hub.errors.UndecodableInput` if impossible."""
        ...


class AvroCodec:
    """Avro single-object encoding with fastavro and pre-parsed, fingerprinted schemas."""

    def __init__(self, store: SchemaStore | None = None) -> None:
        """Prepare writers (current version) and readers (every released version)."""
        self.store = store if store is not None else SchemaStore()
        current = self.store.current_version
        #: record name -> (header, parsed writer schema) of the current version
        self._writers: dict[str, tuple[bytes, dict[str, Any]]] = {}
        for name in self.store.names(current):
            entry = self.store.get(name, current)
            self._writers[name] = (MAGIC + entry.fingerprint, entry.parsed)
        #: fingerprint -> (record name, parsed writer schema, parsed reader schema or None)
        self._readers: dict[bytes, tuple[str, dict[str, Any], dict[str, Any] | None]] = {}
        for entry in self.store.entries():
            if entry.fingerprint in self._readers:
                continue
            if entry.name not in self._writers:
                continue  # a record dropped from the current version cannot be resolved
            reader = self._writers[entry.name][1]
            self._readers[entry.fingerprint] = (
                entry.name, entry.parsed, None if entry.version == current else reader)

    def writer_schema(self, name: str) -> dict[str, Any]:
        """The parsed current writer schema of record ``name`` (as fastavro takes it)."""
        return self._writers[name][1]

    # ----------------------------------------------------------------- dict level (hot path)

    def encode_dict(self, name: str, record: dict[str, Any]) -> bytes:
        """Encode the Avro dict form of record ``name`` (e.g. ``"CredentialIssued"``).

        Raises ``KeyError`` for an unknown record name and ``ValueError``/``TypeError``
        (from fastavro) when ``record`` does not fit the schema.
        """
        header, parsed = self._writers[name]
        buffer = BytesIO()
        buffer.write(header)
        schemaless_writer(buffer, parsed, record)
        return buffer.getvalue()

    def decode_dict(self, data: bytes) -> tuple[str, dict[str, Any]]:
        """Decode bytes to ``(record name, Avro dict form in the current schema)``.

        Either framing (:mod:`hub.contract.framing`): a registry-framed record is read
        through its single-object form."""
        data = as_single_object(data)
        if len(data) < HEADER_SIZE or data[:2] != MAGIC:
            raise UndecodableInput("not an Avro single-object encoded message (bad header)")
        reader = self._readers.get(bytes(data[2:HEADER_SIZE]))
        if reader is None:
            raise UndecodableInput(
                f"unknown schema fingerprint {bytes(data[2:HEADER_SIZE]).hex()}")
        name, writer_schema, reader_schema = reader
        buffer = BytesIO(data)
        buffer.seek(HEADER_SIZE)
        try:
            record = schemaless_reader(buffer, writer_schema, reader_schema)
        except Exception as exc:  # fastavro raises many exception types on corrupt input
            raise UndecodableInput(f"corrupt {name} body: {type(exc).__name__}: {exc}") from exc
        if buffer.tell() != len(data):
            raise UndecodableInput(f"{len(data) - buffer.tell()} trailing bytes after {name}")
        if not isinstance(record, dict):
            raise UndecodableInput(f"{name} body is not a record")
        return name, record

    # ----------------------------------------------------------------------- model level

    def encode(self, event: CanonicalEvent) -> bytes:
        """Encode a canonical event model."""
        return self.encode_dict(event.avro_name, event.model_dump())

    def decode(self, data: bytes) -> CanonicalEvent:
        """Decode bytes into the canonical event model of the current version."""
        name, record = self.decode_dict(data)
        try:
            return EVENT_CLASSES[name].model_validate(record)
        except ValidationError as exc:
            raise UndecodableInput(f"{name} does not fit the canonical model: "
                                   f"{exc.error_count()} error(s), first: "
                                   f"{exc.errors()[0]['msg']}") from exc
