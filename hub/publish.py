"""Publishing sector payloads to the source topics, as a sector system would.

The Kafka key follows the feed contract (§2) so that one learner's events at one
institution (``he``, ``vet``), or one provider's files (``al``), share a partition. The
key is a routing hint only: the hub takes identity from the payload, never the key, so a
key that cannot be derived from a broken payload is simply left empty.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from defusedxml import ElementTree

from hub.adapters.kafka import make_producer
from hub.settings import Settings
from hub.topics import SOURCE_TOPICS

VET_NS = "{urn:mchub:feed:vet:1}"
FEED_SUFFIXES = {"he": ".json", "vet": ".xml", "al": ".csv"}
CONTENT_TYPES = {
    "he": "application/json",
    "vet": "application/xml",
    "al": "text/csv; charset=utf-8",
}


@dataclass(frozen=True)
class SourceMessage:
    """One message for a source topic: the raw payload, its routing key and headers."""

    feed: str
    value: bytes
    key: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    origin: str  # file the payload came from, for progress and summaries


def routing_key(feed: str, payload: bytes) -> bytes | None:
    """The §2 Kafka key for a payload, or ``None`` when the payload does not yield one."""
    try:
        if feed == "he":
            doc = json.loads(payload)
            return f"{doc['intezmeny']['kod']}:{doc['hallgato']['oktatasi_azonosito']}".encode()
        if feed == "vet":
            root = ElementTree.fromstring(payload)
            om = root.findtext(f"{VET_NS}Intezmeny/{VET_NS}OMAzonosito")
            learner = root.findtext(f"{VET_NS}Tanulo/{VET_NS}OktatasiAzonosito")
            return f"{(om or '').strip()}:{(learner or '').strip()}".encode()
        if feed == "al":
            text = payload.decode("utf-8-sig")
            row = next(csv.DictReader(io.StringIO(text), delimiter=";"))
            return row["felnottkepzo_nyilvantartasi_szam"].strip().encode()
    except Exception:  # noqa: BLE001 - a broken payload simply has no routing key
        return None
    raise ValueError(f"unknown feed {feed!r}")


def message_from_file(feed: str, path: Path) -> SourceMessage:
    """A source message from one sample or integration file."""
    payload = path.read_bytes()
    headers: list[tuple[str, bytes]] = [("content-type", CONTENT_TYPES[feed].encode())]
    if feed == "al":
        headers.append(("file-name", path.name.encode()))
    return SourceMessage(feed, payload, routing_key(feed, payload), tuple(headers), str(path))


def sample_messages(samples_dir: Path) -> Iterator[SourceMessage]:
    """Every sample of every feed, feeds in order he, vet, al and files in name order."""
    for feed, suffix in FEED_SUFFIXES.items():
        for path in sorted((samples_dir / feed).glob(f"*{suffix}")):
            yield message_from_file(feed, path)


@dataclass(frozen=True)
class Published:
    """Where one message landed: its receipt id is ``topic:partition:offset``."""

    message: SourceMessage
    topic: str
    partition: int
    offset: int

    @property
    def receipt_id(self) -> str:
        """The id the hub's receipts carry for this message."""
        return f"{self.topic}:{self.partition}:{self.offset}"


async def publish(settings: Settings, messages: Iterable[SourceMessage]) -> list[Published]:
    """Send messages to their source topics (acks=all); returns where each one landed."""
    producer = make_producer(settings)
    await producer.start()
    try:
        pending = []
        for message in messages:
            topic = settings.topic(SOURCE_TOPICS[message.feed])
            future = await producer.send(
                topic, message.value, key=message.key, headers=list(message.headers)
            )
            pending.append((message, future))
        await producer.flush()
        results = []
        for message, future in pending:
            meta = await future
            results.append(Published(message, meta.topic, meta.partition, meta.offset))
        return results
    finally:
        await producer.stop()
