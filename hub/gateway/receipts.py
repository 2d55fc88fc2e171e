"""The stream's verdicts for gateway submissions: a receipts follower and §2 reports.

:class:`ReceiptFollower` is an in-process consumer (no group, ``read_committed``) of
``canon.receipts.{he,vet,al}`` that keeps the latest receipt per (receipt id, row) for
receipt ids the gateway issued (prefix ``gw-``), starting ``lookback`` before the
gateway started. :func:`verdict` turns the receipts of one submission into the outcome
report of the feed contract §2 and the HTTP status the contract gives it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Final, Literal

from aiokafka import AIOKafkaConsumer, TopicPartition

from hub.adapters.kafka import make_consumer
from hub.errors import ConfigurationError
from hub.settings import Settings
from hub.topics import FEEDS, source_receipts

log = logging.getLogger(__name__)

#: receipt ids issued by the gateway start with this
RECEIPT_PREFIX: Final = "gw-"
#: the issue's words for the §1.1 outcomes
FATES: Final[dict[str, str]] = {
    "accept": "accepted",
    "reject": "rejected",
    "hold": "held",
    "duplicate-ignored": "duplicate",
    "conflict": "conflict",
}
Status = Literal["pending", "decided"]


@dataclass(frozen=True)
class Verdict:
    """What the stream decided for one submission, as far as it has decided."""

    status: Status
    fate: str | None  # he/vet: accepted|rejected|held|duplicate|conflict; al: processed|rejected
    final: bool
    report: dict[str, Any] | None  # the §2 outcome report
    http_status: int | None  # the §2 status code of that report

    def body(self, receipt_id: str, feed: str) -> dict[str, Any]:
        """The JSON body of ``GET /v1/receipts/{id}`` (and of a waited POST)."""
        return {"receiptId": receipt_id, "feed": feed, "status": self.status, "fate": self.fate,
                "final": self.final, "report": self.report}


def _rules(receipt: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(r) for r in receipt.get("rules") or []]


def verdict(feed: str, receipts: dict[int | None, dict[str, Any]]) -> Verdict:
    """The verdict from the latest receipt per row (``None``: the event or the file)."""
    pending = Verdict("pending", None, False, None, None)
    if feed != "al":
        receipt = receipts.get(None)
        if receipt is None:
            return pending
        outcome = str(receipt["outcome"])
        report = {"feed": feed, "outcome": outcome, "rules": _rules(receipt),
                  "idempotencyKey": receipt.get("idempotencyKey")}
        status = 409 if outcome == "conflict" else 400 if outcome == "reject" else 200
        return Verdict("decided", FATES.get(outcome, outcome), bool(receipt.get("final")), report,
                       status)
    head = receipts.get(None)
    if head is None:
        return pending
    if head.get("outcome") == "reject":
        report = {"feed": feed, "file": {"outcome": "reject", "rules": _rules(head)}, "rows": []}
        return Verdict("decided", "rejected", True, report, 400)
    expected = int(head.get("rows") or 0)
    rows = sorted((row, r) for row, r in receipts.items() if row is not None)
    if len(rows) < expected:
        return pending
    report = {
        "feed": feed,
        "file": {"outcome": "processed", "rules": []},
        "rows": [
            {"row": row, "sor_azonosito": r.get("sor_azonosito"), "outcome": r["outcome"],
             "rules": _rules(r), "idempotencyKey": r.get("idempotencyKey")}
            for row, r in rows
        ],
    }
    final = all(bool(r.get("final")) for _, r in rows)
    return Verdict("decided", "processed", final, report, 200)


class ReceiptFollower:
    """Follows the receipts topics and wakes up requests waiting for a verdict."""

    def __init__(self, settings: Settings, *, lookback_seconds: float = 86_400.0,
                 capacity: int = 200_000) -> None:
        self.settings = settings
        self.lookback_seconds = lookback_seconds
        self.capacity = capacity
        self.book: OrderedDict[str, dict[int | None, dict[str, Any]]] = OrderedDict()
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()

    async def start(self) -> None:
        """Assign every receipts partition, seek back ``lookback`` and start following."""
        consumer = make_consumer(self.settings, group=None)
        await consumer.start()
        try:
            partitions = await self._partitions(consumer)
            consumer.assign(partitions)
            since = int((time.time() - self.lookback_seconds) * 1000)
            offsets = await consumer.offsets_for_times({tp: since for tp in partitions})
            for tp in partitions:
                found = offsets.get(tp)
                if found is None:
                    await consumer.seek_to_end(tp)
                else:
                    consumer.seek(tp, found.offset)
        except BaseException:
            await consumer.stop()
            raise
        self._consumer = consumer
        self._task = asyncio.create_task(self._follow(), name="gateway-receipts")

    async def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        """Every partition of the receipts topics (metadata of new topics may lag: retry)."""
        deadline = time.monotonic() + 10
        while True:
            # consumer.topics() fetches metadata but does not refresh what
            # partitions_for_topic() reads; use the fetched cluster view directly
            cluster = await consumer._client.fetch_all_metadata()
            partitions: list[TopicPartition] = []
            missing: list[str] = []
            for feed in FEEDS:
                topic = self.settings.topic(source_receipts(feed))
                ids = cluster.partitions_for_topic(topic)
                if not ids:
                    missing.append(topic)
                partitions += [TopicPartition(topic, p) for p in sorted(ids or ())]
            if not missing:
                return partitions
            if time.monotonic() > deadline:
                raise ConfigurationError(
                    f"topic {missing[0]} does not exist; run 'mchub topics apply' first")
            await asyncio.sleep(0.25)

    async def stop(self) -> None:
        """Stop following."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()

    async def _follow(self) -> None:
        assert self._consumer is not None
        while True:
            try:
                batch = await self._consumer.getmany(timeout_ms=200, max_records=5000)
            except asyncio.CancelledError:
                raise
            except Exception:  # keep following: the broker may come back
                log.exception("reading the receipts topics failed; retrying")
                await asyncio.sleep(1.0)
                continue
            for records in batch.values():
                for record in records:
                    if record.key is not None and record.key.startswith(b"gw-"):
                        self.add(json.loads(record.value))
            if not batch:
                self.ready.set()

    def add(self, receipt: dict[str, Any]) -> None:
        """Record one receipt and wake up its waiters."""
        rid = str(receipt.get("receiptId"))
        rows = self.book.get(rid)
        if rows is None:
            rows = self.book[rid] = {}
            if len(self.book) > self.capacity:
                self.book.popitem(last=False)
        rows[receipt.get("row") if receipt.get("scope") == "event" else None] = receipt
        for event in self._waiters.get(rid, ()):
            event.set()

    def verdict(self, receipt_id: str, feed: str) -> Verdict:
        """The verdict so far for a receipt id."""
        return verdict(feed, self.book.get(receipt_id, {}))

    async def wait(self, receipt_id: str, feed: str, timeout: float) -> Verdict:
        """Wait up to ``timeout`` seconds for a decided verdict; the latest verdict."""
        deadline = time.monotonic() + timeout
        event = asyncio.Event()
        self._waiters.setdefault(receipt_id, set()).add(event)
        try:
            while True:
                current = self.verdict(receipt_id, feed)
                remaining = deadline - time.monotonic()
                if current.status == "decided" or remaining <= 0:
                    return current
                event.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(event.wait(), remaining)
        finally:
            waiters = self._waiters.get(receipt_id)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    del self._waiters[receipt_id]
