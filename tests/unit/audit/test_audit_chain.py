"""The hash chain: prevHash splicing, partitioning, and tampering detected by the verifier."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiokafka.partitioner import DefaultPartitioner

from hub.audit.verify import ChainVerifier, VerifyReport
from hub.contract.codec import AvroCodec
from hub.crypto.keys import load_certificates
from hub.stream.chain import EnvelopeReader, genesis, partition_for, record_hash
from tests.unit.audit.audit_support import Log, canonical_values, chain, checkpoint, signer


def verify(
    log: Log,
    checkpoints: list[bytes] = (),  # type: ignore[assignment]
    anchors: list[object] = (),  # type: ignore[assignment]
    *,
    anchor: bytes | None = None,
    late: list[bytes] = (),  # type: ignore[assignment]
) -> VerifyReport:
    verifier = ChainVerifier(sorted(log))
    verifier.add_checkpoints(enumerate(checkpoints), anchors)
    if anchor is not None:
        verifier.add_anchor(anchor, anchors)
    for p, values in sorted(log.items()):
        for offset, value in enumerate(values):
            verifier.add(p, offset * 2, value)  # transaction markers take every other offset
    verifier.add_late_checkpoints(enumerate(late, start=len(checkpoints)), anchors)
    return verifier.finish()


def test_splicing_prev_hash_equals_decode_set_encode() -> None:
    codec = AvroCodec()
    reader = EnvelopeReader()
    for _, value in canonical_values(8):
        name, record = codec.decode_dict(value)
        assert record["envelope"]["prevHash"] is None and reader.prev_hash(value) is None
        record["envelope"]["prevHash"] = genesis(2)
        spliced = reader.with_prev_hash(value, genesis(2))
        assert spliced == codec.encode_dict(name, record)
        assert reader.prev_hash(spliced) == genesis(2)
        # replacing an existing prevHash keeps every other byte
        assert reader.with_prev_hash(reader.with_prev_hash(value, "x" * 10), genesis(2)) == spliced
        # the offset the ingest stage finds gives the same splice without reading again
        at = reader.prev_hash_offset(value)
        assert reader.with_prev_hash(value, genesis(2), at=at) == spliced


def test_partition_is_the_producers_default_partitioner() -> None:
    for key, _ in canonical_values(20):
        for count in (1, 3, 6, 7):
            assert partition_for(key, count) == DefaultPartitioner()(key, list(range(count)), [])


def test_genesis_differs_per_partition_and_hash_is_sha256_of_bytes() -> None:
    assert genesis(0) != genesis(1) and len(genesis(0)) == 64
    assert record_hash(b"abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


@pytest.fixture
def signed(tmp_path: Path) -> tuple[Log, list[bytes], list[object]]:
    """A chained log of 40 records over 3 partitions with two signed checkpoints."""
    who = signer(tmp_path / "keys")
    values = canonical_values(40)
    _, heads = chain(values[:30])
    first = checkpoint(heads, 1, who)
    log2, heads = chain(values)
    second = checkpoint(heads, 2, who)
    anchors: list[object] = list(load_certificates(tmp_path / "keys" / "ca.cert.pem"))
    return log2, [first, second], anchors


def test_an_intact_log_verifies(signed: tuple[Log, list[bytes], list[object]]) -> None:
    log, checkpoints, anchors = signed
    report = verify(log, checkpoints, anchors)
    assert report.ok, [f.line() for f in report.findings]
    assert report.checkpoints_valid == 2
    assert sum(p.checkpoints_matched for p in report.partitions) == 6
    assert sum(p.seq for p in report.partitions) == 40


def test_a_forged_record_is_detected(signed: tuple[Log, list[bytes], list[object]]) -> None:
    log, checkpoints, anchors = signed
    p = max(log, key=lambda k: len(log[k]))
    victim = bytearray(log[p][2])
    index = victim.find(b"he:FI00000:SYN-")
    victim[index + 15] = ord("9") if victim[index + 15] != ord("9") else ord("8")
    log[p][2] = bytes(victim)
    report = verify(log, checkpoints, anchors)
    assert not report.ok
    first = report.findings[0]
    assert (first.kind, first.partition, first.offset) == ("broken-link", p, 6)
    assert first.expected == record_hash(bytes(victim)) and first.found != first.expected


def test_forging_the_last_record_is_caught_by_the_checkpoint(
    signed: tuple[Log, list[bytes], list[object]],
) -> None:
    log, checkpoints, anchors = signed
    p = 0
    reader = EnvelopeReader()
    log[p][-1] = reader.with_prev_hash(log[p][-1], reader.prev_hash(log[p][-1]) or "") + b""
    tampered = bytearray(log[p][-1])
    tampered[-3] ^= 0x01
    log[p][-1] = bytes(tampered)
    report = verify(log, checkpoints, anchors)
    kinds = {f.kind for f in report.findings}
    assert kinds & {"checkpoint-mismatch", "undecodable"}, report.findings


def test_a_dropped_record_is_detected(signed: tuple[Log, list[bytes], list[object]]) -> None:
    log, checkpoints, anchors = signed
    p = max(log, key=lambda k: len(log[k]))
    del log[p][3]
    report = verify(log, checkpoints, anchors)
    first = next(f for f in report.findings if f.partition == p)
    assert (first.kind, first.offset, first.seq) == ("broken-link", 6, 4)


def test_a_dropped_tail_is_caught_by_the_checkpoint(
    signed: tuple[Log, list[bytes], list[object]],
) -> None:
    log, checkpoints, anchors = signed
    log[1].pop()
    report = verify(log, checkpoints, anchors)
    assert [f.kind for f in report.findings] == ["checkpoint-beyond-end"]
    assert report.findings[0].partition == 1


def test_reordered_records_are_detected(signed: tuple[Log, list[bytes], list[object]]) -> None:
    log, checkpoints, anchors = signed
    p = max(log, key=lambda k: len(log[k]))
    log[p][4], log[p][5] = log[p][5], log[p][4]
    report = verify(log, checkpoints, anchors)
    first = next(f for f in report.findings if f.partition == p)
    assert (first.kind, first.offset) == ("reordered", 8)


def test_a_record_moved_to_another_partition_is_detected(
    signed: tuple[Log, list[bytes], list[object]],
) -> None:
    log, checkpoints, anchors = signed
    log[1].append(log[0].pop())
    report = verify(log, checkpoints, anchors)
    assert {f.partition for f in report.findings} == {0, 1}


def test_a_forged_or_foreign_checkpoint_is_detected(
    tmp_path: Path, signed: tuple[Log, list[bytes], list[object]]
) -> None:
    log, checkpoints, anchors = signed
    head, body, sig = checkpoints[1].split(b".")
    forged = head + b"." + body[:-4] + b"AAAA" + b"." + sig
    foreign = checkpoint({}, 3, signer(tmp_path / "forger"))
    report = verify(log, [checkpoints[0], forged, foreign], anchors)
    invalid = [f for f in report.findings if f.kind == "checkpoint-invalid"]
    assert len(invalid) == 2 and "untrusted-chain" in invalid[-1].message
    # the records only the forged checkpoint claimed to cover are covered by none
    assert "uncovered" in {f.kind for f in report.findings}


def _append_forged(log: Log, p: int) -> bytes:
    """A record written by another producer, linked correctly to the partition's head."""
    reader = EnvelopeReader()
    _, value = canonical_values(41)[-1]
    forged = reader.with_prev_hash(value, record_hash(log[p][-1]))
    log[p].append(forged)
    return forged


