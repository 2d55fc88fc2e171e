"""``mchub replay``: rebuild a projection from the canonical log into a fresh target.

Projections (``--projection``):

``credential-state``  per credential: status, learner, the issuing and revoking events
                      (idempotency keys), revocation reason and the keys its published
                      events occupy — the published part of the decide stage's credential
                      table (:meth:`hub.core.CredentialEntry.published`), by credential id
``learner-index``     per learner (education id): their credential ids and enrolment events
``register-state``    the compacted register topic (``register.credentials.state``), rebuilt
                      with the live projection's own code into a fresh topic

Targets are never the live projection: a directory
``<MCHUB_DATA_DIR>/replay/<projection>.replay-<UTC time>`` (``state.jsonl`` + ``cursor.json``)
for the first two, a topic ``register.credentials.state.replay-<UTC time>`` for the third
(``--to`` names another). A **cursor** (next offset per partition of the log) is saved
with a snapshot of the state every ``snapshot_s`` seconds and when interrupted, so
running the same command with ``--to <target>`` again resumes; re-applying records a
crash left between a snapshot and its cursor is harmless, the folds are idempotent.
``--switch`` makes a completed target the live one (see :func:`switch`).

The fold reads only the record heads (:meth:`hub.stream.chain.EnvelopeReader.head`), never
the whole credential, which is what makes a million events a matter of seconds.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from hub.core.state import CredentialEntry
from hub.errors import ConfigurationError
from hub.settings import Settings
from hub.stream.chain import EnvelopeReader
from hub.stream.reading import ProgressHook, read_all, read_topic, to_millis
from hub.topics import CANONICAL_LOG, DECIDE_CHANGELOG, REGISTER_STATE

ProjectionName = Literal["credential-state", "learner-index", "register-state"]
PROJECTIONS: tuple[ProjectionName, ...] = ("credential-state", "learner-index", "register-state")
SEP = "\x1f"
SEPB = SEP.encode()
STATUS = {"a": "active", "r": "revoked"}


def replay_suffix(moment: datetime | None = None) -> str:
    """``replay-<UTC time>`` (e.g. ``replay-20250601T100000Z``)."""
    return "replay-" + (moment or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")


class Fold(Protocol):
    """A projection built in memory from canonical record values, in log order."""

    records: int

    def add(self, value: bytes) -> None:
        """Fold in one canonical record value."""

    def rows(self) -> Iterator[dict[str, Any]]:
        """The projection's entries as JSON objects, sorted by key."""
        ...

    def load(self, rows: Iterator[dict[str, Any]]) -> None:
        """Restore from :meth:`rows` output (a snapshot)."""


class CredentialStateFold:
    """credential id -> published credential state, one compact bytes value each.

    Keys are the credential ids' UTF-8 bytes; values are ``\x1f``-separated UTF-8:
    status (``a``/``r``), credential key, learner, issuing key, revoking key, revocation
    reason (empty when none). About 200 bytes per credential in memory.
    """

    def __init__(self, reader: EnvelopeReader | None = None) -> None:
        self.reader = reader or EnvelopeReader()
        self.state: dict[bytes, bytes] = {}
        self.records = 0

    def add(self, value: bytes) -> None:
        """Apply one record (issuances and revocations; enrolments are skipped)."""
        self.records += 1
        name, ids = self.reader.ids(value)
        cid = ids[3]
        if cid is None:
            return
        old = self.state.get(cid)
        if name == "CredentialIssued":
            learner, idem = ids[4] or b"", ids[1] or b""
            if old is None:
                self.state[cid] = SEPB.join((b"a", ids[2] or b"", learner, idem, b"", b""))
                return
            parts = old.split(SEPB)
            parts[2], parts[3] = learner, idem
        elif name == "CredentialRevoked":
            parts = (
                old.split(SEPB) if old is not None else [b"a", ids[2] or b"", b"", b"", b"", b""]
            )
            reason = self.reader.head(value)[1].get("reason")
            parts[0], parts[4] = b"r", ids[1] or b""
            parts[5] = reason.encode() if reason else b""
            if not parts[2]:
                parts[2] = ids[4] or b""
        else:
            return
        self.state[cid] = SEPB.join(parts)

    def rows(self) -> Iterator[dict[str, Any]]:
        """``{credentialId, credentialKey, status, learnerId, issuedBy, revokedBy,
        revocationReason, keys}`` per credential, sorted by credential id."""
        for cid in sorted(self.state):
            yield view_row(cid.decode(), self.state[cid].decode().split(SEP))

    def load(self, rows: Iterator[dict[str, Any]]) -> None:
        """Restore from a snapshot."""
        for row in rows:
            self.state[row["credentialId"].encode()] = SEP.join(
                [
                    "r" if row["status"] == "revoked" else "a",
                    row["credentialKey"],
                    row["learnerId"] or "",
                    row["issuedBy"] or "",
                    row["revokedBy"] or "",
                    row["revocationReason"] or "",
                ]
            ).encode()


