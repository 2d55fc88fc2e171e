"""Reading the per-source receipts: the fate of every event a sector system sent.

Receipts are JSON records on ``canon.receipts.<feed>``, keyed by receipt id (the HTTP
gateway's id, or ``topic:partition:offset`` of the source message). One source message
yields one receipt per event (per row for ``al``, plus one ``scope: file`` receipt); a
held revocation yields a non-final ``hold`` receipt and later its final outcome.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hub.adapters.kafka import make_consumer
from hub.settings import Settings
from hub.topics import FEEDS, source_receipts

OUTCOMES = ("accept", "reject", "hold", "duplicate-ignored", "conflict")


@dataclass
class ReceiptBook:
    """The latest receipt per (receipt id, row), built from the receipts topics."""

    latest: dict[tuple[str, int | None], dict[str, Any]] = field(default_factory=dict)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, receipt: dict[str, Any]) -> None:
        """Record one receipt; later receipts for the same event replace earlier ones."""
        if receipt.get("scope") == "file" and receipt.get("outcome") == "processed":
            self.files[receipt["receiptId"]] = receipt
            return
        self.latest[(receipt["receiptId"], receipt.get("row"))] = receipt

    def complete(self, receipt_ids: Iterable[str]) -> bool:
        """True when every given message has final receipts for all of its events."""
        for rid in receipt_ids:
            events = [r for (i, _), r in self.latest.items() if i == rid]
            if any(r.get("scope") == "file" for r in events):
                continue  # the whole file was rejected
            if not events or not all(r.get("final") for r in events):
                return False
            expected = self.files.get(rid, {}).get("rows")
            if rid in self.files and expected is not None and len(events) < expected:
                return False
            if "src.al." in rid and rid not in self.files:
                return False
        return True

    def summary(self, receipt_ids: Iterable[str] | None = None) -> dict[str, Counter[str]]:
        """Outcome counts per feed (optionally only for the given messages)."""
        wanted = set(receipt_ids) if receipt_ids is not None else None
        counts: dict[str, Counter[str]] = {feed: Counter() for feed in FEEDS}
        for (rid, _), receipt in self.latest.items():
            if wanted is None or rid in wanted:
                counts[receipt["feed"]][receipt["outcome"]] += 1
        return counts


async def read_receipts(
    settings: Settings, book: ReceiptBook, *, until_complete: list[str], timeout: float = 60.0
) -> ReceiptBook:
    """Read the receipts topics (read_committed) until the messages are all decided."""
    topics = [settings.topic(source_receipts(feed)) for feed in FEEDS]
    consumer = make_consumer(settings, *topics, group=None)  # no group: every partition
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200, max_records=5000)
            for records in batch.values():
                for record in records:
                    book.add(json.loads(record.value))
            if book.complete(until_complete):
                return book
            await asyncio.sleep(0)
        return book
    finally:
        await consumer.stop()
