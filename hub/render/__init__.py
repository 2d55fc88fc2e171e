"""Pure renderers from a canonical credential record (feed contract §1.2) to credential
documents: ELM 3 / EDC JSON-LD (:mod:`hub.render.elm`) and Open Badges 3.0
(:mod:`hub.render.ob3`). No I/O, no clock, no randomness unless passed in."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

#: the issuer server's address on a development machine (``Settings().issuing`` has the real one)
DEV_PUBLIC_BASE_URL: Final = "http://localhost:8080"

StatusPurpose = Literal["revocation", "suspension"]


@dataclass(frozen=True)
class StatusRef:
    """Where a credential's status bit lives: a Bitstring Status List credential and an index."""

    list_url: str
    index: int
    purpose: StatusPurpose = "revocation"

    @property
    def entry_id(self) -> str:
        """The status entry's URL: the list URL with the index as fragment."""
        return f"{self.list_url}#{self.index}"


@dataclass(frozen=True)
class RenderInput:
    """Everything a renderer needs about one issued credential.

    ``elements`` is the §1.2 element dict (``samples/expected/*.json`` ``elements``);
    ``credential_id`` a hub-wide UUID string; ``issued_at`` an aware datetime.
    ``public_base_url`` is the hub's issuer server (OB3 ``issuer.id`` lives under it);
    ``subject_secret`` the pseudonym secret of OB3 ``credentialSubject.id`` (no ``id``
    without it).
    """

    credential_id: str
    credential_key: str
    elements: dict[str, Any]
    issued_at: datetime
    status: StatusRef | None = None
    public_base_url: str = DEV_PUBLIC_BASE_URL
    subject_secret: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.issued_at.tzinfo is None:
            raise ValueError("issued_at must be timezone-aware")

    @property
    def feed(self) -> str:
        """The source feed (``he``, ``vet``, ``al``): the credential key's prefix."""
        return self.credential_key.split(":", 1)[0]
