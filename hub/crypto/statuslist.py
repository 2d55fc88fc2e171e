"""W3C Bitstring Status List v1.0: revocation bits for issued credentials.

A list is a bitstring of at least 131,072 entries (16 KiB). Index 0 is the left-most,
most significant bit of the first byte. It is published inside a
``BitstringStatusListCredential`` whose ``encodedList`` is multibase base64url (``u``
prefix, no padding) of the GZIP-compressed bitstring. Indexes are drawn at random
(``secrets``) so an index reveals nothing about issuance order; allocated indexes are
tracked so two credentials never share one. Setting a bit (revocation is final) re-signs
the list credential.

State lives behind the small :class:`StatusListStore` protocol: in memory for tests, a
JSON file per list for the CLI; a database adapter can come later.
"""

from __future__ import annotations

import base64
import gzip
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Protocol

from hub.crypto.keys import Signer
from hub.crypto.vcjwt import sign_vc
from hub.errors import StatusListError
from hub.render import DEV_PUBLIC_BASE_URL, StatusPurpose, StatusRef
from hub.render.jsonld import VC_V2_CONTEXT
from hub.render.ob3 import status_entry

__all__ = ["status_entry"]

MIN_BITS: Final = 131_072
#: random draws before falling back to choosing among the free indexes
RANDOM_TRIES: Final = 64
#: list URL prefix when none is given (the file-backed CLI lists): the development issuer
#: server's; the hub's publisher takes ``Settings().issuing.status_base_url`` instead
DEV_STATUS_BASE_URL: Final = f"{DEV_PUBLIC_BASE_URL}/v1/status"




# --- the bitstring --------------------------------------------------------------------


