"""The hub's status lists as a service: idempotent allocation, revocation, publication.

:class:`StatusPublisher` is what the wallet and EDC destinations use:

* :meth:`StatusPublisher.allocate` gives a credential its revocation entry — a random,
  never-shared index in the current list — and gives the *same* entry back when asked
  again for the same credential (a redelivered issuance, or the other destination
  rendering the same credential), so one revocation bit covers every format sent out;
* :meth:`StatusPublisher.revoke` sets the credential's bit (idempotent: a second call
  changes nothing), re-signs the list credential with
  :meth:`connectors.crypto.statuslist.StatusListService.set_status` and stores the signed
  VC-JWT, which the status server (:mod:`connectors.status.server`) publishes.

Lists hold 131,072 entries; when one is full the next gets the next number as its id.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from connectors.crypto.keys import Signer
from connectors.crypto.statuslist import (
    DEV_STATUS_BASE_URL,
    MIN_BITS,
    RANDOM_TRIES,
    StatusListError,
    StatusListService,
    get_bit,
)
from connectors.render import StatusPurpose, StatusRef
from connectors.status.store import SqliteStatusStore

#: the purpose of the lists the hub hands out today (suspension lists may follow)
REVOCATION: Final = "revocation"


#: status entries a publisher keeps in memory (forgotten all at once when full)
KNOWN_ENTRIES: Final = 10_000


def hub_issuer_id(signer: Signer) -> str:
    """The issuer of the hub's status list credentials: ``urn:mchub:issuer:<org id>``."""
    return f"urn:mchub:issuer:{signer.organization_identifier() or signer.x5t_s256()}"


