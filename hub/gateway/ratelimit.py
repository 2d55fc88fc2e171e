"""Per-source rate limiting: one token bucket per source (429 with ``Retry-After``)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` banked; one request costs one token."""

    rate: float
    burst: int
    clock: Callable[[], float] = time.monotonic
    tokens: float = field(init=False)
    stamp: float = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = float(self.burst)
        self.stamp = self.clock()

    def take(self, cost: float = 1.0) -> float:
        """Take ``cost`` tokens: 0.0 when allowed, else the seconds until it would be."""
        now = self.clock()
        self.tokens = min(float(self.burst), self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= cost:
            self.tokens -= cost
            return 0.0
        return (cost - self.tokens) / self.rate


class RateLimiter:
    """Token buckets by source id; a changed limit (registry reload) starts a new bucket."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def check(self, source: str, rate: float, burst: int) -> int:
        """0 when the request may proceed, else the ``Retry-After`` seconds (>= 1)."""
        with self._lock:
            bucket = self._buckets.get(source)
            if bucket is None or bucket.rate != rate or bucket.burst != burst:
                bucket = self._buckets[source] = TokenBucket(rate, burst, self.clock)
            wait = bucket.take()
        return 0 if wait <= 0 else max(1, math.ceil(wait))