def new_bitstring(size: int = MIN_BITS) -> bytearray:
    """An all-zero bitstring of ``size`` bits (at least 131,072, a multiple of 8)."""
    if size < MIN_BITS or size % 8:
        raise StatusListError(f"a status list needs >= {MIN_BITS} bits, a multiple of 8")
    return bytearray(size // 8)


def get_bit(bits: bytes | bytearray, index: int) -> bool:
    """Bit ``index`` (0 = left-most bit of the first byte)."""
    _check_index(bits, index)
    return bool(bits[index // 8] & (0x80 >> (index % 8)))


def set_bit(bits: bytearray, index: int, value: bool = True) -> None:
    """Set or clear bit ``index`` in place."""
    _check_index(bits, index)
    mask = 0x80 >> (index % 8)
    if value:
        bits[index // 8] |= mask
    else:
        bits[index // 8] &= ~mask & 0xFF


def _check_index(bits: bytes | bytearray, index: int) -> None:
    if not 0 <= index < len(bits) * 8:
        raise StatusListError(f"index {index} outside the list (0..{len(bits) * 8 - 1})")


def encode_list(bits: bytes | bytearray) -> str:
    """``encodedList``: ``u`` + base64url (no padding) of GZIP(bits); deterministic (mtime 0)."""
    packed = gzip.compress(bytes(bits), compresslevel=9, mtime=0)
    return "u" + base64.urlsafe_b64encode(packed).rstrip(b"=").decode("ascii")


def decode_list(encoded: str, *, min_bits: int = MIN_BITS) -> bytes:
    """Inverse of :func:`encode_list`; rejects other multibase prefixes and short lists."""
    if not encoded.startswith("u"):
        raise StatusListError("encodedList must be multibase base64url (prefix 'u')")
    body = encoded[1:]
    try:
        bits = gzip.decompress(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (ValueError, OSError, EOFError) as exc:
        raise StatusListError(f"encodedList is not base64url GZIP data: {exc}") from exc
    if len(bits) * 8 < min_bits:
        raise StatusListError(f"status list has {len(bits) * 8} bits, fewer than {min_bits}")
    return bits


# --- state and stores -----------------------------------------------------------------


@dataclass
class StatusListState:
    """One list: its bits, the indexes handed out, and a version bumped on every change.

    ``issuer`` is the issuer of the credentials whose entries the list holds, and so the
    issuer of the list credential; ``''`` means the service's own ``issuer_id``.
    """

    list_id: str
    purpose: StatusPurpose = "revocation"
    bits: bytearray = field(default_factory=new_bitstring)
    allocated: set[int] = field(default_factory=set)
    version: int = 0
    issuer: str = ""

    @property
    def size(self) -> int:
        """Number of entries."""
        return len(self.bits) * 8


class StatusListStore(Protocol):
    """Where list state lives (get/put a whole list)."""

    def get(self, list_id: str) -> StatusListState | None:
        """The list, or None when it does not exist yet."""

    def put(self, state: StatusListState) -> None:
        """Store the list (replacing the previous version)."""


class InMemoryStatusListStore:
    """A :class:`StatusListStore` in a dict (tests, single process)."""

    def __init__(self) -> None:
        self._lists: dict[str, StatusListState] = {}

    def get(self, list_id: str) -> StatusListState | None:
        """The stored list or None."""
        return self._lists.get(list_id)

    def put(self, state: StatusListState) -> None:
        """Replace the stored list."""
        self._lists[state.list_id] = state


class JsonFileStatusListStore:
    """A :class:`StatusListStore` with one JSON file per list in a directory (CLI use)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, list_id: str) -> Path:
        """The state file of a list."""
        return self.directory / f"statuslist-{list_id}.state.json"

    def get(self, list_id: str) -> StatusListState | None:
        """The list read from its file, or None."""
        path = self.path(list_id)
        if not path.exists():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        return StatusListState(
            list_id=data["listId"],
            purpose=data["purpose"],
            bits=bytearray(decode_list(data["encodedList"])),
            allocated=set(data["allocated"]),
            version=data["version"],
            issuer=data.get("issuer", ""),
        )

    def put(self, state: StatusListState) -> None:
        """Write the list atomically (temp file + rename)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        data = {
            "listId": state.list_id,
            "purpose": state.purpose,
            "encodedList": encode_list(state.bits),
            "allocated": sorted(state.allocated),
            "version": state.version,
            "issuer": state.issuer,
        }
        path = self.path(state.list_id)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        tmp.replace(path)


# --- the service ----------------------------------------------------------------------


@dataclass
class StatusListService:
    """Allocates status entries and publishes signed status list credentials.

    ``issuer_id`` is the issuer of lists whose state names none (see
    :class:`StatusListState`); a list credential's ``issuer`` must be the ``issuer`` of
    the credentials pointing at it (W3C Bitstring Status List, section 3.2: verifiers
    check it).
    """

    store: StatusListStore
    signer: Signer
    issuer_id: str
    base_url: str = DEV_STATUS_BASE_URL
    randbelow: Callable[[int], int] = secrets.randbelow
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    #: the VC-JWT ``kid`` for a list of this issuer (None: :func:`sign_vc`'s default, the
    #: key URL under an http(s) issuer id); an issuer that is no URL needs one
    kid_for: Callable[[str], str | None] = field(default=lambda issuer: None)

    def list_url(self, list_id: str) -> str:
        """The URL of a list's status list credential."""
        return f"{self.base_url.rstrip('/')}/{list_id}"

    def _state(self, list_id: str, purpose: StatusPurpose) -> StatusListState:
        state = self.store.get(list_id)
        if state is None:
            state = StatusListState(list_id=list_id, purpose=purpose)
        elif state.purpose != purpose:
            raise StatusListError(f"list {list_id} is for {state.purpose}, not {purpose}")
        return state

    def allocate(self, list_id: str = "1", purpose: StatusPurpose = "revocation") -> StatusRef:
        """A fresh random index in the list (never one handed out before)."""
        state = self._state(list_id, purpose)
        if len(state.allocated) >= state.size:
            raise StatusListError(f"status list {list_id} is full")
        index = self._draw(state)
        state.allocated.add(index)
        state.version += 1
        self.store.put(state)
        return StatusRef(self.list_url(list_id), index, purpose)

    def _draw(self, state: StatusListState) -> int:
        for _ in range(RANDOM_TRIES):
            index = self.randbelow(state.size)
            if index not in state.allocated:
                return index
        free = [i for i in range(state.size) if i not in state.allocated]
        return free[self.randbelow(len(free))]

    def set_status(self, list_id: str, index: int, value: bool = True) -> str:
        """Set (revoke) or clear (lift a suspension) one allocated entry; the re-signed list.

        Revocation is final: clearing a bit of a revocation list is refused.
        """
        state = self.store.get(list_id)
        if state is None:
            raise StatusListError(f"no status list {list_id}")
        if index not in state.allocated:
            raise StatusListError(f"index {index} was never allocated in list {list_id}")
        if not value and state.purpose == "revocation" and get_bit(state.bits, index):
            raise StatusListError("revocation is final: a revoked entry cannot be cleared")
        set_bit(state.bits, index, value)
        state.version += 1
        self.store.put(state)
        return self.signed_credential(list_id)

    def revoke(self, ref: StatusRef) -> str:
        """Revoke the credential behind ``ref``; the re-signed list credential."""
        return self.set_status(ref.list_url.rsplit("/", 1)[-1], ref.index, True)

    def credential(self, list_id: str) -> dict[str, Any]:
        """The (unsigned) ``BitstringStatusListCredential`` of a list."""
        state = self.store.get(list_id)
        if state is None:
            raise StatusListError(f"no status list {list_id}")
        url = self.list_url(list_id)
        return {
            "@context": [VC_V2_CONTEXT],
            "id": url,
            "type": ["VerifiableCredential", "BitstringStatusListCredential"],
            "issuer": state.issuer or self.issuer_id,
            "validFrom": self.clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "credentialSubject": {
                "id": f"{url}#list",
                "type": "BitstringStatusList",
                "statusPurpose": state.purpose,
                "encodedList": encode_list(state.bits),
            },
        }

    def signed_credential(self, list_id: str) -> str:
        """The list credential signed as a VC-JWT (``iss`` = the list's issuer)."""
        credential = self.credential(list_id)
        return sign_vc(credential, self.signer, kid=self.kid_for(str(credential["issuer"])))


def status_in_list(list_credential: dict[str, Any], index: int, purpose: str) -> bool:
    """Whether entry ``index`` is set in a (verified) status list credential."""
    subject = list_credential.get("credentialSubject")
    if not isinstance(subject, dict) or subject.get("type") != "BitstringStatusList":
        raise StatusListError("not a BitstringStatusList credential")
    if subject.get("statusPurpose") != purpose:
        raise StatusListError(f"list purpose {subject.get('statusPurpose')!r} is not {purpose!r}")
    return get_bit(decode_list(str(subject.get("encodedList", ""))), index)
