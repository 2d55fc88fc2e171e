"""The hub's status lists as a service: idempotent allocation, revocation, publication.

:class:`StatusPublisher` is what the wallet and EDC destinations use:

* :meth:`StatusPublisher.allocate` gives a credential its revocation entry in a list of
  the credential's *issuer* — a random, never-shared index in that issuer's current
  list — and gives the *same* entry back when asked again for the same credential and
  issuer (a redelivered issuance). Lists are kept per issuer because a W3C Bitstring
  Status List verifier checks that the list credential's ``issuer`` is the issuer of the
  credential it checks: an Open Badge's entry is in its awarding body's list (issuer =
  the body's issuer URL), the ELM form of the same credential has its entry in the list
  of the hub's ELM issuer (:func:`hub_issuer_id`);
* :meth:`StatusPublisher.revoke` sets the credential's bit in *every* list it has an
  entry in (idempotent: a second call changes nothing), re-signs those list credentials
  with :meth:`hub.crypto.statuslist.StatusListService.set_status` and stores the
  signed VC-JWTs, which the status server (:mod:`connectors.status.server`) publishes.
  An entry drawn later for a revoked credential is set at once.

Lists hold 131,072 entries; when one is full the next gets the next free number as its
id. The lists' URLs are ``<base_url>/<list id>``; ``base_url`` defaults to
``load_settings().issuing.status_base_url`` (``<public base URL>/v1/status``).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final
from urllib.parse import quote

from connectors.status.store import SqliteStatusStore
from hub.crypto.jwks import key_thumbprint, key_url
from hub.crypto.keys import Signer
from hub.crypto.statuslist import MIN_BITS, RANDOM_TRIES, StatusListService, get_bit, set_bit
from hub.errors import StatusListError
from hub.render import StatusPurpose, StatusRef
from hub.render.elm import issuer_node_id
from hub.settings import load_settings

#: the path the status server serves lists under (``<public base URL>/v1/status``)
STATUS_PATH: Final = "/v1/status"

#: the purpose of the lists the hub hands out today (suspension lists may follow)
REVOCATION: Final = "revocation"


#: status entries a publisher keeps in memory (forgotten all at once when full)
KNOWN_ENTRIES: Final = 10_000


def hub_issuer_id(signer: Signer) -> str:
    """The hub's ELM issuer: the ``issuer`` node id of its sealed ELM credentials
    (``urn:epass:org:<uuid>`` from the seal certificate's organizationIdentifier), so
    also the issuer of the lists their entries are in. Without an organizationIdentifier
    (no ELM can be sealed then): ``urn:mchub:issuer:<certificate thumbprint>``."""
    ident = signer.organization_identifier()
    return issuer_node_id(ident) if ident else f"urn:mchub:issuer:{signer.x5t_s256()}"


def legacy_issuer_id(signer: Signer) -> str:
    """The issuer that lists made before lists were kept per issuer are signed with (as
    they always were): ``urn:mchub:issuer:<organization id>``."""
    return f"urn:mchub:issuer:{signer.organization_identifier() or signer.x5t_s256()}"


def hub_key_owner_url(public_base_url: str, signer: Signer) -> str:
    """Where the hub's own signing keys are published for issuers that are not URLs (the
    ELM sealing organisation of the ELM status lists): ``<public base>/v1/issuers/eidas/
    <organization identifier>``; the ``kid`` of those lists is ``<that>/keys/<thumbprint>``.
    """
    ident = signer.organization_identifier() or signer.x5t_s256()
    return f"{public_base_url.rstrip('/')}/v1/issuers/eidas/{quote(ident, safe='')}"


def _default_base_url() -> str:
    return load_settings().issuing.status_base_url


@dataclass
class StatusPublisher:
    """Allocates, revokes and signs status entries kept in a :class:`SqliteStatusStore`."""

    store: SqliteStatusStore
    signer: Signer
    base_url: str = field(default_factory=_default_base_url)
    list_size: int = MIN_BITS
    randbelow: Callable[[int], int] = secrets.randbelow
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    #: the issuer server's public URL (keys of the lists' signatures are under it);
    #: default: ``base_url`` without ``/v1/status``, else ``MCHUB_PUBLIC_BASE_URL``
    public_base_url: str = ""

    def __post_init__(self) -> None:
        if not self.public_base_url:
            base = self.base_url.rstrip("/")
            self.public_base_url = (
                base.removesuffix(STATUS_PATH)
                if base.endswith(STATUS_PATH)
                else load_settings().issuing.public_base_url
            )
        # an entry never moves once handed out, so entries seen are kept in memory (the
        # wallet and EDC destinations ask once per batch, then once per credential)
        self._known: dict[tuple[str, StatusPurpose, str], StatusRef] = {}
        #: the issuer of entries allocated without one: the hub's ELM issuer
        self.issuer_id = hub_issuer_id(self.signer)
        self.service = StatusListService(
            self.store,
            self.signer,
            legacy_issuer_id(self.signer),  # lists without an issuer of their own
            self.base_url,
            randbelow=self.randbelow,
            clock=self.clock,
            kid_for=self.kid_for,
        )

    def kid_for(self, issuer: str) -> str | None:
        """The ``kid`` of a list credential of ``issuer``: the default (key URL under the
        issuer's profile URL) for an http(s) issuer, else the key URL under
        :func:`hub_key_owner_url`."""
        if issuer.startswith(("https://", "http://")):
            return None
        return key_url(
            hub_key_owner_url(self.public_base_url, self.signer), key_thumbprint(self.signer)
        )

    def list_url(self, list_id: str) -> str:
        """The public URL of a list credential (``statusListCredential``)."""
        return self.service.list_url(list_id)

    def allocate(
        self,
        credential_id: str,
        purpose: StatusPurpose = REVOCATION,
        *,
        issuer: str | None = None,
    ) -> StatusRef:
        """The credential's status entry in a list of ``issuer`` (default: the hub's ELM
        issuer): found again, or freshly drawn at random."""
        owner = issuer or self.issuer_id
        known = self._known.get((credential_id, purpose, owner))
        if known is not None:
            return known
        found = self.store.entry_of(credential_id, purpose, issuer=owner)
        if found is not None:
            return self._remember(credential_id, owner, found.list_id, found.index, purpose)
        with self.store.transaction():
            # another process may have won the race
            found = self.store.entry_of(credential_id, purpose, issuer=owner)
            if found is not None:
                return self._remember(credential_id, owner, found.list_id, found.index, purpose)
            list_id, size, _ = self.store.open_list(purpose, self.list_size, issuer=owner)
            index = self._claim(list_id, size, purpose, credential_id, owner)
            self._set_if_revoked({credential_id: (list_id, index)}, purpose)
            self.publish_stale()  # a new list is signed in the same commit
        return self._remember(credential_id, owner, list_id, index, purpose)

    def allocate_many(
        self,
        credential_ids: Iterable[str],
        purpose: StatusPurpose = REVOCATION,
        *,
        issuers: Mapping[str, str] | None = None,
    ) -> dict[str, StatusRef]:
        """:meth:`allocate` for many credentials at once: one write transaction (one
        commit, one sync to disk) for all the entries still to draw, instead of one each.

        ``issuers`` maps a credential id to the issuer whose list its entry goes in
        (missing: the hub's ELM issuer). The destinations call it once per delivery
        batch, before building any request, so every entry is on disk before a
        credential carrying it is sent. For one issuer the entries are the ones
        :meth:`allocate` gives, called one by one in this order (same draws, same lists,
        same roll-over); later :meth:`allocate` calls find them in memory.
        """
        wanted = list(dict.fromkeys(credential_ids))
        chosen = issuers or {}
        by_issuer: dict[str, list[str]] = {}
        refs: dict[str, StatusRef] = {}
        for credential_id in wanted:
            owner = chosen.get(credential_id) or self.issuer_id
            known = self._known.get((credential_id, purpose, owner))
            if known is not None:
                refs[credential_id] = known
            else:
                by_issuer.setdefault(owner, []).append(credential_id)
        missing = {
            owner: left
            for owner, ids in by_issuer.items()
            if (left := self._found(ids, purpose, owner, refs))
        }
        if missing:
            with self.store.transaction():
                claimed: dict[str, tuple[str, int]] = {}
                for owner, ids in missing.items():
                    left = self._found(ids, purpose, owner, refs)  # another process's claims
                    while left:
                        list_id, size, used = self.store.open_list(
                            purpose, self.list_size, issuer=owner
                        )
                        room = size - used
                        for credential_id in left[:room]:
                            index = self._claim(list_id, size, purpose, credential_id, owner)
                            refs[credential_id] = StatusRef(self.list_url(list_id), index, purpose)
                            claimed[credential_id] = (list_id, index)
                        left = left[room:]
                self._set_if_revoked(claimed, purpose)
                self.publish_stale()  # new lists are signed in the same commit
        for credential_id, ref in refs.items():
            self._keep(credential_id, chosen.get(credential_id) or self.issuer_id, ref)
        return {credential_id: refs[credential_id] for credential_id in wanted}

    def _found(
        self,
        credential_ids: list[str],
        purpose: StatusPurpose,
        issuer: str,
        refs: dict[str, StatusRef],
    ) -> list[str]:
        """Add the stored entries of ``credential_ids`` to ``refs``; the ids without one."""
        if not credential_ids:
            return []
        found = self.store.entries_of(credential_ids, purpose, issuer=issuer)
        for credential_id, entry in found.items():
            refs[credential_id] = StatusRef(self.list_url(entry.list_id), entry.index, purpose)
        return [c for c in credential_ids if c not in found]

    def _set_if_revoked(
        self, claimed: Mapping[str, tuple[str, int]], purpose: StatusPurpose
    ) -> None:
        """Set the new entries of credentials revoked already (inside the transaction):
        a revoked credential rendered for another issuer must not show as valid."""
        if not claimed:
            return
        revoked = self.store.revoked_among(list(claimed), purpose)
        by_list: dict[str, list[int]] = {}
        for credential_id in revoked:
            list_id, index = claimed[credential_id]
            by_list.setdefault(list_id, []).append(index)
        for list_id, indexes in by_list.items():
            state = self.store.get(list_id)
            if state is None:  # pragma: no cover - the claim created it
                raise StatusListError(f"no status list {list_id}")
            for index in indexes:
                set_bit(state.bits, index)
            state.version += 1
            self.store.put(state)
        for credential_id, reason in revoked.items():
            self.store.mark_revoked(credential_id, purpose, reason)

    def _remember(
        self, credential_id: str, issuer: str, list_id: str, index: int, purpose: StatusPurpose
    ) -> StatusRef:
        ref = StatusRef(self.list_url(list_id), index, purpose)
        self._keep(credential_id, issuer, ref)
        return ref

    def _keep(self, credential_id: str, issuer: str, ref: StatusRef) -> None:
        if len(self._known) >= KNOWN_ENTRIES:
            self._known.clear()
        self._known[(credential_id, ref.purpose, issuer)] = ref

    def _claim(
        self, list_id: str, size: int, purpose: StatusPurpose, credential_id: str, issuer: str
    ) -> int:
        for _ in range(RANDOM_TRIES):
            index = self.randbelow(size)
            if self.store.try_claim(list_id, index, purpose, credential_id, issuer):
                return index
        used = self.store.used_indexes(list_id)
        free = [i for i in range(size) if i not in used]
        if not free:  # pragma: no cover - open_list never returns a full list
            raise StatusListError(f"status list {list_id} is full")
        index = free[self.randbelow(len(free))]
        if not self.store.try_claim(list_id, index, purpose, credential_id, issuer):
            raise StatusListError(f"index {index} of list {list_id} was taken concurrently")
        return index

    def revoke(
        self,
        credential_id: str,
        reason: str | None = None,
        purpose: StatusPurpose = REVOCATION,
    ) -> tuple[StatusRef, bool]:
        """Set the credential's bit in every list it has an entry in (one per issuer);
        ``(entry, changed)`` — the entry in the oldest of those lists, changed False when
        every bit was set already.

        A credential that never got an entry (it was never sent anywhere with a status)
        gets one now in the hub's list, already set; entries drawn for it later (another
        issuer's rendering) are set as they are drawn, so no rendering shows it valid.
        """
        entries = self.store.credential_entries(credential_id, purpose)
        if not entries:
            self.allocate(credential_id, purpose)
            entries = self.store.credential_entries(credential_id, purpose)
        changed = False
        with self.store.transaction():
            for entry in entries:
                state = self.store.get(entry.list_id)
                if state is None:  # pragma: no cover - the entry's list exists
                    raise StatusListError(f"no status list {entry.list_id}")
                if not get_bit(state.bits, entry.index):
                    token = self.service.set_status(entry.list_id, entry.index, True)
                    self.store.save_signed(entry.list_id, token, state.version + 1)
                    changed = True
            self.store.mark_revoked(credential_id, purpose, reason)
        self.publish_stale()
        first = entries[0]
        return StatusRef(self.list_url(first.list_id), first.index, purpose), changed

    def is_revoked(self, credential_id: str, purpose: StatusPurpose = REVOCATION) -> bool:
        """Whether the credential's bit is set in any of its lists (False without entry)."""
        for entry in self.store.credential_entries(credential_id, purpose):
            state = self.store.get(entry.list_id)
            if state is not None and get_bit(state.bits, entry.index):
                return True
        return False

    def publish(self, list_id: str) -> str:
        """Sign the list's current state and store it for the status server; the VC-JWT."""
        with self.store.transaction():
            version = self.store.version(list_id)
            if version is None:
                raise StatusListError(f"no status list {list_id}")
            token = self.service.signed_credential(list_id)
            self.store.save_signed(list_id, token, version)
        return token

    def republish(self) -> list[str]:
        """Re-sign every list (one commit): after the public base URL changed, the lists
        signed before name the old address in their ``id``."""
        with self.store.transaction():
            ids = self.store.list_ids()
            for list_id in ids:
                self.publish(list_id)
        return ids

    def publish_stale(self) -> list[str]:
        """Re-sign every list whose published credential is missing or out of date."""
        if not self.store.stale_lists():
            return []
        with self.store.transaction():  # one commit for all of them
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
