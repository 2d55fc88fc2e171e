"""State tables over a key-value store, and the fold that rebuilds them from the log.

:class:`StateTables` keeps both tables in a :class:`KeyValueStore` (in
memory by default; the decide stage gives it its SQLite store), as their changelog JSON
under their changelog keys, with a bounded cache of decoded models: memory stays flat
in the number of credentials. Credentials holding revocations are indexed apart
(``hold|<key>``, a small set) so the sweep never scans all credentials.

The canonical log is the source of truth: :func:`rebuild` folds published
:class:`~hub.core.lifecycle.Emission` records back into state with :func:`apply` (per
credential) and :func:`index_entry` (per idempotency key). The result equals
:meth:`StateTables.published` of the live tables: everything except held revocations,
which are never published and live only in the changelog (and, within their TTL, in the
decide-requests topic, which a full rebuild may re-decide).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from hub.core.lifecycle import (
    DEFAULT_HOLD_TTL,
    Decision,
    Emission,
    StateChange,
    decide,
    expire,
)
from hub.core.state import (
    CredentialEntry,
    DecisionState,
    IdempotencyState,
    event_elements_digest,
)
from hub.normalise.types import NormalisedEvent


class KeyValueStore(Protocol):
    """The port the tables need from a store (``hub.stream.store`` has the durable
    adapters; :class:`DictStore` is the plain in-memory one)."""

    def get(self, key: str) -> bytes | None:
        """The value of ``key``, or None."""

    def put(self, key: str, value: bytes) -> None:
        """Set ``key``."""

    def delete(self, key: str) -> None:
        """Remove ``key`` (absent keys are fine)."""

    def keys(self, prefix: str = "") -> Iterator[str]:
        """Keys starting with ``prefix``, sorted."""
        ...

    def items(self, prefix: str = "") -> Iterator[tuple[str, bytes]]:
        """(key, value) of keys starting with ``prefix``, sorted by key."""
        ...

    def count(self, prefix: str = "") -> int:
        """How many keys start with ``prefix``."""
        ...


class DictStore:
    """A :class:`KeyValueStore` in a dict (tests, folds, the default of the tables)."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def get(self, key: str) -> bytes | None:
        """The value of ``key``, or None."""
        return self.data.get(key)

    def put(self, key: str, value: bytes) -> None:
        """Set ``key``."""
        self.data[key] = bytes(value)

    def delete(self, key: str) -> None:
        """Remove ``key``."""
        self.data.pop(key, None)

    def keys(self, prefix: str = "") -> Iterator[str]:
        """Keys starting with ``prefix``, sorted."""
        return iter(sorted(k for k in self.data if k.startswith(prefix)))

    def items(self, prefix: str = "") -> Iterator[tuple[str, bytes]]:
        """(key, value) of keys starting with ``prefix``, sorted by key."""
        return ((k, self.data[k]) for k in self.keys(prefix))

    def count(self, prefix: str = "") -> int:
        """How many keys start with ``prefix``."""
        return sum(1 for k in self.data if k.startswith(prefix))


#: key prefixes of the tables in the store: their changelog keys (see hub.core.state)
CREDENTIAL_PREFIX = "cred|"
INDEX_PREFIX = "idem|"
#: credentials holding revocations (a local index, not in the changelog)
HOLD_PREFIX = "hold|"


def apply(state: CredentialEntry | None, emission: Emission) -> CredentialEntry:
    """The credential state after one published credential or revocation record (pure).

    Raises ``ValueError`` for enrolment emissions (they have no credential state) or a
    state of another credential key.
    """
    key = emission.credential_key
    if emission.kind == "enrolment" or key is None:
        raise ValueError("enrolment emissions change only the idempotency index")
    state = state or CredentialEntry(credential_key=key)
    if state.credential_key != key:
        raise ValueError("state belongs to another credential key")
    keys = {**state.keys, emission.idempotency_key: emission.content_digest}
    if emission.kind == "credential":
        return state.model_copy(
            update={
                "status": "revoked" if state.status == "revoked" else "active",
                "learner_id": emission.learner_id,
                "elements_digest": event_elements_digest(emission.event),
                "issued_by": emission.idempotency_key,
                "keys": keys,
            }
        )
    reason = emission.event.record.get("reason")
    return state.model_copy(
        update={
            "status": "revoked",
            "revoked_by": emission.idempotency_key,
            "revocation_reason": reason if isinstance(reason, str) else None,
            "keys": keys,
        }
    )


def index_entry(emission: Emission) -> IdempotencyState:
    """The index entry a published record implies: its key, occupied by an ``accept``."""
    return IdempotencyState(
        idempotency_key=emission.idempotency_key,
        content_digest=emission.content_digest,
        record_type=emission.kind,
        credential_key=emission.credential_key,
        outcome="accept",
    )


#: decoded entries kept per table (the store holds everything; this bounds memory)
DEFAULT_CACHE_SIZE = 4096

M = TypeVar("M", CredentialEntry, IdempotencyState)