def test_an_append_with_a_correct_prev_hash_is_uncovered(
    signed: tuple[Log, list[bytes], list[object]],
) -> None:
    log, checkpoints, anchors = signed
    _append_forged(log, 1)
    report = verify(log, checkpoints, anchors)
    assert [(f.kind, f.partition, f.seq) for f in report.findings] == [
        ("uncovered", 1, len(log[1]))
    ]
    assert report.findings[0].offset == 2 * (len(log[1]) - 1)


def test_checkpoints_committed_during_the_read_cover_what_was_read(
    signed: tuple[Log, list[bytes], list[object]],
) -> None:
    log, checkpoints, anchors = signed
    # the second checkpoint arrives after the log was read: no finding
    report = verify(log, checkpoints[:1], anchors, late=checkpoints[1:])
    assert report.ok, [f.line() for f in report.findings]
    assert all(p.covered == p.seq for p in report.partitions)
    # without it the last ten records are uncovered
    report = verify(log, checkpoints[:1], anchors)
    assert {f.kind for f in report.findings} == {"uncovered"}


def test_dropping_the_newest_checkpoint_leaves_records_uncovered(
    signed: tuple[Log, list[bytes], list[object]],
) -> None:
    log, checkpoints, anchors = signed
    report = verify(log, checkpoints[:1], anchors)
    assert report.findings and {f.kind for f in report.findings} == {"uncovered"}


def test_a_tail_cut_with_its_checkpoint_is_caught_only_by_the_anchor(
    signed: tuple[Log, list[bytes], list[object]],
) -> None:
    log, checkpoints, anchors = signed
    cut, _ = chain(canonical_values(30))  # the log as it was at the first checkpoint
    assert verify(cut, checkpoints[:1], anchors).ok  # shorter, and consistent
    report = verify(cut, checkpoints[:1], anchors, anchor=checkpoints[1])
    kinds = [f.kind for f in report.findings]
    assert "anchor-beyond-end" in kinds and "checkpoint-beyond-end" in kinds
    assert verify(log, checkpoints, anchors, anchor=checkpoints[1]).ok
    assert verify(log, checkpoints, anchors, anchor=checkpoints[0]).ok  # an older anchor


def test_a_forged_anchor_is_refused(
    tmp_path: Path, signed: tuple[Log, list[bytes], list[object]]
) -> None:
    log, checkpoints, anchors = signed
    _, heads = chain(canonical_values(40))
    foreign = checkpoint(heads, 9, signer(tmp_path / "forger"))
    report = verify(log, checkpoints, anchors, anchor=foreign)
    assert [f.kind for f in report.findings] == ["anchor-invalid"]
