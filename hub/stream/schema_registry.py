"""The hub's schemas in a Confluent-compatible schema registry (``MCHUB_SCHEMA_REGISTRY_URL``).

Any registry that speaks the Confluent REST API works: the embedded one the hub starts
(``mchub schema-registry up``, Apicurio Registry's ``/apis/ccompat/v7``; :mod:`hub.localregistry`),
a Confluent Schema Registry, Karapace, Redpanda's.

**Subjects** follow the topic-record name strategy: ``<topic>-<record full name>``, e.g.
``canon.events.log-eu.mchub.canonical.CredentialIssued`` (the canonical log holds three
record types, which one subject per topic could not hold under a compatibility rule).
:func:`register_schemas` registers every released version of every record in release
order, after setting the subject's compatibility to ``FULL_TRANSITIVE`` (each version
readable by and able to read every other), and learns the ids into
:data:`hub.contract.framing.SCHEMA_IDS`. Registering is idempotent: the registry answers
a schema it holds with its existing id.

:class:`RegistryLookup` resolves an id the process has not registered (a reader of a log
written elsewhere) with ``GET /schemas/ids/{id}``; only ids whose schema is one of the
hub's released schemas (same fingerprint) are accepted.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Final

import httpx

from hub.contract.fingerprint import schema_fingerprint
from hub.contract.framing import SCHEMA_IDS, SchemaIds
from hub.contract.store import SchemaStore
from hub.errors import ConfigurationError
from hub.settings import Settings
from hub.topics import CANONICAL_LOG

log = logging.getLogger(__name__)

#: the content type of the Confluent REST API
CONTENT_TYPE: Final = "application/vnd.schemaregistry.v1+json"
COMPATIBILITY: Final = "FULL_TRANSITIVE"


@dataclass(frozen=True)
class Registration:
    """One schema as the registry holds it."""

    subject: str
    version: int  # the hub's release (v1, v2, …), not the registry's version number
    schema_id: int
    fingerprint: bytes


def subject_for(settings: Settings, full_name: str, topic: str = CANONICAL_LOG) -> str:
    """The subject of record ``full_name`` on logical ``topic`` (prefix applied)."""
    return f"{settings.topic(topic)}-{full_name}"


def schema_text(schema: dict[str, Any]) -> str:
    """The schema as registered: compact JSON of the released ``.avsc``."""
    return json.dumps(schema, separators=(",", ":"), ensure_ascii=False)


def _unreachable(url: str, exc: Exception) -> ConfigurationError:
    return ConfigurationError(
        f"the schema registry at {url} is not reachable ({type(exc).__name__}): start it "
        "with `mchub schema-registry up`, or set MCHUB_SCHEMA_REGISTRY_URL to a running "
        "Confluent-compatible registry")


def _refused(url: str, what: str, response: httpx.Response) -> ConfigurationError:
    return ConfigurationError(
        f"the schema registry at {url} refused {what}: HTTP {response.status_code} "
        f"{response.text[:300]}")


async def register_schemas(
    settings: Settings,
    *,
    store: SchemaStore | None = None,
    ids: SchemaIds = SCHEMA_IDS,
    transport: httpx.AsyncBaseTransport | None = None,
) -> list[Registration]:
    """Register every released canonical schema (idempotent) and learn their ids.

    Raises ConfigurationError when no registry is configured, it cannot be reached, or
    it refuses a schema (e.g. a subject that already holds an incompatible schema).
    """
    url = settings.schema_registry_url.rstrip("/")
    if not url:
        raise ConfigurationError(
            "MCHUB_WIRE_FORMAT=registry needs a schema registry: set "
            "MCHUB_SCHEMA_REGISTRY_URL (the local one: `mchub schema-registry up` prints it)")
    store = store if store is not None else SchemaStore()
    done: list[Registration] = []
    configured: set[str] = set()
    headers = {"Content-Type": CONTENT_TYPE, "Accept": CONTENT_TYPE}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30.0,
                                 transport=transport) as client:
        try:
            for entry in store.entries():
                subject = subject_for(settings, entry.full_name)
                if subject not in configured:
                    answer = await client.put(f"/config/{subject}",
                                              json={"compatibility": COMPATIBILITY})
                    if answer.status_code != 200:
                        raise _refused(url, f"compatibility {COMPATIBILITY} on {subject}", answer)
                    configured.add(subject)
                answer = await client.post(
                    f"/subjects/{subject}/versions",
                    json={"schema": schema_text(entry.schema), "schemaType": "AVRO"})
                if answer.status_code != 200:
                    raise _refused(url, f"{entry.full_name} v{entry.version} under {subject}",
                                   answer)
                schema_id = int(answer.json()["id"])
                ids.learn(schema_id, entry.fingerprint)
                done.append(Registration(subject, entry.version, schema_id, entry.fingerprint))
        except httpx.TransportError as exc:
            raise _unreachable(url, exc) from exc
    log.info("registered %d schemas at %s", len(done), url)
    return done


class RegistryLookup:
    """An id lookup for :meth:`SchemaIds.install_lookup`: ``GET /schemas/ids/{id}``."""

    def __init__(
        self,
        url: str,
        *,
        store: SchemaStore | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.store = store if store is not None else SchemaStore()
        self._transport = transport

    def __call__(self, schema_id: int) -> bytes | None:
        """The fingerprint of ``schema_id`` when it is one of the hub's schemas, else None."""
        try:
            with httpx.Client(base_url=self.url, timeout=10.0,
                              transport=self._transport) as client:
                answer = client.get(f"/schemas/ids/{schema_id}",
                                    headers={"Accept": CONTENT_TYPE})
        except httpx.TransportError as exc:
            raise _unreachable(self.url, exc) from exc
        if answer.status_code == 404:
            return None
        if answer.status_code != 200:
            raise _refused(self.url, f"the lookup of schema id {schema_id}", answer)
        fingerprint = schema_fingerprint(str(answer.json()["schema"]))
        return fingerprint if self.store.find(fingerprint) is not None else None


def install_registry_lookup(settings: Settings, ids: SchemaIds = SCHEMA_IDS) -> None:
    """Let this process decode registry-framed records of ids it did not register itself
    (no-op without MCHUB_SCHEMA_REGISTRY_URL)."""
    if settings.schema_registry_url:
        ids.install_lookup(RegistryLookup(settings.schema_registry_url))


async def prepare_wire_format(settings: Settings) -> list[Registration]:
    """What ``mchub run`` does first: register the schemas when a registry is configured
    (required by ``MCHUB_WIRE_FORMAT=registry``) and install the id lookup."""
    if settings.wire_format == "registry" or settings.schema_registry_url:
        done = await register_schemas(settings)
        install_registry_lookup(settings)
        return done
    return []
