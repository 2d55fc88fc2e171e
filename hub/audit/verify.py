"""``mchub audit verify``: recompute the hash chains and check the signed checkpoints.

:class:`ChainVerifier` is pure: feed it the checkpoint records, then every record of
each partition in offset order, then :meth:`~ChainVerifier.finish`. It reports per
partition the **first broken link** (partition, offset, chain sequence, expected vs
found) and every bad checkpoint. What each tampering looks like:

=====================  ==================================================================
tampering              what breaks
=====================  ==================================================================
a record altered       the next record's ``prevHash`` no longer matches (or, for the
                       last record, the checkpoint head); altered bytes that no longer
                       decode are reported ``undecodable``
a record removed       the next record's ``prevHash`` names a record that is not there;
                       a removed tail is caught by a checkpoint whose sequence lies
                       beyond the end of the partition
records reordered      a ``prevHash`` names a record that comes *later* (``reordered``)
a record moved         its ``prevHash`` belongs to another partition's chain
a record appended      no signed checkpoint covers it (``uncovered``): the hub checkpoints
by another writer      in every transaction that appends, so only records written by
                       someone else (or whose checkpoints were removed) are uncovered
checkpoint forged      signature or certificate chain does not verify; numbering gaps
                       (``checkpoint-gap``)
tail cut, checkpoints  the anchor an auditor kept (``--anchor``, the newest checkpoint
and all                when it was taken) names a checkpoint the topic no longer has
                       (``anchor-beyond-end``) and sequences the log no longer reaches
                       (``checkpoint-beyond-end``)
=====================  ==================================================================

Checkpoints committed while the log is read are read afterwards
(:meth:`ChainVerifier.add_late_checkpoints`), so records appended during a verification
are not reported uncovered. Limits: without an anchor, removing the newest records
together with every checkpoint that covers them leaves a shorter log that verifies; the
trust anchor must be kept apart from the log (a forger who holds the seal key can re-sign).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from hub.errors import UndecodableInput, VerificationError
from hub.stream.chain import EnvelopeReader, genesis, record_hash
from hub.stream.checkpoints import VerifiedCheckpoint, verify_checkpoint

FindingKind = Literal[
    "broken-link",
    "reordered",
    "missing-prev-hash",
    "undecodable",
    "checkpoint-mismatch",
    "checkpoint-beyond-end",
    "checkpoint-invalid",
    "checkpoint-gap",
    "uncovered",
    "anchor-invalid",
    "anchor-beyond-end",
]


@dataclass(frozen=True)
class Finding:
    """One broken link or bad checkpoint."""

    kind: FindingKind
    message: str
    partition: int | None = None
    offset: int | None = None
    seq: int | None = None
    expected: str | None = None
    found: str | None = None
    checkpoint: int | None = None

    def line(self) -> str:
        """One human-readable line."""
        where = []
        if self.partition is not None:
            where.append(f"partition {self.partition}")
        if self.offset is not None:
            where.append(f"offset {self.offset}")
        if self.seq is not None:
            where.append(f"seq {self.seq}")
        if self.checkpoint is not None:
            where.append(f"checkpoint #{self.checkpoint}")
        text = f"{self.kind} at {', '.join(where)}: {self.message}"
        if self.expected is not None or self.found is not None:
            text += f" (expected {self.expected}, found {self.found})"
        return text


@dataclass
class PartitionResult:
    """The state of one partition's chain while (and after) verifying."""

    partition: int
    records: int = 0
    unchained: int = 0
    seq: int = 0
    head: str | None = None
    last_offset: int | None = None
    checkpoints_matched: int = 0
    #: the chain sequence up to which a signed checkpoint covers the records
    covered: int = 0
    first_break: Finding | None = None
    findings: int = 0

    def to_json(self) -> dict[str, Any]:
        """JSON form for ``--json``."""
        data = asdict(self)
        data["first_break"] = asdict(self.first_break) if self.first_break else None
        return data