def view_row(cid: str, parts: list[str]) -> dict[str, Any]:
    """One credential-state row from the compact fields."""
    keys = sorted(k for k in (parts[3], parts[4]) if k)
    return {
        "credentialId": cid,
        "credentialKey": parts[1],
        "status": STATUS[parts[0]],
        "learnerId": parts[2] or None,
        "issuedBy": parts[3] or None,
        "revokedBy": parts[4] or None,
        "revocationReason": parts[5] or None,
        "keys": keys,
    }


def state_row(state: CredentialEntry) -> dict[str, Any]:
    """The credential-state row of a live :class:`CredentialEntry` (its published part)."""
    from hub.contract.build import credential_id

    part = state.published()
    return {
        "credentialId": credential_id(part.credential_key),
        "credentialKey": part.credential_key,
        "status": part.status,
        "learnerId": part.learner_id,
        "issuedBy": part.issued_by,
        "revokedBy": part.revoked_by,
        "revocationReason": part.revocation_reason,
        "keys": sorted(part.keys),
    }


class LearnerIndexFold:
    """education id -> credential ids and enrolment events of the learner."""

    def __init__(self, reader: EnvelopeReader | None = None) -> None:
        self.reader = reader or EnvelopeReader()
        self.credentials: dict[str, set[str]] = {}
        self.enrolments: dict[str, set[str]] = {}
        self.records = 0

    def add(self, value: bytes) -> None:
        """Index one record under its learner."""
        self.records += 1
        _, head = self.reader.head(value)
        env = head["envelope"]
        learner = env["learnerKey"]
        if env["credentialId"] is not None:
            self.credentials.setdefault(learner, set()).add(env["credentialId"])
        else:
            self.enrolments.setdefault(learner, set()).add(env["eventId"])

    def rows(self) -> Iterator[dict[str, Any]]:
        """``{learnerId, credentials, enrolmentEvents}`` per learner, sorted."""
        for learner in sorted(set(self.credentials) | set(self.enrolments)):
            yield {
                "learnerId": learner,
                "credentials": sorted(self.credentials.get(learner, ())),
                "enrolmentEvents": sorted(self.enrolments.get(learner, ())),
            }

    def load(self, rows: Iterator[dict[str, Any]]) -> None:
        """Restore from a snapshot."""
        for row in rows:
            if row["credentials"]:
                self.credentials[row["learnerId"]] = set(row["credentials"])
            if row["enrolmentEvents"]:
                self.enrolments[row["learnerId"]] = set(row["enrolmentEvents"])


FOLDS: dict[str, Callable[[], Fold]] = {
    "credential-state": CredentialStateFold,
    "learner-index": LearnerIndexFold,
}