#: a credential state's JSON ends like this exactly when it holds no revocations
#: (``held`` is its last field; nested objects come before it)
_NO_HOLDS = b'"held":[]}'


class ModelTable(MutableMapping[str, M]):
    """One state table as a mapping over a :class:`KeyValueStore`.

    Entries live in the store as their changelog JSON under ``<prefix><key>``; a bounded
    LRU cache keeps the most recently used decoded models, so memory does not grow with
    the number of entries. Iteration decodes without caching.
    """

    def __init__(
        self, store: KeyValueStore, prefix: str, model: type[M], cache_size: int
    ) -> None:
        self.store = store
        self.prefix = prefix
        self.model: type[M] = model
        self.cache_size = cache_size
        self._cache: OrderedDict[str, M] = OrderedDict()

    def _remember(self, key: str, value: M) -> None:
        if self.cache_size <= 0:
            return
        self._cache[key] = value
        self._cache.move_to_end(key)
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def __getitem__(self, key: str) -> M:
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        data = self.store.get(self.prefix + key)
        if data is None:
            raise KeyError(key)
        value: M = self.model.from_json(data)
        self._remember(key, value)
        return value

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        return key in self._cache or self.store.get(self.prefix + key) is not None

    def __setitem__(self, key: str, value: M) -> None:
        self.store.put(self.prefix + key, value.to_json())
        self._remember(key, value)

    def __delitem__(self, key: str) -> None:
        if key not in self:
            raise KeyError(key)
        self.discard(key)

    def discard(self, key: str) -> None:
        """Remove ``key`` if present (no error when absent)."""
        self.store.delete(self.prefix + key)
        self._cache.pop(key, None)

    def put_raw(self, key: str, data: bytes | None) -> None:
        """Store an entry as changelog bytes (``None`` removes it), without decoding."""
        self._cache.pop(key, None)
        if data is None:
            self.store.delete(self.prefix + key)
        else:
            self.store.put(self.prefix + key, data)

    def __iter__(self) -> Iterator[str]:
        cut = len(self.prefix)
        return (key[cut:] for key in self.store.keys(self.prefix))

    def __len__(self) -> int:
        return self.store.count(self.prefix)

    def items(self) -> Iterator[tuple[str, M]]:  # type: ignore[override]
        """(key, model) in key order, decoded from the store (not cached)."""
        cut = len(self.prefix)
        for key, data in self.store.items(self.prefix):
            yield key[cut:], self.model.from_json(data)

    def values(self) -> Iterator[M]:  # type: ignore[override]
        """The models in key order."""
        return (value for _, value in self.items())

    def clear_cache(self) -> None:
        """Forget the decoded entries (after the store was changed underneath)."""
        self._cache.clear()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.prefix!r}, {dict(self.items())!r})"


class CredentialTable(ModelTable[CredentialEntry]):
    """The credential table: also keeps the set of credentials that hold revocations,
    in the store under ``hold|<credential key>`` (so a restart need not scan for them)."""

    def __init__(self, store: KeyValueStore, cache_size: int) -> None:
        super().__init__(store, CREDENTIAL_PREFIX, CredentialEntry, cache_size)
        cut = len(HOLD_PREFIX)
        self.holds: set[str] = {key[cut:] for key in store.keys(HOLD_PREFIX)}

    def _held(self, key: str, held: bool) -> None:
        if held and key not in self.holds:
            self.holds.add(key)
            self.store.put(HOLD_PREFIX + key, b"")
        elif not held and key in self.holds:
            self.holds.discard(key)
            self.store.delete(HOLD_PREFIX + key)

    def __setitem__(self, key: str, value: CredentialEntry) -> None:
        super().__setitem__(key, value)
        self._held(key, bool(value.held))

    def discard(self, key: str) -> None:
        super().discard(key)
        self._held(key, False)

    def put_raw(self, key: str, data: bytes | None) -> None:
        super().put_raw(key, data)
        held = data is not None and not bytes(data).endswith(_NO_HOLDS)
        if held and data is not None:
            held = bool(CredentialEntry.from_json(data).held)
        self._held(key, held)