@dataclass
class VerifyReport:
    """The result of a verification."""

    partitions: list[PartitionResult]
    checkpoints: int
    checkpoints_valid: int
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no link is broken and every checkpoint verified and matched."""
        return not self.findings

    def to_json(self) -> dict[str, Any]:
        """JSON form for ``mchub audit verify --json`` (documented in docs/audit.md)."""
        return {
            "ok": self.ok,
            "records": sum(p.records for p in self.partitions),
            "checkpoints": self.checkpoints,
            "checkpointsValid": self.checkpoints_valid,
            "partitions": [p.to_json() for p in self.partitions],
            "findings": [asdict(f) for f in self.findings],
        }


class ChainVerifier:
    """Incremental verification of the chains of one copy of the canonical log."""

    def __init__(self, partitions: Sequence[int], reader: EnvelopeReader | None = None) -> None:
        """Start with the partitions of the log topic (all of them, even empty ones)."""
        self.reader = reader or EnvelopeReader()
        self.parts = {p: PartitionResult(p) for p in partitions}
        #: (partition, seq) -> (expected head, checkpoint number)
        self.expected: dict[tuple[int, int], tuple[str | None, int]] = {}
        self.checkpoints = 0
        self.checkpoints_valid = 0
        self.findings: list[Finding] = []
        #: partition -> the unknown prevHash of its first break (to spot reordering)
        self._pending: dict[int, str] = {}
        #: whether records must be covered by checkpoints (once checkpoints were added)
        self._coverage = False
        #: partition -> (seq, hash, offset) of the records no checkpoint covers yet
        self._tails: dict[int, list[tuple[int, str, int]]] = {}
        self._last_n = 0
        self._anchor: VerifiedCheckpoint | None = None

    # -- checkpoints ---------------------------------------------------------------
    def add_checkpoints(self, records: Iterable[tuple[int, bytes]], anchors: Sequence[Any]) -> None:
        """Verify checkpoint records ``(offset, value)`` in topic order, before the log's
        records; remember their heads. Records must then be covered by a checkpoint."""
        self._coverage = True
        for checkpoint in self._verified(records, anchors):
            for head in checkpoint.heads:
                if head.seq > 0:
                    self.expected[(head.partition, head.seq)] = (head.head, checkpoint.n)
                    self.parts.setdefault(head.partition, PartitionResult(head.partition))

    def add_late_checkpoints(
        self, records: Iterable[tuple[int, bytes]], anchors: Sequence[Any]
    ) -> None:
        """Checkpoints committed while the log was read (after it, in topic order): they
        cover records already read; sequences beyond them are newer records, not findings."""
        for checkpoint in self._verified(records, anchors):
            for head in checkpoint.heads:
                part = self.parts.get(head.partition)
                if part is None or head.seq <= part.covered or head.seq > part.seq:
                    continue
                tail = self._tails.get(head.partition, [])
                found = next((entry for entry in tail if entry[0] == head.seq), None)
                if found is None:
                    continue
                if found[1] == head.head:
                    part.covered = head.seq
                    part.checkpoints_matched += 1
                    self._tails[head.partition] = [e for e in tail if e[0] > head.seq]
                else:
                    self._mismatch(part, found[2], head.seq, head.head, found[1], checkpoint.n)

    def add_anchor(self, value: bytes, anchors: Sequence[Any], source: str = "the anchor") -> None:
        """A checkpoint kept outside Kafka (before the log's records): the checkpoint topic
        must reach its number and every partition its sequence, with the same head."""
        try:
            anchor = verify_checkpoint(value, anchors)
        except VerificationError as exc:
            self.findings.append(Finding("anchor-invalid", f"{source} does not verify: {exc}"))
            return
        self._anchor = anchor
        for head in anchor.heads:
            if head.seq > 0:
                self.expected[(head.partition, head.seq)] = (head.head, anchor.n)
                self.parts.setdefault(head.partition, PartitionResult(head.partition))

    def _verified(
        self, records: Iterable[tuple[int, bytes]], anchors: Sequence[Any]
    ) -> Iterable[VerifiedCheckpoint]:
        """The checkpoints that verify, numbering checked; findings for the others."""
        for offset, value in records:
            self.checkpoints += 1
            try:
                checkpoint = verify_checkpoint(value, anchors)
            except VerificationError as exc:
                self.findings.append(
                    Finding(
                        "checkpoint-invalid",
                        f"checkpoint at offset {offset} does not verify: {exc}",
                        offset=offset,
                    )
                )
                continue
            self.checkpoints_valid += 1
            if checkpoint.n != self._last_n + 1:
                self.findings.append(
                    Finding(
                        "checkpoint-gap",
                        f"checkpoint #{checkpoint.n} follows #{self._last_n}: checkpoints "
                        "are missing or repeated",
                        offset=offset,
                        checkpoint=checkpoint.n,
                    )
                )
            self._last_n = checkpoint.n
            yield checkpoint

    # -- records -------------------------------------------------------------------
    def add(self, partition: int, offset: int, value: bytes | None) -> None:
        """The next record of ``partition`` (offset order)."""
        part = self.parts.setdefault(partition, PartitionResult(partition))
        part.records += 1
        part.last_offset = offset
        if value is None:
            self._break(part, Finding("undecodable", "a null value on the log", partition, offset))
            return
        digest = record_hash(value)
        pending = self._pending.get(partition)
        if pending is not None and pending == digest and part.first_break is not None:
            # the record the first break pointed to comes later: records were reordered
            part.first_break = Finding(
                "reordered",
                "a record links to a record that comes after it: records were reordered",
                partition,
                part.first_break.offset,
                part.first_break.seq,
                part.first_break.expected,
                part.first_break.found,
            )
            self._replace_first(partition, part.first_break)
            del self._pending[partition]
        try:
            prev = self.reader.prev_hash(value)
        except UndecodableInput as exc:
            self._break(part, Finding("undecodable", str(exc), partition, offset, part.seq + 1))
            part.seq += 1
            part.head = digest
            return
        if prev is None:
            if part.seq == 0:
                part.unchained += 1  # written before chaining was enabled
                return
            self._break(
                part,
                Finding(
                    "missing-prev-hash",
                    "a record without prevHash inside a chain",
                    partition,
                    offset,
                    part.seq + 1,
                ),
            )
        else:
            expected = part.head if part.seq > 0 else genesis(partition)
            if prev != expected:
                self._break(
                    part,
                    Finding(
                        "broken-link",
                        "prevHash does not match the previous record: a record before it "
                        "was altered or removed",
                        partition,
                        offset,
                        part.seq + 1,
                        expected,
                        prev,
                    ),
                    pending=prev,
                )
        part.seq += 1
        part.head = digest
        wanted = self.expected.pop((partition, part.seq), None)
        if wanted is not None and wanted[0] == digest:
            part.checkpoints_matched += 1
            part.covered = part.seq
            self._tails.pop(partition, None)
            return
        if wanted is not None:
            self._mismatch(part, offset, part.seq, wanted[0], digest, wanted[1])
        if self._coverage:
            self._tails.setdefault(partition, []).append((part.seq, digest, offset))

    def _mismatch(
        self, part: PartitionResult, offset: int, seq: int, signed: str | None, found: str,
        number: int,
    ) -> None:
        self._break(
            part,
            Finding(
                "checkpoint-mismatch",
                "the record at this sequence is not the one the checkpoint signed: "
                "it was altered, or records before it were removed or reordered",
                part.partition,
                offset,
                seq,
                signed,
                found,
                number,
            ),
        )

    def finish(self) -> VerifyReport:
        """An anchor the checkpoints no longer reach, checkpoints beyond the end of a
        partition, records no checkpoint covers, then the report."""
        anchor = self._anchor
        if anchor is not None and anchor.n > self._last_n:
            self.findings.append(
                Finding(
                    "anchor-beyond-end",
                    f"the anchor is checkpoint #{anchor.n} of {anchor.at.isoformat()} but the "
                    f"checkpoint topic ends at #{self._last_n}: checkpoints were removed "
                    "(and, where the log is shorter too, the records they covered)",
                    checkpoint=anchor.n,
                )
            )
        for (partition, seq), (head, number) in sorted(self.expected.items()):
            part = self.parts.setdefault(partition, PartitionResult(partition))
            self._break(
                part,
                Finding(
                    "checkpoint-beyond-end",
                    f"checkpoint #{number} covers {seq} chained records but the partition "
                    f"has {part.seq}: records were removed from its end",
                    partition,
                    part.last_offset,
                    seq,
                    head,
                    part.head,
                    number,
                ),
            )
        self.expected.clear()
        for partition, tail in sorted(self._tails.items()):
            if tail:
                seq, _, offset = tail[0]
                part = self.parts[partition]
                self._break(
                    part,
                    Finding(
                        "uncovered",
                        f"{len(tail)} chained record(s) after sequence {part.covered} are "
                        "covered by no signed checkpoint: written by a producer other than "
                        "the hub, or the checkpoints covering them were removed",
                        partition,
                        offset,
                        seq,
                    ),
                )
        self._tails.clear()
        return VerifyReport(
            sorted(self.parts.values(), key=lambda p: p.partition),
            self.checkpoints,
            self.checkpoints_valid,
            list(self.findings),
        )

    def _break(
        self, part: PartitionResult, finding: Finding, *, pending: str | None = None
    ) -> None:
        part.findings += 1
        if part.first_break is None:
            part.first_break = finding
            self.findings.append(finding)
            if pending is not None:
                self._pending[part.partition] = pending

    def _replace_first(self, partition: int, finding: Finding) -> None:
        for i, existing in enumerate(self.findings):
            if existing.partition == partition and existing.kind == "broken-link":
                self.findings[i] = finding
                return


async def verify_topics(
    settings: Any,
    log_topic: str,
    checkpoint_topic: str | None,
    anchors: Sequence[Any],
    *,
    progress: Any = None,
    anchor: bytes | None = None,
) -> VerifyReport:
    """Verify a log topic (and its checkpoint topic, and an ``anchor`` checkpoint kept
    outside Kafka) on the broker, read_committed."""
    from hub.stream.reading import partitions_of, read_all, read_topic

    verifier = ChainVerifier(await partitions_of(settings, log_topic))
    resume: dict[int, int] | None = None
    if checkpoint_topic is not None:
        records = await read_all(settings, checkpoint_topic)
        verifier.add_checkpoints(((r.offset, bytes(r.value)) for r in records), anchors)
        resume = {0: records[-1].offset + 1} if records else None
    if anchor is not None:
        verifier.add_anchor(anchor, anchors)
    async for batch in read_topic(settings, log_topic, progress=progress):
        for record in batch:
            verifier.add(record.partition, record.offset, record.value)
    if checkpoint_topic is not None:  # checkpoints of transactions committed meanwhile
        late = await read_all(settings, checkpoint_topic, start=resume)
        verifier.add_late_checkpoints(((r.offset, bytes(r.value)) for r in late), anchors)
    return verifier.finish()
