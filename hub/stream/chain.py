"""The hash chain of the canonical log, and fast partial reads of canonical records.

Algorithm (``docs/audit.md`` has the full description):

- the **hash of a canonical record** is ``SHA-256`` over the exact record value bytes as
  written to ``canon.events.log`` (Avro single-object encoding, ``prevHash`` included),
  as 64 lowercase hex digits; a record framed for a schema registry
  (``MCHUB_WIRE_FORMAT=registry``) is hashed in its single-object form (the 5-byte
  registry header replaced by the single-object header of the same schema), so the
  chain is the same in both wire formats and survives a change of format;
- every record carries in ``envelope.prevHash`` the hash of the previous record **in
  the same partition**; the first chained record of partition *p* carries
  :func:`genesis` (*p*), so a record cannot be moved to another partition unnoticed;
- the decide stage (the single writer) computes each record's partition itself with the
  producer's default partitioner (:func:`partition_for`: murmur2 over the key, modulo
  the topic's partition count) and writes it to that partition explicitly, keeping the
  chain head of every partition in its changelog (same transaction as the record).

Records written before chaining was enabled have ``prevHash`` null and are reported as
unchained; once a partition's chain has started, a record without ``prevHash`` is a
broken link.

:class:`EnvelopeReader` reads only what it needs of a record (the envelope fields before
``prevHash`` with fastavro and a truncated writer schema) and splices ``prevHash`` into
the encoded bytes without re-encoding the record: the result is byte for byte what
``decode_dict`` → set ``prevHash`` → ``encode_dict`` gives, at a fraction of the cost.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from io import BytesIO
from typing import Any, Final

from aiokafka.partitioner import murmur2
from fastavro import parse_schema, schemaless_reader

from hub.contract.fingerprint import HEADER_SIZE, MAGIC
from hub.contract.framing import as_single_object
from hub.contract.store import SchemaStore
from hub.errors import UndecodableInput
from hub.topics import CANONICAL_LOG

#: version label mixed into every genesis value
CHAIN_VERSION: Final = "mchub-chain-v1"
PREV_HASH_FIELD: Final = "prevHash"
#: the last envelope field :meth:`EnvelopeReader.head` reads (issuances, enrolments)
HEAD_LAST: Final = "receivedAt"


def genesis(partition: int) -> str:
    """The ``prevHash`` of the first chained record of ``partition``.

    ``SHA-256("mchub-chain-v1|canon.events.log|<partition>")`` (logical topic name, no
    prefix, so a copy of the log verifies under any name).
    """
    label = f"{CHAIN_VERSION}|{CANONICAL_LOG}|{partition}"
    return hashlib.sha256(label.encode("ascii")).hexdigest()


def record_hash(value: bytes) -> str:
    """The hash of a canonical record: SHA-256 (hex) of its single-object form (the
    exact value bytes unless the record is framed for a schema registry)."""
    return hashlib.sha256(as_single_object(value)).hexdigest()


def partition_for(key: bytes, partitions: int) -> int:
    """The partition aiokafka's default partitioner picks for ``key`` (murmur2, positive)."""
    if partitions < 1:
        raise ValueError("a topic has at least one partition")
    return int(murmur2(key) & 0x7FFFFFFF) % partitions


def _zigzag_varint(value: int) -> bytes:
    """Avro ``long`` encoding (zig-zag, then base-128 varint)."""
    n = (value << 1) ^ (value >> 63)
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """An Avro ``long`` at ``pos``: (value, position after it)."""
    shift = 0
    n = 0
    while True:
        if pos >= len(data):
            raise UndecodableInput("truncated Avro varint")
        byte = data[pos]
        pos += 1
        n |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
        shift += 7
        if shift > 63:
            raise UndecodableInput("Avro varint too long")
    return (n >> 1) ^ -(n & 1), pos


#: the envelope fields :meth:`EnvelopeReader.ids` returns, in this order
ID_FIELDS: Final = ("eventType", "idempotencyKey", "credentialKey", "credentialId", "learnerKey")


@dataclass(frozen=True)
class _Layout:
    """Readers of one writer schema (one fingerprint)."""

    name: str
    prefix: Any  # parsed schema: top-level record, envelope truncated before prevHash
    head: Any  # parsed schema: what replay needs (revocations: envelope + key + reason)
    #: per envelope field up to the last of ID_FIELDS: (nullable, index in ID_FIELDS or -1);
    #: None when a field before them is not a (nullable) string: use ``head`` instead
    plan: tuple[tuple[bool, int], ...] | None


