"""The issuer registry: who may send events for which awarding bodies (pure, plus file I/O).

A *source* is one sector system (or one institution's own system) that sends events to
the hub, over HTTP through the gateway or straight to Kafka. The registry is versioned
configuration data (a JSON file, ``MCHUB_ISSUERS``; see ``hub/issuers.example.json``
and ``docs/gateway.md``) that says, per source:

- which awarding bodies it may **issue**, **revoke** and report **enrol**-ments for, in
  which sector (feed ``he``, ``vet`` or ``al``); ``"*"`` stands for every awarding body of
  the sector (a national sector system);
- its API keys (hashed at rest, several active at once, see :mod:`hub.gateway.auth`);
- optionally the subjects of its TLS client certificates and its rate limit.

The same rule, :meth:`IssuerRegistry.authorise`, runs in the HTTP gateway (403 before
anything is written) and in the stream's ingest stage (rule ``ISSUER_NOT_AUTHORISED``
before the decide stage) for events produced straight to Kafka, so an event for an
awarding body its sender does not represent never reaches the canonical log.

The authorisation applies to the *primary* awarding body of an event
(:attr:`hub.normalise.types.NormalisedEvent.awarding_body_id`: ``intezmeny.kod``,
``Intezmeny/OMAzonosito``, ``felnottkepzo_nyilvantartasi_szam``); co-awarding partners
named inside an event are the primary body's statement and are not checked.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hub.errors import ConfigurationError
from hub.normalise.types import NormalisedEvent, Violation
from hub.resources import package_path

log = logging.getLogger(__name__)

#: rule code of an event whose sender may not act for its awarding body (feed contract §8
#: extension, see docs/gateway.md)
ISSUER_NOT_AUTHORISED: Final = "ISSUER_NOT_AUTHORISED"
#: Kafka header naming the sending source (set by the gateway, or by a producing system)
SOURCE_HEADER: Final = "mchub-source"
#: environment variable with the path of the registry file
REGISTRY_ENV: Final = "MCHUB_ISSUERS"
#: every awarding body of the sector
ANY_BODY: Final = "*"

Action = Literal["issue", "revoke", "enrol"]
ACTIONS: Final[tuple[Action, ...]] = ("issue", "revoke", "enrol")
SECTORS: Final[tuple[str, ...]] = ("he", "vet", "al")

#: source field path of the primary awarding body, per feed (for violations)
BODY_PATHS: Final[Mapping[str, str]] = {
    "he": "intezmeny.kod",
    "vet": "Intezmeny/OMAzonosito",
    "al": "felnottkepzo_nyilvantartasi_szam",
}
#: a source or key id: lowercase letters, digits and '-' (also a source's Kafka principal)
ID_RE: Final = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_ACTION_BY_RECORD: Final[Mapping[str, Action]] = {
    "credential": "issue",
    "revocation": "revoke",
    "enrolment": "enrol",
}


# ------------------------------------------------------------------------ the file's model


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Entitlement(_Model):
    """Awarding bodies a source may act for in one sector, and the actions allowed."""

    sector: Literal["he", "vet", "al"]
    awarding_bodies: tuple[str, ...] = Field(alias="awardingBodies", min_length=1)
    actions: tuple[Action, ...] = Field(default=ACTIONS, min_length=1)


class ApiKeyRecord(_Model):
    """One API key of a source, hashed (``sha256$<salt>$<digest>``, see hub.gateway.auth)."""

    id: str
    hash: str
    created_at: str | None = Field(None, alias="createdAt")
    expires_at: str | None = Field(None, alias="expiresAt")
    label: str | None = None

    @field_validator("id")
    @classmethod
    def _key_id(cls, value: str) -> str:
        if not ID_RE.fullmatch(value):
            raise ValueError("key ids are lowercase letters, digits and '-' (max 63)")
        return value


class RateLimit(_Model):
    """Token bucket of a source: sustained requests per second and burst size."""

    requests_per_second: float = Field(alias="requestsPerSecond", gt=0)
    burst: int = Field(ge=1)


class SourceEntry(_Model):
    """One sending system."""

    id: str
    name: str
    entitlements: tuple[Entitlement, ...] = ()
    api_keys: tuple[ApiKeyRecord, ...] = Field((), alias="apiKeys")
    client_certificates: tuple[str, ...] = Field((), alias="clientCertificates")
    rate_limit: RateLimit | None = Field(None, alias="rateLimit")

    @field_validator("id")
    @classmethod
    def _source_id(cls, value: str) -> str:
        if not ID_RE.fullmatch(value):
            raise ValueError("source ids are lowercase letters, digits and '-' (max 63)")
        return value


class RegistryDocument(_Model):
    """The registry file as written (``version`` identifies the configuration)."""

    version: str = Field(min_length=1)
    description: str | None = None
    kafka_default_source: dict[str, str] = Field(default_factory=dict, alias="kafkaDefaultSource")
    sources: tuple[SourceEntry, ...] = ()


# ------------------------------------------------------------------------ the registry


def action_of(event: NormalisedEvent) -> Action:
    """What an event asks the hub to do for its awarding body."""
    return _ACTION_BY_RECORD[event.record_type]


class IssuerRegistry:
    """The registry, indexed for the checks (immutable; reloading makes a new one)."""

    def __init__(self, document: RegistryDocument) -> None:
        self.document = document
        self._sources: dict[str, SourceEntry] = {}
        self._keys: dict[str, tuple[SourceEntry, ApiKeyRecord]] = {}
        self._subjects: dict[str, SourceEntry] = {}
        self._grants: dict[tuple[str, str, str], set[str]] = {}
        for source in document.sources:
            if source.id in self._sources:
                raise ConfigurationError(f"issuer registry: source {source.id!r} appears twice")
            self._sources[source.id] = source
            for key in source.api_keys:
                if key.id in self._keys:
                    raise ConfigurationError(f"issuer registry: API key id {key.id!r} is reused")
                self._keys[key.id] = (source, key)
            for subject in source.client_certificates:
                self._subjects[subject] = source
            for grant in source.entitlements:
                for body in grant.awarding_bodies:
                    self._grants.setdefault((source.id, grant.sector, body), set()).update(
                        grant.actions
                    )
        for feed, source_id in document.kafka_default_source.items():
            if feed not in SECTORS or source_id not in self._sources:
                raise ConfigurationError(
                    f"issuer registry: kafkaDefaultSource {feed!r} -> {source_id!r} names an "
                    "unknown feed or source"
                )

    @property
    def version(self) -> str:
        """The configuration version written in the file."""
        return self.document.version

    def source(self, source_id: str) -> SourceEntry | None:
        """The source with this id, if registered."""
        return self._sources.get(source_id)

    def api_key(self, key_id: str) -> tuple[SourceEntry, ApiKeyRecord] | None:
        """The source and stored record of an API key id."""
        return self._keys.get(key_id)

    def source_for_certificate(self, subject: str) -> SourceEntry | None:
        """The source a TLS client certificate subject (RFC 4514 string) belongs to."""
        return self._subjects.get(subject)

    def may(self, source_id: str, sector: str, awarding_body: str, action: Action) -> bool:
        """True when the source may perform ``action`` for the body in the sector."""
        for body in (awarding_body, ANY_BODY):
            if action in self._grants.get((source_id, sector, body), ()):
                return True
        return False

    def authorise(self, source_id: str | None, event: NormalisedEvent) -> Violation | None:
        """``None`` when the sender may send this event, else the violation to report."""
        path = BODY_PATHS[event.feed]
        if event.row is not None:
            path = f"row {event.row}: {path}"
        action = action_of(event)
        body = event.awarding_body_id
        if source_id is None:
            return Violation(
                ISSUER_NOT_AUTHORISED,
                path,
                f"the sender is not identified, so it may not {action} for {body!r}",
            )
        if self.source(source_id) is None:
            return Violation(
                ISSUER_NOT_AUTHORISED, path, f"sender {source_id!r} is not a registered source"
            )
        if not self.may(source_id, event.feed, body, action):
            return Violation(
                ISSUER_NOT_AUTHORISED,
                path,
                f"source {source_id!r} may not {action} for awarding body {body!r} in sector "
                f"{event.feed!r} (issuer registry {self.version})",
            )
        return None

    def kafka_default_source(self, feed: str) -> str | None:
        """The source that writes ``feed``'s shared topic directly (besides the gateway)."""
        return self.document.kafka_default_source.get(feed)