@dataclass
class Cursor:
    """Where a replay got to: next offset per partition of the log, and whether it ended."""

    projection: str
    log_topic: str
    offsets: dict[int, int] = field(default_factory=dict)
    records: int = 0
    complete: bool = False
    since: str | None = None
    started: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    updated: str | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON form (``cursor.json``)."""
        return {
            "projection": self.projection,
            "logTopic": self.log_topic,
            "offsets": {str(p): o for p, o in sorted(self.offsets.items())},
            "records": self.records,
            "complete": self.complete,
            "since": self.since,
            "started": self.started,
            "updated": self.updated,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Cursor:
        """Inverse of :meth:`to_json`."""
        return cls(
            projection=data["projection"],
            log_topic=data["logTopic"],
            offsets={int(p): int(o) for p, o in data["offsets"].items()},
            records=int(data["records"]),
            complete=bool(data["complete"]),
            since=data.get("since"),
            started=data["started"],
            updated=data.get("updated"),
        )


@dataclass(frozen=True)
class ReplayResult:
    """What a replay did."""

    projection: str
    target: str
    records: int
    entries: int
    resumed: bool
    seconds: float

    def to_json(self) -> dict[str, Any]:
        """JSON form for ``--json``."""
        return {
            "projection": self.projection,
            "target": self.target,
            "records": self.records,
            "entries": self.entries,
            "resumed": self.resumed,
            "seconds": round(self.seconds, 3),
        }


def _write_atomic(path: Path, lines: Iterator[str]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for line in lines:
            fh.write(line)
            fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def save(directory: Path, fold: Fold, cursor: Cursor) -> None:
    """Snapshot the state, then the cursor (both atomically, in that order)."""
    directory.mkdir(parents=True, exist_ok=True)
    cursor.updated = datetime.now(UTC).isoformat()
    _write_atomic(
        directory / "state.jsonl", (json.dumps(r, ensure_ascii=False) for r in fold.rows())
    )
    _write_atomic(directory / "cursor.json", iter([json.dumps(cursor.to_json(), indent=1)]))


def load_rows(path: Path) -> Iterator[dict[str, Any]]:
    """The rows of a ``state.jsonl`` file."""
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def default_target(settings: Settings, projection: str) -> str:
    """A fresh target name: a directory, or a topic for ``register-state``."""
    if projection == "register-state":
        return f"{REGISTER_STATE}.{replay_suffix()}"
    return str(settings.data_dir / "replay" / f"{projection}.{replay_suffix()}")


async def replay_to_directory(
    settings: Settings,
    projection: str,
    target: Path,
    *,
    since: datetime | None = None,
    log_topic: str | None = None,
    progress: ProgressHook | None = None,
    snapshot_s: float = 30.0,
    max_records: int | None = None,
) -> ReplayResult:
    """Fold the log into ``target`` (resuming from its cursor when there is one)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    make = FOLDS.get(projection)
    if make is None:
        raise ConfigurationError(f"unknown projection {projection!r} ({', '.join(PROJECTIONS)})")
    topic = log_topic or settings.topic(CANONICAL_LOG)
    fold = make()
    cursor_path = target / "cursor.json"
    resumed = cursor_path.exists()
    if resumed:
        cursor = Cursor.from_json(json.loads(cursor_path.read_text()))
        if cursor.projection != projection:
            raise ConfigurationError(f"{target} holds a {cursor.projection} replay")
        if cursor.complete:
            entries = sum(1 for _ in load_rows(target / "state.jsonl"))
            return ReplayResult(projection, str(target), cursor.records, entries, True, 0.0)
        fold.load(load_rows(target / "state.jsonl"))
        fold.records = cursor.records
    else:
        if target.exists() and any(target.iterdir()):
            raise ConfigurationError(f"{target} exists and is not a replay target (no cursor)")
        cursor = Cursor(projection, topic, since=since.isoformat() if since else None)
    last_save = loop.time()
    try:
        reader = read_topic(
            settings,
            topic,
            since_ms=None if resumed else to_millis(since),
            start=cursor.offsets if resumed else None,
            progress=progress,
            max_records=max_records,
        )
        async for batch in reader:
            for record in batch:
                if record.value is not None:
                    fold.add(record.value)
            cursor.offsets[batch[-1].partition] = batch[-1].offset + 1
            cursor.records = fold.records
            if loop.time() - last_save >= snapshot_s:
                save(target, fold, cursor)
                last_save = loop.time()
    except BaseException:
        save(target, fold, cursor)  # interrupted: keep what we have, resume later
        raise
    cursor.complete = True
    save(target, fold, cursor)
    entries = sum(1 for _ in fold.rows())
    return ReplayResult(
        projection, str(target), fold.records, entries, resumed, loop.time() - started
    )


async def live_credential_state(settings: Settings) -> list[dict[str, Any]]:
    """The live credential-state rows: the decide changelog's published part, sorted."""
    latest: dict[str, bytes | None] = {}
    for record in await read_all(settings, settings.topic(DECIDE_CHANGELOG)):
        key = bytes(record.key).decode()
        if key.startswith("cred|"):
            latest[key] = record.value
    rows = []
    for value in latest.values():
        if value is None:
            continue
        state = CredentialEntry.from_json(value)
        if not state.published().is_empty:
            rows.append(state_row(state))
    return sorted(rows, key=lambda r: r["credentialId"])


# -- register-state: the live projection's code, into a fresh topic ------------------------


