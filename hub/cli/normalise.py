"""``mchub normalise --feed he|vet|al FILE...``: the offline normaliser for sector integrators.

Runs the same pure normaliser the hub runs, without Kafka. Accepted events go to stdout
as JSON lines (one canonical event per line); rejections go to stderr as JSON lines with
the rule codes, field paths and messages. Exit code: 0 when everything was accepted,
2 when anything was rejected, 1 on a usage error or an unreadable file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer

from hub.normalise import FEEDS, normalise
from hub.normalise.types import NormalisedEvent, Violation

EXIT_ACCEPTED = 0
EXIT_USAGE = 1
EXIT_REJECTED = 2


def event_line(event: NormalisedEvent) -> dict[str, Any]:
    """The stdout JSON object of one accepted event."""
    return {
        "feed": event.feed,
        "recordType": event.record_type,
        "eventType": event.event_type,
        "idempotencyKey": event.idempotency_key,
        "credentialKey": event.credential_key,
        "sourceEventId": event.source_event_id,
        "mappingVersion": event.mapping_version,
        "row": event.row,
        "sor_azonosito": event.sor_azonosito,
        "record": event.record,
    }


def canonical_line(event: NormalisedEvent, payload: bytes) -> dict[str, Any]:
    """The canonical event (JSON form of the Avro record) an accepted event would become.

    The envelope is what the hub would stamp, with the file's digest, the current time
    as the receive time and a fresh trace id.
    """
    import hashlib
    import uuid
    from datetime import UTC, datetime

    from hub import __version__
    from hub.contract.build import build_canonical_event

    built = build_canonical_event(
        event,
        raw_sha256=hashlib.sha256(payload).hexdigest(),
        received_at=datetime.now(UTC),
        trace_id=uuid.uuid4().hex,
        hub_version=__version__,
    )
    return built.model_dump(mode="json")


def rejection_line(
    file: str,
    violations: tuple[Violation, ...],
    *,
    row: int | None = None,
    sor_azonosito: str | None = None,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """The stderr JSON object of one rejected event, row or file."""
    return {
        "file": file,
        "row": row,
        "sor_azonosito": sor_azonosito,
        "idempotencyKey": idempotency_key,
        "rules": [v.as_dict() for v in violations],
    }


def _emit(stream: TextIO, obj: dict[str, Any]) -> None:
    """Write one JSON line."""
    stream.write(json.dumps(obj, ensure_ascii=False) + "\n")


def _fail(message: str) -> typer.Exit:
    """Print a one-line usage/IO error and return the exit to raise."""
    print(f"mchub normalise: {message}", file=sys.stderr)
    return typer.Exit(EXIT_USAGE)


def _read(path: Path) -> bytes:
    """The raw bytes of a file, ``-`` meaning stdin."""
    if str(path) == "-":
        return sys.stdin.buffer.read()
    return path.read_bytes()


def normalise_cmd(
    feed: Annotated[
        str | None, typer.Option("--feed", help="Source feed of the files: he, vet or al.")
    ] = None,
    files: Annotated[
        list[Path] | None,
        typer.Argument(help="Payload files (one he/vet event or one al CSV each); - for stdin."),
    ] = None,
    canonical: Annotated[
        bool,
        typer.Option(
            "--canonical",
            help="print canonical events (the JSON form of the Avro records, as "
            "`mchub validate` reads them) instead of normalised records",
        ),
    ] = False,
) -> None:
    """Normalise sector payload files offline: canonical events on stdout, rejections on stderr."""
    if feed not in FEEDS:
        shown = "missing" if feed is None else repr(feed)
        raise _fail(f"--feed is {shown}; choose one of {', '.join(FEEDS)}")
    if not files:
        raise _fail("give at least one payload file")
    payloads: list[tuple[str, bytes]] = []
    for path in files:
        try:
            payloads.append((str(path), _read(path)))
        except OSError as exc:
            raise _fail(f"cannot read {path}: {exc.strerror or exc}") from None
    rejected = False
    for name, payload in payloads:
        result = normalise(feed, payload)
        if result.file_violations:
            rejected = True
            _emit(sys.stderr, rejection_line(name, result.file_violations))
        for item in result.items:
            if item.accepted and item.event is not None:
                line = canonical_line(item.event, payload) if canonical else event_line(item.event)
                _emit(sys.stdout, line)
            else:
                rejected = True
                _emit(
                    sys.stderr,
                    rejection_line(
                        name,
                        item.violations,
                        row=item.row,
                        sor_azonosito=item.sor_azonosito,
                        idempotency_key=item.idempotency_key,
                    ),
                )
    sys.stdout.flush()
    raise typer.Exit(EXIT_REJECTED if rejected else EXIT_ACCEPTED)
