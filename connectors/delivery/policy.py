"""Pure delivery policy: HTTP status classification, retry backoff and a circuit breaker.

Nothing here does I/O or sleeps; time comes from an injected clock and randomness from
an injected :class:`random.Random`, so every rule is unit-testable on its own.

Classification (into :mod:`hub.errors`) — the "Delivery failures" table of the README:

==================================  ==============================================
answer                              outcome
==================================  ==============================================
2xx                                 delivered (``None``)
no answer (refused, reset, timeout) :class:`~hub.errors.DestinationUnavailable`
                                    (transient: retry)
404 that is not a problem document, :class:`~hub.errors.DestinationUnavailable`
408, 425, 429, 5xx                  (transient: retry; ``Retry-After`` honoured)
401, 403                            :class:`~hub.errors.DestinationUnauthorised`
                                    (stop the connector: fix its token)
404 as ``application/problem+json``, :class:`~hub.errors.DestinationRejected`
any other status (400, 409, 410,    (final: dead letter)
413, 422, …; 1xx/3xx)
==================================  ==============================================

Why 404 depends on who says it: a bare 404 (HTML or text from an ingress, a load
balancer or a proxy that lost its route during a deploy) says nothing about the item —
dead-lettering those turned an 8 s routing blip into 1,201 dead letters. Every
destination the hub talks to (register, wallet host, EDC) answers its own errors as RFC
9457 problem documents, so a problem 404 is the destination itself saying the target does
not exist (EDC: "no wallet for this user"): final. A destination may opt in to treating a
4xx with ``Retry-After`` as transient too (the register's 409 "revocation before
issuance").

Transient is not "for ever": :class:`ParkPolicy` bounds how long one item may hold its
key while the destination is healthy (it is then *parked*; see
:mod:`connectors.delivery.parking`). While the destination as a whole is down, nothing
is parked: every key waits behind the circuit breaker.
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
    RetriableError,
)
from hub.settings import Settings

#: statuses that mean "try again later" although they are 4xx (404: see the table)
RETRIABLE_4XX = frozenset({404, 408, 425, 429})
#: the media type of the destinations' own error answers (RFC 9457)
PROBLEM_MEDIA_TYPE = "application/problem+json"
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
    content_type: str | None = None,
) -> MchubError | None:
    """The error an HTTP answer means (``None`` for 2xx), per the module's table.

    ``content_type`` is the answer's ``Content-Type`` (a 404 problem document is final).

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
    if is_transient_status(status, content_type=content_type) or asked_to_wait:
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


def is_problem_document(content_type: str | None) -> bool:
    """True when ``content_type`` is RFC 9457 ``application/problem+json``."""
    return content_type is not None and (
        content_type.split(";", 1)[0].strip().lower() == PROBLEM_MEDIA_TYPE
    )


def is_transient_status(status: int, *, content_type: str | None = None) -> bool:
    """True for the answers retried as "destination unavailable" (no ``Retry-After`` rule):
    408, 425, 429, 5xx, and 404 unless it is the destination's own problem document."""
    if status == 404:
        return not is_problem_document(content_type)
    return status in RETRIABLE_4XX or 500 <= status < 600


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

    def delay(self, attempt: int, error: RetriableError, rng: random.Random) -> float:
        """Seconds to wait before the next attempt: ``Retry-After`` if given, else backoff."""
        if error.retry_after is not None:
            return min(max(0.0, error.retry_after), self.max_retry_after)
        return self.backoff(attempt, rng)

    def exhausted(self, attempts: int) -> bool:
        """True when no further attempt is allowed after ``attempts`` attempts."""
        return self.max_attempts is not None and attempts >= self.max_attempts


@dataclass(frozen=True)
class ParkPolicy:
    """When an item stops holding its key, and how parked keys are redriven.

    ``after_attempts``: a transient failure of one item that reaches this many attempts is
    *parked* when the destination is healthy (its health probe answers 2xx, or — without
    a probe — the breaker is closed and other items were delivered since the item's first
    failure); while it is not healthy the item keeps waiting (an outage parks nothing).
    ``None`` never parks (the old behaviour: retry for ever).

    A parked key is redriven automatically (its dead-lettered or parked head first, then
    the items parked behind it, in order) when the destination is healthy and the key's
    backoff has passed: ``redrive_base * 2 ** (n - 1)`` seconds after the n-th attempt,
    capped at ``redrive_cap``; after ``redrive_max_attempts`` failed attempts automatic
    redrives stop and the key waits for a new change of its own (one more attempt each) or
    ``mchub redrive``.
    """

    after_attempts: int | None = 6
    redrive_base: float = 5.0
    redrive_cap: float = 300.0
    redrive_max_attempts: int = 10

    def __post_init__(self) -> None:
        if self.after_attempts is not None and self.after_attempts < 1:
            raise ValueError("after_attempts must be at least 1")
        if self.redrive_base <= 0 or self.redrive_cap < self.redrive_base:
            raise ValueError("need 0 < redrive_base <= redrive_cap")
        if self.redrive_max_attempts < 1:
            raise ValueError("redrive_max_attempts must be at least 1")

    def may_park(self, attempts: int) -> bool:
        """True when an item that failed transiently ``attempts`` times may be parked."""
        return self.after_attempts is not None and attempts >= self.after_attempts

    def redrive_delay(self, attempt: int) -> float:
        """Seconds before the next automatic redrive after failed redrive ``attempt`` (0: first)."""
        if attempt <= 0:
            return 0.0
        exponent = min(attempt - 1, 60)
        return min(self.redrive_cap, self.redrive_base * 2.0**exponent)

    def gave_up(self, attempts: int) -> bool:
        """True when ``attempts`` failed automatic redrives end the automatic ones."""
        return attempts >= self.redrive_max_attempts


def park_policy(settings: Settings) -> ParkPolicy:
    """The :class:`ParkPolicy` of ``settings`` (``MCHUB_DELIVERY_PARK_*``)."""
    return ParkPolicy(
        after_attempts=settings.delivery_park_after_attempts or None,
        redrive_base=settings.delivery_redrive_base_s,
        redrive_cap=settings.delivery_redrive_cap_s,
        redrive_max_attempts=settings.delivery_redrive_max_attempts,
    )


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
