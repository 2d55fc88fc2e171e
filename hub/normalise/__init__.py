"""Sector normalisers: pure functions from a sector payload to canonical records.

:func:`normalise` is the public entry: ``normalise(feed, payload)`` turns the raw bytes of
one source message into a :class:`~hub.normalise.types.MessageResult`. For ``he`` and
``vet`` the result always holds exactly one item (valid or rejected); for ``al`` it holds
one item per data row, or only ``file_violations`` when the whole file is rejected.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from hub.normalise.al import normalise_al
from hub.normalise.he import normalise_he
from hub.normalise.mappings import MAPPING_VERSION
from hub.normalise.types import ItemResult, MessageResult, NormalisedEvent, Violation
from hub.normalise.vet import normalise_vet

__all__ = [
    "FEEDS",
    "MAPPING_VERSION",
    "ItemResult",
    "MessageResult",
    "NormalisedEvent",
    "Violation",
    "normalise",
    "normalise_al",
    "normalise_he",
    "normalise_vet",
]

#: feed id -> its pure normaliser
FEEDS: Final[dict[str, Callable[[bytes], MessageResult]]] = {
    "he": normalise_he,
    "vet": normalise_vet,
    "al": normalise_al,
}


def normalise(feed: str, payload: bytes) -> MessageResult:
    """Normalise one source message of ``feed`` (``he``, ``vet`` or ``al``).

    Pure and total over the payload: every byte string gives a result (never an exception;
    the fuzz tests hold the normalisers to this). An unknown feed is a programming error
    (``ValueError``). Any other exception would be a normaliser bug; it is deliberately not
    disguised as a rejection, so the stream's ingest stage dead-letters the intact bytes.
    """
    normaliser = FEEDS.get(feed)
    if normaliser is None:
        raise ValueError(f"unknown feed {feed!r}; expected one of {', '.join(FEEDS)}")
    return normaliser(payload if isinstance(payload, bytes) else bytes(payload))
