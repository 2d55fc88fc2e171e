"""Pure delivery policy: status classification, backoff bounds, Retry-After, circuit breaker."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.delivery.policy import (
    CircuitBreaker,
    RetryPolicy,
    body_digest,
    classify_status,
    classify_transport_error,
    parse_retry_after,
)
from hub.errors import (
    DestinationRejected,
    DestinationUnauthorised,
    DestinationUnavailable,
    PermanentError,
    RetriableError,
)

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


# --- classification ----------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_2xx_is_delivered(status: int) -> None:
    assert classify_status(status) is None


@pytest.mark.parametrize("status", [404, 408, 425, 429, 500, 502, 503, 504, 599])
def test_404_408_425_429_and_5xx_are_retriable(status: int) -> None:
    error = classify_status(status, destination="wallet")
    assert isinstance(error, DestinationUnavailable)
    assert isinstance(error, RetriableError)
    assert "wallet answered" in str(error)


@pytest.mark.parametrize("status", [401, 403])
def test_401_403_stop_the_connector(status: int) -> None:
    error = classify_status(status)
    assert isinstance(error, DestinationUnauthorised)
    assert isinstance(error, PermanentError)
    assert "commit" in str(error)


def test_a_404_problem_document_is_the_destination_saying_no_final() -> None:
    final = classify_status(404, content_type="application/problem+json; charset=utf-8")
    assert isinstance(final, DestinationRejected) and final.status == 404
    for bare in (None, "text/html", "text/plain; charset=utf-8", "application/json"):
        assert isinstance(classify_status(404, content_type=bare), DestinationUnavailable)
    # other statuses do not depend on the media type
    assert isinstance(
        classify_status(503, content_type="application/problem+json"), DestinationUnavailable
    )
    assert isinstance(classify_status(422, content_type="text/html"), DestinationRejected)


@pytest.mark.parametrize("status", [400, 409, 410, 413, 422, 451, 302, 101])
def test_other_statuses_are_permanent_rejections_with_digest(status: int) -> None:
    error = classify_status(status, body=b'{"error":"bad"}')
    assert isinstance(error, DestinationRejected)
    assert error.status == status
    assert error.body_digest == body_digest(b'{"error":"bad"}')
    assert error.body_digest.startswith("sha256:") and len(error.body_digest) == 7 + 64


def test_retry_after_travels_with_the_retriable_error() -> None:
    error = classify_status(429, retry_after="3")
    assert isinstance(error, DestinationUnavailable)
    assert error.retry_after == 3.0
    plain = classify_status(503)
    assert isinstance(plain, DestinationUnavailable) and plain.retry_after is None


def test_4xx_with_retry_after_is_retriable_only_when_enabled() -> None:
    assert isinstance(classify_status(409, retry_after="5"), DestinationRejected)
    opted = classify_status(409, retry_after="5", retry_4xx_with_retry_after=True)
    assert isinstance(opted, DestinationUnavailable) and opted.retry_after == 5.0
    no_header = classify_status(409, retry_4xx_with_retry_after=True)
    assert isinstance(no_header, DestinationRejected)
    auth = classify_status(401, retry_after="5", retry_4xx_with_retry_after=True)
    assert isinstance(auth, DestinationUnauthorised)


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        httpx.ConnectTimeout("slow"),
        httpx.RemoteProtocolError("closed"),
    ],
)
def test_connection_errors_are_retriable(exc: httpx.TransportError) -> None:
    error = classify_transport_error(exc, destination="edc")
    assert isinstance(error, DestinationUnavailable)
    assert "edc did not answer" in str(error)


# --- Retry-After -------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "seconds"), [("0", 0.0), ("1", 1.0), (" 120 ", 120.0)])
def test_retry_after_delta_seconds(value: str, seconds: float) -> None:
    assert parse_retry_after(value, now=NOW) == seconds


def test_retry_after_http_date() -> None:
    later = format_datetime(NOW + timedelta(seconds=90), usegmt=True)
    assert later.endswith("GMT")
    assert parse_retry_after(later, now=NOW) == 90.0
    assert parse_retry_after("Sat, 01 Mar 2025 12:00:30 GMT", now=NOW) == 30.0


def test_retry_after_date_in_the_past_means_now() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=NOW) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "1.5", "Foo, 99 Bar 20x5"])
def test_retry_after_malformed_is_ignored(value: str | None) -> None:
    assert parse_retry_after(value, now=NOW) is None


# --- backoff -----------------------------------------------------------------------------


@given(
    base=st.floats(0.001, 5.0),
    factor=st.floats(1.0, 100.0),
    multiplier=st.floats(1.0, 4.0),
    jitter=st.floats(0.0, 1.0),
    attempt=st.integers(1, 10_000),
    seed=st.integers(0, 2**32),
)
def test_backoff_is_capped_and_jittered_within_bounds(
    base: float, factor: float, multiplier: float, jitter: float, attempt: int, seed: int
) -> None:
    policy = RetryPolicy(base=base, cap=base * factor, multiplier=multiplier, jitter=jitter)
    ceiling = policy.ceiling(attempt)
    assert base * (1 - 1e-9) <= ceiling <= policy.cap
    delay = policy.backoff(attempt, random.Random(seed))
    assert (1 - jitter) * ceiling * (1 - 1e-9) <= delay <= ceiling * (1 + 1e-9)
    assert delay <= policy.cap * (1 + 1e-9)


@given(attempt=st.integers(1, 60))
def test_backoff_ceiling_grows_exponentially_until_the_cap(attempt: int) -> None:
    policy = RetryPolicy(base=0.1, cap=10.0, multiplier=2.0, jitter=0.0)
    assert policy.ceiling(attempt) == min(10.0, 0.1 * 2 ** (attempt - 1))
    assert policy.ceiling(attempt + 1) >= policy.ceiling(attempt)


def test_jitter_spreads_delays() -> None:
    policy = RetryPolicy(base=1.0, cap=1.0, jitter=0.5)
    rng = random.Random(7)
    delays = {round(policy.backoff(3, rng), 6) for _ in range(50)}
    assert len(delays) > 40
    assert all(0.5 <= d <= 1.0 for d in delays)


def test_retry_after_replaces_backoff_and_is_bounded() -> None:
    policy = RetryPolicy(base=0.01, cap=0.05, max_retry_after=60.0)
    rng = random.Random(1)
    assert policy.delay(1, DestinationUnavailable("x", retry_after=2.0), rng) == 2.0
    assert policy.delay(1, DestinationUnavailable("x", retry_after=3600.0), rng) == 60.0
    assert policy.delay(1, DestinationUnavailable("x"), rng) <= 0.01


def test_max_attempts() -> None:
    assert not RetryPolicy().exhausted(10_000)
    limited = RetryPolicy(max_attempts=3)
    assert not limited.exhausted(2)
    assert limited.exhausted(3)


@pytest.mark.parametrize(
    "kwargs",
    [{"base": 0.0}, {"base": 2.0, "cap": 1.0}, {"jitter": 1.5}, {"max_attempts": 0}],
)
def test_invalid_retry_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


# --- circuit breaker ---------------------------------------------------------------------


class FakeClock:
    """A settable monotonic clock."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_breaker_closed_open_half_open_closed() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=3, reset_timeout=5.0, clock=clock)
    states = [breaker.state]
    for _ in range(3):
        assert breaker.permit() == 0.0
        breaker.record_failure()
        states.append(breaker.state)
    assert states == ["closed", "closed", "closed", "open"]
    assert breaker.permit() == pytest.approx(5.0)
    clock.now += 4.0
    assert breaker.permit() == pytest.approx(1.0)
    clock.now += 1.0
    assert breaker.permit() == 0.0  # the probe
    states.append(breaker.state)
    assert breaker.permit() == breaker.probe_poll  # only one probe at a time
    breaker.record_success()
    states.append(breaker.state)
    assert states[-2:] == ["half_open", "closed"]
    assert breaker.permit() == 0.0
    assert breaker.stats.transitions == [
        ("closed", "open"),
        ("open", "half_open"),
        ("half_open", "closed"),
    ]
    assert breaker.stats.times_opened == 1
    assert breaker.stats.rejected_calls == 3


def test_breaker_failed_probe_reopens_for_a_full_timeout() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout=2.0, clock=clock)
    breaker.record_failure()
    clock.now += 2.0
    assert breaker.permit() == 0.0
    breaker.record_failure()
    assert breaker.state == "open"
    assert breaker.permit() == pytest.approx(2.0)
    assert breaker.stats.times_opened == 2


def test_breaker_success_resets_the_consecutive_count() -> None:
    breaker = CircuitBreaker(failure_threshold=2, reset_timeout=1.0, clock=FakeClock())
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state == "closed"
    assert breaker.stats.transitions == []


def test_breaker_abandoned_probe_frees_the_slot() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout=1.0, clock=clock)
    breaker.record_failure()
    clock.now += 1.0
    assert breaker.permit() == 0.0
    breaker.record_abandoned()
    assert breaker.permit() == 0.0