class StateTables:
    """Both state tables over one store (a processor's local store, or a test's).

    ``credentials`` and ``index`` are mappings over a
    :class:`KeyValueStore` (in memory unless one is given), with the
    entries as their changelog JSON under their changelog keys (``cred|…``, ``idem|…``).
    Mutable on purpose: :meth:`store` applies a :class:`StateChange` in place; the store
    buffers the writes until its owner commits them with a changelog checkpoint.
    """

    def __init__(
        self,
        credentials: Mapping[str, CredentialEntry] | None = None,
        index: Mapping[str, IdempotencyState] | None = None,
        *,
        store: KeyValueStore | None = None,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        self.kv: KeyValueStore = DictStore() if store is None else store
        self.credentials = CredentialTable(self.kv, cache_size)
        self.index: ModelTable[IdempotencyState] = ModelTable(
            self.kv, INDEX_PREFIX, IdempotencyState, cache_size
        )
        for key, state in (credentials or {}).items():
            self.credentials[key] = state
        for key, entry in (index or {}).items():
            self.index[key] = entry

    @property
    def with_holds(self) -> frozenset[str]:
        """Credential keys that hold revocations (what :meth:`sweep` looks at)."""
        return frozenset(self.credentials.holds)

    def put_credential(self, state: CredentialEntry) -> None:
        """Store one credential state (an empty one removes the entry)."""
        if state.is_empty:
            self.credentials.discard(state.credential_key)
        else:
            self.credentials[state.credential_key] = state

    def put_index(self, idempotency_key: str, entry: IdempotencyState | None) -> None:
        """Store one index entry (``None`` removes it)."""
        if entry is None:
            self.index.discard(idempotency_key)
        else:
            self.index[idempotency_key] = entry

    def load(self, changelog_key: str, value: bytes | None) -> bool:
        """Apply one changelog record of either table as it is (a restore, no decoding
        beyond spotting held revocations); False when the key is not a table's."""
        if changelog_key.startswith(CREDENTIAL_PREFIX):
            self.credentials.put_raw(changelog_key[len(CREDENTIAL_PREFIX) :], value)
        elif changelog_key.startswith(INDEX_PREFIX):
            self.index.put_raw(changelog_key[len(INDEX_PREFIX) :], value)
        else:
            return False
        return True

    def lookup(self, event: NormalisedEvent) -> DecisionState:
        """The two lookups :func:`decide` needs for ``event``."""
        credential = (
            self.credentials.get(event.credential_key)
            if event.credential_key is not None and event.record_type != "enrolment"
            else None
        )
        return DecisionState(credential=credential, claim=self.index.get(event.idempotency_key))

    def store(self, change: StateChange) -> None:
        """Write a decision's or sweep's new states (empty credential states are dropped)."""
        if change.credential is not None:
            self.put_credential(change.credential)
        for write in change.index_writes:
            self.put_index(write.idempotency_key, write.entry)

    def process(
        self,
        event: NormalisedEvent,
        *,
        now: datetime,
        ttl: timedelta = DEFAULT_HOLD_TTL,
        context: dict[str, Any] | None = None,
    ) -> Decision:
        """Look up, decide and store one event; returns the decision."""
        decision = decide(self.lookup(event), event, now=now, ttl=ttl, context=context)
        self.store(decision)
        return decision

    def sweep(self, *, now: datetime, ttl: timedelta = DEFAULT_HOLD_TTL) -> list[StateChange]:
        """The periodic timer: expire stale holds of every credential; returns the changes."""
        changes: list[StateChange] = []
        for key in sorted(self.credentials.holds):
            credential = self.credentials[key]
            due = credential.next_expiry(ttl)
            if due is not None and due <= now:
                change = expire(credential, now=now, ttl=ttl)
                self.store(change)
                changes.append(change)
        return changes

    def published(self) -> StateTables:
        """The part that follows from published records: no holds, only ``accept`` keys."""
        credentials = {}
        for key, state in self.credentials.items():
            part = state.published()
            if not part.is_empty:
                credentials[key] = part
        index = {k: v for k, v in self.index.items() if v.outcome == "accept"}
        return StateTables(credentials=credentials, index=index)

    # -- snapshots (tests, debugging): every entry decoded --------------------------
    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Both tables as plain JSON-compatible dicts."""
        return {
            "credentials": {k: v.model_dump(mode="json") for k, v in self.credentials.items()},
            "index": {k: v.model_dump(mode="json") for k, v in self.index.items()},
        }

    def model_dump_json(self) -> str:
        """Both tables as one JSON document (:meth:`model_validate_json` reads it back)."""
        return json.dumps(self.snapshot(), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def model_validate_json(cls, data: str | bytes) -> StateTables:
        """Tables (in memory) from :meth:`model_dump_json` output."""
        doc = json.loads(data)
        return cls(
            credentials={
                k: CredentialEntry.model_validate(v) for k, v in doc["credentials"].items()
            },
            index={k: IdempotencyState.model_validate(v) for k, v in doc["index"].items()},
        )

    def model_copy(self, *, deep: bool = True) -> StateTables:
        """A copy in memory of both tables (models are immutable: always deep enough)."""
        return StateTables(
            credentials=dict(self.credentials.items()), index=dict(self.index.items())
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StateTables):
            return NotImplemented
        return dict(self.credentials.items()) == dict(other.credentials.items()) and dict(
            self.index.items()
        ) == dict(other.index.items())

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"StateTables(credentials={dict(self.credentials.items())!r}, "
            f"index={dict(self.index.items())!r})"
        )


def rebuild(emissions: Iterable[Emission]) -> StateTables:
    """State tables from the canonical log, in log order (holds are not in the log)."""
    tables = StateTables()
    for emission in emissions:
        if emission.kind != "enrolment" and emission.credential_key is not None:
            key = emission.credential_key
            tables.credentials[key] = apply(tables.credentials.get(key), emission)
        tables.index[emission.idempotency_key] = index_entry(emission)
    return tables