async def replay_register_state(
    settings: Settings,
    target_topic: str,
    *,
    since: datetime | None = None,
    progress: ProgressHook | None = None,
) -> ReplayResult:
    """Project the log onto ``target_topic`` (full name) with the register projection.

    Resumable: the cursor lives in ``<data_dir>/replay/<target>.cursor.json``; on resume
    the projection's memory is restored from the target topic itself (like the live one).
    Writes are idempotent and deterministic, so records replayed twice change nothing.
    """
    from aiokafka.admin import NewTopic

    from connectors.fanout.state import RegisterStateProjection
    from hub.adapters.kafka import make_admin, make_producer
    from hub.stream.reading import partitions_of

    loop = asyncio.get_running_loop()
    started = loop.time()
    live = settings.topic(REGISTER_STATE)
    if target_topic == live:
        raise ConfigurationError("the target must not be the live register topic (use --switch)")
    cursor_path = settings.data_dir / "replay" / f"{target_topic}.cursor.json"
    resumed = cursor_path.exists()
    log_topic = settings.topic(CANONICAL_LOG)
    if resumed:
        cursor = Cursor.from_json(json.loads(cursor_path.read_text()))
    else:
        cursor = Cursor("register-state", log_topic, since=since.isoformat() if since else None)
        admin = make_admin(settings)
        await admin.start()
        try:
            if target_topic in set(await admin.list_topics()):
                raise ConfigurationError(f"topic {target_topic} exists and has no replay cursor")
            partitions = len(await partitions_of(settings, live))
            configs = {"cleanup.policy": "compact", "retention.ms": "-1"}
            await admin.create_topics(
                [
                    NewTopic(
                        target_topic, partitions, settings.replication_factor, topic_configs=configs
                    )
                ]
            )
        finally:
            await admin.close()
    handler = RegisterStateProjection(settings)
    handler.state_topic = target_topic
    if resumed:
        await handler.restore()
    producer = make_producer(settings)
    await producer.start()
    written = 0
    try:
        if cursor.complete:
            return ReplayResult("register-state", target_topic, cursor.records, 0, True, 0.0)
        try:
            async for batch in read_topic(
                settings,
                log_topic,
                since_ms=None if resumed else to_millis(since),
                start=cursor.offsets if resumed else None,
                progress=progress,
            ):
                outputs = [o for record in batch for o in handler.handle(record)]
                for output in outputs:
                    if output.topic == target_topic:  # dead letters are not replayed
                        await producer.send(
                            output.topic, output.value, key=output.key, partition=output.partition
                        )
                        written += 1
                await producer.flush()
                cursor.offsets[batch[-1].partition] = batch[-1].offset + 1
                cursor.records += len(batch)
                _save_cursor(cursor_path, cursor)
        except BaseException:
            await producer.flush()
            _save_cursor(cursor_path, cursor)
            raise
        cursor.complete = True
        _save_cursor(cursor_path, cursor)
    finally:
        await producer.stop()
    entries = len(handler.credentials)
    return ReplayResult(
        "register-state", target_topic, cursor.records, entries, resumed, loop.time() - started
    )


def _save_cursor(path: Path, cursor: Cursor) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cursor.updated = datetime.now(UTC).isoformat()
    _write_atomic(path, iter([json.dumps(cursor.to_json(), indent=1)]))


async def latest_by_key(settings: Settings, topic: str) -> dict[bytes, bytes]:
    """The latest value per key of a (compacted) topic; tombstoned keys are absent."""
    latest: dict[bytes, bytes | None] = {}
    for record in await read_all(settings, topic):
        if record.key is not None:
            latest[bytes(record.key)] = None if record.value is None else bytes(record.value)
    return {k: v for k, v in latest.items() if v is not None}


# -- switching -------------------------------------------------------------------------


async def switch(settings: Settings, projection: str, target: str) -> dict[str, Any]:
    """Make a completed replay target the live projection.

    Directory projections: ``<data_dir>/projections/<projection>`` becomes a symlink to
    the target (atomically). ``register-state``: the live compacted topic is brought to the
    target's content — changed and new keys are written, keys missing from the target get
    tombstones. Stop the live projection worker (``mchub run``) first: it is the topic's
    only writer otherwise.
    """
    if projection == "register-state":
        cursor_path = settings.data_dir / "replay" / f"{target}.cursor.json"
        if (
            not cursor_path.exists()
            or not Cursor.from_json(json.loads(cursor_path.read_text())).complete
        ):
            raise ConfigurationError(f"{target} is not a completed register-state replay")
        from hub.adapters.kafka import make_producer

        live_topic = settings.topic(REGISTER_STATE)
        wanted = await latest_by_key(settings, target)
        live = await latest_by_key(settings, live_topic)
        producer = make_producer(settings)
        await producer.start()
        changed = removed = 0
        try:
            for key, value in wanted.items():
                if live.get(key) != value:
                    await producer.send(live_topic, value, key=key)
                    changed += 1
            for key in live.keys() - wanted.keys():
                await producer.send(live_topic, None, key=key)
                removed += 1
            await producer.flush()
        finally:
            await producer.stop()
        return {
            "projection": projection,
            "live": live_topic,
            "from": target,
            "written": changed,
            "tombstoned": removed,
        }
    directory = Path(target)
    cursor_path = directory / "cursor.json"
    if (
        not cursor_path.exists()
        or not Cursor.from_json(json.loads(cursor_path.read_text())).complete
    ):
        raise ConfigurationError(f"{target} is not a completed {projection} replay")
    link = settings.data_dir / "projections" / projection
    link.parent.mkdir(parents=True, exist_ok=True)
    tmp = link.with_name(link.name + ".switching")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(directory.resolve(), target_is_directory=True)
    os.replace(tmp, link)
    return {"projection": projection, "live": str(link), "from": str(directory.resolve())}
