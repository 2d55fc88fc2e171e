"""Helpers for the audit unit tests: chained copies of a canonical log, in memory."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from hub.audit.synthetic import Templates, issuance, revocation, templates
from hub.contract.codec import AvroCodec
from hub.crypto.devca import dev_signer
from hub.crypto.keys import Signer
from hub.stream.chain import ChainHead, EnvelopeReader, partition_for
from hub.stream.checkpoints import Checkpoint, sign_checkpoint
from tests.support import shared_dir

Log = dict[int, list[bytes]]
RECEIVED = datetime(2025, 6, 1, 10, 0, tzinfo=UTC)


@cache
def sample_templates() -> Templates:
    """Templates built once from the shared samples."""
    return templates(shared_dir() / "feeds" / "samples", received_at=RECEIVED)


def canonical_values(count: int) -> list[tuple[bytes, bytes]]:
    """``count`` (key, unchained value) pairs: issuances, every 4th a revocation."""
    codec = AvroCodec()
    out: list[tuple[bytes, bytes]] = []
    t = sample_templates()
    for i in range(count):
        name, record = revocation(t, i - 1, RECEIVED) if i % 4 == 3 else issuance(t, i, RECEIVED)
        key = record["envelope"]["credentialId"].encode()
        out.append((key, codec.encode_dict(name, record)))
    return out


def chain(
    values: list[tuple[bytes, bytes]], partitions: int = 3
) -> tuple[Log, dict[int, ChainHead]]:
    """Chain records exactly as the decide stage does; returns the log and the heads."""
    reader = EnvelopeReader()
    heads = {p: ChainHead(p) for p in range(partitions)}
    log: Log = {p: [] for p in range(partitions)}
    for key, value in values:
        p = partition_for(key, partitions)
        chained = reader.with_prev_hash(value, heads[p].link())
        heads[p].advance(chained)
        log[p].append(chained)
    return log, heads


def signer(directory: Path) -> Signer:
    """The dev seal in ``directory`` (its CA is ``directory/ca.cert.pem``)."""
    return dev_signer(directory)


def checkpoint(heads: dict[int, ChainHead], n: int, who: Signer) -> bytes:
    """A signed checkpoint of ``heads``."""
    snapshot = tuple(ChainHead(h.partition, h.seq, h.head) for h in heads.values())
    return sign_checkpoint(Checkpoint(n, datetime.now(UTC), snapshot), who)