@dataclass
class StatusPublisher:
    """Allocates, revokes and signs status entries kept in a :class:`SqliteStatusStore`."""

    store: SqliteStatusStore
    signer: Signer
    base_url: str = DEV_STATUS_BASE_URL
    list_size: int = MIN_BITS
    randbelow: Callable[[int], int] = secrets.randbelow
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        # an entry never moves once handed out, so entries seen are kept in memory (the
        # wallet and EDC destinations ask once per batch, then once per credential)
        self._known: dict[tuple[str, StatusPurpose], StatusRef] = {}
        self.service = StatusListService(
            self.store,
            self.signer,
            hub_issuer_id(self.signer),
            self.base_url,
            randbelow=self.randbelow,
            clock=self.clock,
        )

    def list_url(self, list_id: str) -> str:
        """The public URL of a list credential (``statusListCredential``)."""
        return self.service.list_url(list_id)

    def allocate(self, credential_id: str, purpose: StatusPurpose = REVOCATION) -> StatusRef:
        """The credential's status entry: found again, or freshly drawn at random."""
        known = self._known.get((credential_id, purpose))
        if known is not None:
            return known
        found = self.store.entry_of(credential_id, purpose)
        if found is not None:
            return self._remember(credential_id, found.list_id, found.index, purpose)
        with self.store.transaction():
            found = self.store.entry_of(credential_id, purpose)  # another process won the race
            if found is not None:
                return self._remember(credential_id, found.list_id, found.index, purpose)
            list_id, size, _ = self.store.open_list(purpose, self.list_size)
            index = self._claim(list_id, size, purpose, credential_id)
        self.publish_stale()
        return self._remember(credential_id, list_id, index, purpose)

    def allocate_many(
        self, credential_ids: Iterable[str], purpose: StatusPurpose = REVOCATION
    ) -> dict[str, StatusRef]:
        """:meth:`allocate` for many credentials at once: one write transaction (one
        commit, one sync to disk) for all the entries still to draw, instead of one each.

        The destinations call it once per delivery batch, before building any request,
        so every entry is on disk before a credential carrying it is sent. The entries
        are the ones :meth:`allocate` gives, called one by one in this order (same draws,
        same lists, same roll-over); later :meth:`allocate` calls find them in memory.
        """
        wanted = list(dict.fromkeys(credential_ids))
        refs: dict[str, StatusRef] = {}
        missing: list[str] = []
        for credential_id in wanted:
            known = self._known.get((credential_id, purpose))
            if known is not None:
                refs[credential_id] = known
            else:
                missing.append(credential_id)
        missing = self._found(missing, purpose, refs)
        if missing:
            with self.store.transaction():
                missing = self._found(missing, purpose, refs)  # another process's claims
                while missing:
                    list_id, size, used = self.store.open_list(purpose, self.list_size)
                    room = size - used
                    for credential_id in missing[:room]:
                        index = self._claim(list_id, size, purpose, credential_id)
                        refs[credential_id] = StatusRef(self.list_url(list_id), index, purpose)
                    missing = missing[room:]
            self.publish_stale()
        for credential_id, ref in refs.items():
            self._keep(credential_id, ref)
        return {credential_id: refs[credential_id] for credential_id in wanted}

    def _found(
        self, credential_ids: list[str], purpose: StatusPurpose, refs: dict[str, StatusRef]
    ) -> list[str]:
        """Add the stored entries of ``credential_ids`` to ``refs``; the ids without one."""
        if not credential_ids:
            return []
        found = self.store.entries_of(credential_ids, purpose)
        for credential_id, entry in found.items():
            refs[credential_id] = StatusRef(self.list_url(entry.list_id), entry.index, purpose)
        return [c for c in credential_ids if c not in found]

    def _remember(
        self, credential_id: str, list_id: str, index: int, purpose: StatusPurpose
    ) -> StatusRef:
        ref = StatusRef(self.list_url(list_id), index, purpose)
        self._keep(credential_id, ref)
        return ref

    def _keep(self, credential_id: str, ref: StatusRef) -> None:
        if len(self._known) >= KNOWN_ENTRIES:
            self._known.clear()
        self._known[(credential_id, ref.purpose)] = ref

    def _claim(self, list_id: str, size: int, purpose: StatusPurpose, credential_id: str) -> int:
        for _ in range(RANDOM_TRIES):
            index = self.randbelow(size)
            if self.store.try_claim(list_id, index, purpose, credential_id):
                return index
        used = self.store.used_indexes(list_id)
        free = [i for i in range(size) if i not in used]
        if not free:  # pragma: no cover - open_list never returns a full list
            raise StatusListError(f"status list {list_id} is full")
        index = free[self.randbelow(len(free))]
        if not self.store.try_claim(list_id, index, purpose, credential_id):
            raise StatusListError(f"index {index} of list {list_id} was taken concurrently")
        return index

    def revoke(
        self,
        credential_id: str,
        reason: str | None = None,
        purpose: StatusPurpose = REVOCATION,
    ) -> tuple[StatusRef, bool]:
        """Set the credential's bit; ``(entry, changed)`` — changed False when already set.

        A credential that never got an entry (it was never sent anywhere with a status)
        gets one now, already set, so a later rendering could never show it as valid.
        """
        ref = self.allocate(credential_id, purpose)
        list_id = ref.list_url.rsplit("/", 1)[-1]
        with self.store.transaction():
            state = self.store.get(list_id)
            if state is None:  # pragma: no cover - allocate created it
                raise StatusListError(f"no status list {list_id}")
            changed = not get_bit(state.bits, ref.index)
            if changed:
                token = self.service.set_status(list_id, ref.index, True)
                self.store.save_signed(list_id, token, state.version + 1)
            self.store.mark_revoked(credential_id, purpose, reason)
        self.publish_stale()
        return ref, changed

    def is_revoked(self, credential_id: str, purpose: StatusPurpose = REVOCATION) -> bool:
        """Whether the credential's bit is set (False when it has no entry)."""
        entry = self.store.entry_of(credential_id, purpose)
        if entry is None:
            return False
        state = self.store.get(entry.list_id)
        return state is not None and get_bit(state.bits, entry.index)

    def publish(self, list_id: str) -> str:
        """Sign the list's current state and store it for the status server; the VC-JWT."""
        with self.store.transaction():
            version = self.store.version(list_id)
            if version is None:
                raise StatusListError(f"no status list {list_id}")
            token = self.service.signed_credential(list_id)
            self.store.save_signed(list_id, token, version)
        return token

    def publish_stale(self) -> list[str]:
        """Re-sign every list whose published credential is missing or out of date."""
        stale = self.store.stale_lists()
        for list_id in stale:
            self.publish(list_id)
        return stale

    def signed(self, list_id: str) -> str:
        """The published list credential (signed now if it never was)."""
        found = self.store.signed(list_id)
        if found is None or found.version != self.store.version(list_id):
            return self.publish(list_id)
        return found.token
