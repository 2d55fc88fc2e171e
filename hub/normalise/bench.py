"""Micro-benchmark of the pure normalisers (no Kafka, no I/O)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from hub.normalise import normalise


def normalise_rate(feed: str, payloads: Sequence[bytes], seconds: float = 1.0) -> float:
    """Events per second of :func:`hub.normalise.normalise` over ``payloads``, cycled.

    Counts normalised items (one per ``he``/``vet`` message, one per ``al`` data row),
    whatever their outcome, for at least ``seconds`` of wall-clock time.
    """
    if not payloads:
        raise ValueError("no payloads to benchmark")
    events = 0
    started = time.perf_counter()
    deadline = started + seconds
    while True:
        for payload in payloads:
            events += max(1, len(normalise(feed, payload).items))
        now = time.perf_counter()
        if now >= deadline:
            return events / (now - started)