class EnvelopeReader:
    """Partial reads and ``prevHash`` splicing for every released canonical schema."""

    def __init__(self, store: SchemaStore | None = None) -> None:
        """Prepare truncated writer schemas for every fingerprint in the store."""
        self.store = store if store is not None else SchemaStore()
        self._layouts: dict[bytes, _Layout] = {}
        for entry in self.store.entries():
            schema = entry.schema
            fields = schema["fields"]
            if not fields or fields[0]["name"] != "envelope":
                continue
            envelope = fields[0]["type"]
            names = [f["name"] for f in envelope["fields"]]
            if PREV_HASH_FIELD not in names:
                continue
            cut = names.index(PREV_HASH_FIELD)
            prefix_env = copy.deepcopy(envelope)
            prefix_env["fields"] = prefix_env["fields"][:cut]
            prefix = {**copy.deepcopy(schema), "fields": [{"name": "envelope", "type": prefix_env}]}
            # replay's view: timestamps as raw micros (no datetime objects), and only as
            # far as needed: the envelope up to receivedAt; revocations also their reason
            raw_env = copy.deepcopy(envelope)
            for f in raw_env["fields"]:
                if isinstance(f["type"], dict) and "logicalType" in f["type"]:
                    f["type"] = f["type"]["type"]
            if entry.name == "CredentialRevoked":
                wanted = {"envelope", "credentialKey", "reason"}
                head_fields: list[dict[str, Any]] = []
                for f in fields:
                    head_fields.append(
                        {"name": "envelope", "type": raw_env}
                        if f["name"] == "envelope"
                        else copy.deepcopy(f)
                    )
                    wanted.discard(f["name"])
                    if not wanted:
                        break
            else:
                short_env = {**raw_env, "fields": raw_env["fields"][: names.index(HEAD_LAST) + 1]}
                head_fields = [{"name": "envelope", "type": short_env}]
            head = {**copy.deepcopy(schema), "fields": head_fields}
            self._layouts[entry.fingerprint] = _Layout(
                entry.name, parse_schema(prefix), parse_schema(head), _plan(envelope["fields"])
            )

    def _layout(self, data: bytes) -> _Layout:
        if len(data) < HEADER_SIZE or data[:2] != MAGIC:
            raise UndecodableInput("not an Avro single-object encoded message (bad header)")
        layout = self._layouts.get(bytes(data[2:HEADER_SIZE]))
        if layout is None:
            raise UndecodableInput(f"unknown schema fingerprint {bytes(data[2:HEADER_SIZE]).hex()}")
        return layout

    def _prefix(self, data: bytes) -> tuple[_Layout, dict[str, Any], int]:
        """(layout, envelope fields before prevHash, byte offset of the prevHash union)."""
        layout = self._layout(data)
        buffer = BytesIO(data)
        buffer.seek(HEADER_SIZE)
        try:
            record = schemaless_reader(buffer, layout.prefix, None)
        except Exception as exc:  # fastavro raises many exception types on corrupt input
            raise UndecodableInput(f"corrupt {layout.name} envelope: {exc}") from exc
        if not isinstance(record, dict):
            raise UndecodableInput(f"{layout.name} body is not a record")
        return layout, record["envelope"], buffer.tell()

    def record_name(self, data: bytes) -> str:
        """The record name (e.g. ``CredentialIssued``) of a single-object record's schema."""
        return self._layout(data).name

    def envelope(self, data: bytes) -> tuple[str, dict[str, Any]]:
        """(record name, envelope fields before ``prevHash``) of a canonical record."""
        data = as_single_object(data)
        layout, envelope, _ = self._prefix(data)
        return layout.name, envelope

    def head(self, data: bytes) -> tuple[str, dict[str, Any]]:
        """(record name, the fields replay needs) — for revocations also ``reason``.

        The dict is the top-level record truncated: ``envelope`` (the fields up to
        ``receivedAt``, which is raw epoch microseconds here) and, for
        ``CredentialRevoked``, the whole envelope, ``credentialKey`` and ``reason``.
        """
        data = as_single_object(data)
        layout = self._layout(data)
        buffer = BytesIO(data)
        buffer.seek(HEADER_SIZE)
        try:
            record = schemaless_reader(buffer, layout.head, None)
        except Exception as exc:
            raise UndecodableInput(f"corrupt {layout.name} record: {exc}") from exc
        if not isinstance(record, dict):
            raise UndecodableInput(f"{layout.name} body is not a record")
        return layout.name, record

    def ids(self, data: bytes) -> tuple[str, list[bytes | None]]:
        """(record name, the :data:`ID_FIELDS` as raw UTF-8 bytes or ``None``) — the
        replay hot path: a hand-rolled read of the leading envelope strings."""
        data = as_single_object(data)
        layout = self._layout(data)
        plan = layout.plan
        if plan is None:
            _, head = self.head(data)
            env = head["envelope"]
            return layout.name, [
                None if env[f] is None else str(env[f]).encode() for f in ID_FIELDS
            ]
        out: list[bytes | None] = [None] * len(ID_FIELDS)
        pos = HEADER_SIZE
        try:
            for nullable, slot in plan:
                if nullable:
                    branch = data[pos]
                    pos += 1
                    if branch == 0:
                        continue
                n = data[pos]
                if n < 0x80:
                    pos += 1
                    length = n >> 1
                else:
                    length, pos = _read_varint(data, pos)
                if slot >= 0:
                    out[slot] = data[pos : pos + length]
                pos += length
        except IndexError as exc:
            raise UndecodableInput(f"truncated {layout.name} envelope") from exc
        return layout.name, out

    def prev_hash(self, data: bytes) -> str | None:
        """The record's ``envelope.prevHash`` (``None`` when null)."""
        data = as_single_object(data)
        _, _, offset = self._prefix(data)
        value, _, _ = self._prev_hash_at(data, offset)
        return value

    def prev_hash_offset(self, data: bytes) -> int:
        """Where the record's ``envelope.prevHash`` union starts (for :meth:`with_prev_hash`)."""
        data = as_single_object(data)
        _, _, offset = self._prefix(data)
        return offset

    def with_prev_hash(self, data: bytes, prev_hash: str, *, at: int | None = None) -> bytes:
        """The record with ``envelope.prevHash`` set to ``prev_hash`` (other bytes kept).

        ``at``: the union's offset when already known (:meth:`prev_hash_offset`, computed
        by the ingest stage), which spares reading the envelope here.
        """
        offset = self.prev_hash_offset(data) if at is None else at
        _, start, end = self._prev_hash_at(data, offset)
        text = prev_hash.encode("utf-8")
        encoded = b"\x02" + _zigzag_varint(len(text)) + text
        return bytes(data[:start]) + encoded + bytes(data[end:])

    @staticmethod
    def _prev_hash_at(data: bytes, offset: int) -> tuple[str | None, int, int]:
        """(value, start, end) of the ``["null","string"]`` union at ``offset``."""
        branch, pos = _read_varint(data, offset)
        if branch == 0:
            return None, offset, pos
        if branch != 1:
            raise UndecodableInput(f"bad prevHash union branch {branch}")
        length, pos = _read_varint(data, pos)
        if length < 0 or pos + length > len(data):
            raise UndecodableInput("truncated prevHash")
        try:
            text = bytes(data[pos : pos + length]).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UndecodableInput("prevHash is not UTF-8") from exc
        return text, offset, pos + length