def example_registry_path() -> Path:
    """The pilot's example issuer registry shipped with the hub (what ``mchub demo`` uses)."""
    return package_path("hub", "issuers.example.json")


def parse_registry(text: str, origin: str = "issuer registry") -> IssuerRegistry:
    """Parse and check a registry document (JSON text)."""
    try:
        document = RegistryDocument.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise ConfigurationError(f"{origin}: {where}: {first.get('msg')}") from exc
    return IssuerRegistry(document)


def load_registry(path: Path) -> IssuerRegistry:
    """Read and check the registry file at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read the issuer registry {path}: {exc}") from exc
    return parse_registry(text, str(path))


def dump_registry(document: RegistryDocument) -> str:
    """The registry document as written back to its file (2-space JSON, aliases)."""
    data = document.model_dump(by_alias=True, exclude_none=True, mode="json")
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


class RegistryFile:
    """A registry file, reloaded when it changes (API key rotation without a restart).

    :meth:`current` looks at the file's modification time at most every
    ``check_interval`` seconds; a changed file that does not parse is logged and the last
    good registry stays in force.
    """

    def __init__(self, path: Path, *, check_interval: float = 1.0) -> None:
        self.path = path
        self.check_interval = check_interval
        self._lock = threading.Lock()
        self._stamp = self._mtime()
        self._registry = load_registry(path)
        self._checked = time.monotonic()

    @classmethod
    def from_environment(cls) -> RegistryFile | None:
        """The registry named by ``MCHUB_ISSUERS``, or ``None`` when it is not set."""
        value = os.environ.get(REGISTRY_ENV)
        return cls(Path(value)) if value else None

    def _mtime(self) -> int:
        try:
            return self.path.stat().st_mtime_ns
        except OSError as exc:
            raise ConfigurationError(f"cannot read the issuer registry {self.path}: {exc}") from exc

    def current(self) -> IssuerRegistry:
        """The registry in force (reloaded when the file changed)."""
        now = time.monotonic()
        if now - self._checked < self.check_interval:
            return self._registry
        with self._lock:
            self._checked = now
            try:
                stamp = self._mtime()
                if stamp != self._stamp:
                    self._registry = load_registry(self.path)
                    self._stamp = stamp
                    log.info("issuer registry reloaded: version %s", self._registry.version)
            except ConfigurationError as exc:
                log.error("issuer registry not reloaded, keeping version %s: %s",
                          self._registry.version, exc)
            return self._registry

    def reload(self) -> IssuerRegistry:
        """Reload now (tests, CLI)."""
        self._checked = 0.0
        return self.current()


def registry_from_environment() -> IssuerRegistry | None:
    """The registry ``MCHUB_ISSUERS`` names, loaded; ``None`` when it is not set."""
    found = RegistryFile.from_environment()
    return found.current() if found is not None else None
