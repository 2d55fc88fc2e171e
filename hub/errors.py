"""The one exception tree of mchub.

Every error the hub raises on purpose derives from :class:`MchubError`. The split that
matters operationally is the second level:

``MchubError``
    ``RetriableError``      transient: a broker or destination is unavailable, a timeout,
                            a 5xx/408/429 answer. Callers retry with capped backoff (the
                            delivery sinks retry exactly these, honouring ``retry_after``).
        ``BrokerUnavailable``       the Kafka cluster did not answer in time
        ``DestinationUnavailable``  an HTTP destination answered 5xx/408/429 or not at all
        ``TimestampError``          the time-stamping authority refused or did not answer
    ``PermanentError``      retrying cannot help: the input or the configuration is wrong.
                            Input goes to a rejection or dead-letter topic; configuration
                            errors stop the process with a message that says what to do
                            (the stream kernel restarts a stage on anything else, but
                            lets a PermanentError end it).
        ``ConfigurationError``      settings, missing tools (Java, Maven), occupied ports
            ``UnknownContextError``     a JSON-LD context with no local copy
        ``InputRejected``           a source event breaks a feed rule (carries rule, path, message)
        ``UndecodableInput``        bytes that cannot be decoded at all (dead letter, intact)
            ``MultipartError``          a body that is not well-formed multipart/form-data
        ``DestinationRejected``     a destination answered 4xx (other than 401/403/408/429)
        ``DestinationUnauthorised`` a destination answered 401/403: stop, commit nothing
    ``VerificationError``   a credential failed verification (a verdict with a stable code)
    ``StatusListError``     a status list cannot do what was asked (full, unknown index)
    ``RequestRefused``      the gateway answers a request with a problem document

The CLI turns any ``MchubError`` into a one-line message and a non-zero exit code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class MchubError(Exception):
    """Base of every error mchub raises on purpose."""

    #: process exit code the CLI uses for this error
    exit_code: int = 1


class RetriableError(MchubError):
    """A transient failure: retry with capped exponential backoff.

    ``retry_after``: seconds the other side asked us to wait (``Retry-After``), if any.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(MchubError):
    """Retrying cannot help: reject, dead-letter or stop with a clear message."""


class BrokerUnavailable(RetriableError):
    """The Kafka cluster did not answer in time."""


class DestinationUnavailable(RetriableError):
    """An HTTP destination answered 5xx, 408 or 429, or did not answer at all."""


class TimestampError(RetriableError, ValueError):
    """The TSA refused, or its answer is not a time-stamp token for the request."""


class ConfigurationError(PermanentError):
    """Settings are wrong or a required tool is missing; the message says what to do."""


class UnknownContextError(ConfigurationError, LookupError):
    """A document referred to a JSON-LD context URL that has no local copy."""


class InputRejected(PermanentError):
    """A source event breaks a feed rule.

    ``rule`` is the feed contract's rule code (e.g. ``LEARNER_ID_CHECK_DIGIT``),
    ``path`` the field path in the source, ``message`` a human explanation.
    """

    def __init__(self, rule: str, path: str, message: str) -> None:
        super().__init__(f"{rule} at {path}: {message}")
        self.rule = rule
        self.path = path
        self.message = message


class UndecodableInput(PermanentError):
    """Bytes that cannot be decoded at all; they go to the dead-letter topic intact."""


class MultipartError(UndecodableInput, ValueError):
    """A body that is not well-formed ``multipart/form-data``."""


class DestinationRejected(PermanentError):
    """A destination refused a delivery for good (4xx other than 401/403/408/429)."""

    def __init__(self, message: str, *, status: int, body_digest: str) -> None:
        super().__init__(message)
        self.status = status
        self.body_digest = body_digest


class DestinationUnauthorised(PermanentError):
    """A destination answered 401/403: the connector stops and commits nothing."""


class VerificationError(MchubError):
    """A credential failed verification; ``code`` is stable, the message is for humans."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class StatusListError(MchubError):
    """A status list cannot do what was asked (full, unknown index, bad encoding)."""


@dataclass(eq=False)
class RequestRefused(MchubError):
    """Raised in the gateway to answer with a problem document (and write nothing):
    ``status`` and ``slug`` name the problem, ``extra`` adds members to it."""

    status: int
    slug: str
    title: str
    detail: str | None = None
    headers: dict[str, str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.detail or self.title)