def _plan(fields: list[dict[str, Any]]) -> tuple[tuple[bool, int], ...] | None:
    """How to walk the envelope up to the last of :data:`ID_FIELDS` with strings only."""
    names = [f["name"] for f in fields]
    if not all(name in names for name in ID_FIELDS):
        return None
    last = max(names.index(name) for name in ID_FIELDS)
    plan: list[tuple[bool, int]] = []
    for f in fields[: last + 1]:
        kind = f["type"]
        if kind == "string":
            nullable = False
        elif kind == ["null", "string"]:
            nullable = True
        else:
            return None
        slot = ID_FIELDS.index(f["name"]) if f["name"] in ID_FIELDS else -1
        plan.append((nullable, slot))
    return tuple(plan)


@dataclass
class ChainHead:
    """The chain state of one partition: how many chained records, and the last hash."""

    partition: int
    seq: int = 0
    head: str | None = None

    def link(self) -> str:
        """The ``prevHash`` the next record of this partition must carry."""
        return self.head if self.head is not None else genesis(self.partition)

    def advance(self, value: bytes) -> str:
        """Account for the next record (its exact bytes); returns its hash."""
        digest = record_hash(value)
        self.seq += 1
        self.head = digest
        return digest

    def to_json(self) -> dict[str, Any]:
        """JSON form, as a checkpoint's ``heads`` carry it."""
        return {"partition": self.partition, "seq": self.seq, "head": self.head}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChainHead:
        """Inverse of :meth:`to_json`."""
        return cls(int(data["partition"]), int(data["seq"]), data.get("head"))


#: the decide changelog key of the chain state: the newest signed checkpoint (its JWS)
CHAIN_HEAD_KEY: Final = "chain|head"
