"""Pure delivery policy: HTTP status classification, retry backoff and a circuit breaker.

Nothing here does I/O or sleeps; time comes from an injected clock and randomness from
an injected :class:`random.Random`, so every rule is unit-testable on its own.

Classification (into :mod:`hub.errors`):

==============================  ============================================
answer                          outcome
==============================  ============================================
2xx                             delivered (``None``)
408, 429, 5xx, no answer        :class:`~hub.errors.DestinationUnavailable` (retry)
401, 403                        :class:`~hub.errors.DestinationUnauthorised` (stop)
any other status (4xx, 1xx/3xx) :class:`~hub.errors.DestinationRejected` (dead letter)
==============================  ============================================
"""

from __future__ import annotations

import hashlib
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Literal

import httpx

from hub.errors import (
    DestinationRejected,
    DestinationUnauthorised,
    DestinationUnavailable,
    MchubError,
)

#: statuses that mean "try again later" although they are 4xx
RETRIABLE_4XX = frozenset({408, 429})
#: statuses that mean "our credentials are wrong": stop the connector
UNAUTHORISED = frozenset({401, 403})


def body_digest(body: bytes) -> str:
    """``sha256:<hex>`` of a response body (bodies are not kept, only their digest)."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delta-seconds or an HTTP-date.

    Returns ``None`` when the header is absent or malformed, ``0.0`` for dates in the past.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        return float(int(text))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # an HTTP-date is always GMT
        when = when.replace(tzinfo=UTC)
    current = now if now is not None else datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())


def classify_status(
    status: int,
    *,
    body: bytes = b"",
    retry_after: str | None = None,
    destination: str = "destination",
    now: datetime | None = None,
    retry_4xx_with_retry_after: bool = False,
) -> MchubError | None:
    """The error an HTTP answer means (``None`` for 2xx), per the module's table.

    With ``retry_4xx_with_retry_after`` a 4xx (not 401/403) carrying a valid
    ``Retry-After`` is retriable too (e.g. the register's 409 "revocation before issuance").
    """
    if 200 <= status < 300:
        return None
    asked_to_wait = (
        retry_4xx_with_retry_after
        and 400 <= status < 500
        and status not in UNAUTHORISED
        and parse_retry_after(retry_after, now=now) is not None
    )
    if status in RETRIABLE_4XX or 500 <= status < 600 or asked_to_wait:
        return DestinationUnavailable(
            f"{destination} answered {status}",
            retry_after=parse_retry_after(retry_after, now=now),
        )
    if status in UNAUTHORISED:
        return DestinationUnauthorised(
            f"{destination} answered {status}: the connector's credentials are refused; "
            "fix them and restart the connector (nothing was committed)"
        )
    return DestinationRejected(
        f"{destination} answered {status}", status=status, body_digest=body_digest(body)
    )


def classify_transport_error(
    exc: httpx.TransportError, *, destination: str = "destination"
) -> DestinationUnavailable:
    """A connection failure or timeout: the destination is unavailable (retry)."""
    return DestinationUnavailable(f"{destination} did not answer: {type(exc).__name__}: {exc}")


@dataclass(frozen=True)
class RetryPolicy:
    """Capped exponential backoff with jitter, honouring ``Retry-After``.

    Attempt ``n`` (1-based, the attempt that just failed) waits a uniformly random time in
    ``[(1 - jitter) * d, d]`` with ``d = min(cap, base * multiplier ** (n - 1))``. A
    ``Retry-After`` from the destination replaces the backoff (bounded by
    ``max_retry_after``). ``max_attempts=None`` retries for ever: order per key forbids
    skipping an item, so a destination that stays down stops progress instead.
    """

    base: float = 0.2
    cap: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.5
    max_attempts: int | None = None
    max_retry_after: float = 300.0

    def __post_init__(self) -> None:
        if self.base <= 0 or self.cap < self.base or self.multiplier < 1:
            raise ValueError("need 0 < base <= cap and multiplier >= 1")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("jitter is a fraction in [0, 1]")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")

    def ceiling(self, attempt: int) -> float:
        """The un-jittered backoff after failed attempt ``attempt`` (capped)."""
        exponent = max(0, attempt - 1)
        # avoid float overflow for very long outages: compare in log space
        if math.log(self.cap / self.base) < exponent * math.log(self.multiplier):
            return self.cap
        return min(self.cap, self.base * self.multiplier**exponent)

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """A jittered backoff after failed attempt ``attempt``, within the documented bounds."""
        ceiling = self.ceiling(attempt)
        return rng.uniform((1.0 - self.jitter) * ceiling, ceiling)

    def delay(self, attempt: int, error: DestinationUnavailable, rng: random.Random) -> float:
        """Seconds to wait before the next attempt: ``Retry-After`` if given, else backoff."""
        if error.retry_after is not None:
            return min(max(0.0, error.retry_after), self.max_retry_after)
        return self.backoff(attempt, rng)

    def exhausted(self, attempts: int) -> bool:
        """True when no further attempt is allowed after ``attempts`` attempts."""
        return self.max_attempts is not None and attempts >= self.max_attempts


BreakerState = Literal["closed", "open", "half_open"]


@dataclass
class BreakerStats:
    """What a circuit breaker did (read by tests and progress displays)."""

    transitions: list[tuple[BreakerState, BreakerState]] = field(default_factory=list)
    failures: int = 0
    successes: int = 0
    rejected_calls: int = 0

    @property
    def times_opened(self) -> int:
        """How often the breaker went to ``open``."""
        return sum(1 for _, to in self.transitions if to == "open")


class CircuitBreaker:
    """Closed → open after ``failure_threshold`` consecutive failures; after ``reset_timeout``
    one probe call goes through (half-open): success closes, failure re-opens.

    Calls are never dropped: :meth:`permit` tells the caller how long to wait instead.
    Only "unavailable" outcomes count as failures; any answer counts as a success.
    """

    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        reset_timeout: float = 10.0,
        probe_poll: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1 or reset_timeout <= 0:
            raise ValueError("failure_threshold >= 1 and reset_timeout > 0 are required")
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self.probe_poll = probe_poll if probe_poll is not None else min(reset_timeout, 0.1)
        self._clock = clock
        self._state: BreakerState = "closed"
        self._consecutive_failures = 0
        self._opened_at = 0.0
        self._probe_in_flight = False
        self.stats = BreakerStats()

    @property
    def state(self) -> BreakerState:
        """The current state (``open`` stays ``open`` until a caller asks to probe)."""
        return self._state

    def permit(self) -> float:
        """``0.0`` if a call may go now (it is the probe when half-open); else seconds to wait."""
        if self._state == "closed":
            return 0.0
        if self._state == "open":
            remaining = self._opened_at + self.reset_timeout - self._clock()
            if remaining > 0:
                self.stats.rejected_calls += 1
                return remaining
            self._move("half_open")
        if self._probe_in_flight:
            self.stats.rejected_calls += 1
            return self.probe_poll
        self._probe_in_flight = True
        return 0.0

    def record_success(self) -> None:
        """The destination answered: close (from half-open) and reset the failure count."""
        self.stats.successes += 1
        self._consecutive_failures = 0
        self._probe_in_flight = False
        if self._state != "closed":
            self._move("closed")

    def record_failure(self) -> None:
        """The destination was unavailable: count it, open when the threshold is reached."""
        self.stats.failures += 1
        self._consecutive_failures += 1
        self._probe_in_flight = False
        if self._state == "half_open" or (
            self._state == "closed" and self._consecutive_failures >= self.failure_threshold
        ):
            self._opened_at = self._clock()
            self._move("open")

    def record_abandoned(self) -> None:
        """A permitted call ended without an outcome (cancelled): free the probe slot."""
        self._probe_in_flight = False

    def _move(self, to: BreakerState) -> None:
        self.stats.transitions.append((self._state, to))
        self._state = to
