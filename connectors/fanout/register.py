"""The national register as a fan-out destination: the push contract over HTTP.

Mapping of canonical events to the register's push contract
(:mod:`connectors.register.models`):

===============================  =====================================================
canonical event                  request
===============================  =====================================================
``issued``                       ``PUT /credentials/{credentialId}`` — status ``active``
                                 and the §1.2 element record
``revoked``                      ``PUT /credentials/{credentialId}`` — status
                                 ``revoked`` and the revocation
``enrolled|withdrawn|completed`` ``PUT /learners/{educationId}/enrolments/{eventId}``
===============================  =====================================================

Delivery failures (README "Delivery failures"): a bare 404 is transient like
408/425/429/5xx (the register answers its own errors as problem documents, so a 404
without one means a proxy did not route the request); the connector asks
``GET /healthz`` (:attr:`RegisterDestination.health_path`) before it parks an item that
keeps failing, so an outage parks nothing.

The register answers a revocation it cannot place yet (its issuance has not arrived)
with ``409`` + ``Retry-After``; :func:`register_connector` turns on the sink's
``retry_4xx_with_retry_after`` so that answer is retried, not dead-lettered. Every
other 4xx (a record the register refuses for good) is dead-lettered to
``dlq.out.register`` and recorded ``failed`` in the ledger; the later changes of that
credential are then ``parked`` (not sent) until a redrive delivers the refused one.

``occurredAt`` is the source event time; the adult-learning feed has none, so the
hub's receive time stands in (the register needs an offset-aware time).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from connectors.delivery.http_sink import BatchAnswer, HttpRequest
from connectors.delivery.policy import classify_status, classify_transport_error
from connectors.fanout.base import CanonicalItem, FanoutConnector, connector
from connectors.register.models import LearnerErasure
from hub.errors import DestinationRejected
from hub.settings import Settings

NAME = "register"
ENROLMENT_TYPES = frozenset({"enrolled", "withdrawn", "completed"})


def occurred_at(item: CanonicalItem) -> str:
    """The event time the register records: the source's, else the hub's receive time."""
    return item.occurred_at or item.received_at


def credential_push(item: CanonicalItem, *, record: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``PUT /credentials/{id}`` body of an issuance or revocation (camelCase JSON).

    ``record`` is the §1.2 element record to repeat in a revocation (the state topic
    carries it so compaction never loses the credential); issuances carry their own.
    """
    event = item.event
    body: dict[str, Any] = {
        "eventId": item.event_id,
        "eventType": item.event_type,
        "occurredAt": occurred_at(item),
        "credentialKey": item.credential_key,
        "sourceSystem": item.source_system,
    }
    if item.event_type == "issued":
        learner = event["credential"]["learnerIdentification"]
        body |= {
            "learner": {
                "educationId": learner["educationId"],
                "familyName": learner.get("familyName"),
                "givenName": learner.get("givenName"),
            },
            "status": "active",
            "credential": item.elements,
            "revocation": None,
        }
    elif item.event_type == "revoked":
        learner_ref: dict[str, Any] = {"educationId": item.learner_id}
        if record is not None:
            named = record.get("learnerIdentification") or {}
            learner_ref |= {
                "familyName": named.get("familyName"),
                "givenName": named.get("givenName"),
            }
        body |= {
            "learner": learner_ref,
            "status": "revoked",
            "credential": record,
            "revocation": {
                "reason": event["reason"],
                "reasonText": event.get("reasonText"),
                "revokedOn": event["revokedOn"],
            },
        }
    else:
        raise ValueError(f"not a credential event: {item.event_type}")
    return body


def enrolment_push(item: CanonicalItem) -> dict[str, Any]:
    """The ``PUT /learners/{educationId}/enrolments/{eventId}`` body of an enrolment event."""
    event = item.event
    provider = event["provider"]
    return {
        "status": event["status"],
        "statusDate": event["statusDate"],
        "provider": {
            "id": provider.get("id"),
            "scheme": provider["scheme"],
            "name": provider["name"],
            "country": provider["country"],
        },
        "programme": {"id": event["programme"]["id"], "title": event["programme"]["title"]},
        "withdrawalReason": event.get("withdrawalReason"),
        "occurredAt": occurred_at(item),
        "sourceSystem": item.source_system,
        "enrolmentKey": None,
    }


@dataclass
class RegisterDestination:
    """The register's request builder: every canonical event goes to the register."""

    name: str = NAME
    #: the register's health endpoint (public; 2xx when its store answers)
    health_path: str = "/healthz"

    def wants(self, item: CanonicalItem) -> bool:
        """The register takes issuances, revocations and enrolment changes."""
        return item.event_type in ENROLMENT_TYPES or item.credential_id is not None

    def build_request(self, item: CanonicalItem) -> HttpRequest:
        """``PUT`` the credential's new state, or the learner's enrolment change."""
        if item.event_type in ENROLMENT_TYPES:
            path = (
                f"/learners/{quote(item.learner_id, safe='')}"
                f"/enrolments/{quote(item.event_id, safe='')}"
            )
            return HttpRequest("PUT", path, json=enrolment_push(item))
        assert item.credential_id is not None  # wants() guarantees it
        return HttpRequest(
            "PUT", f"/credentials/{quote(item.credential_id, safe='')}", json=credential_push(item)
        )

    def build_batch(self, items: list[CanonicalItem]) -> HttpRequest:
        """``POST /changes`` with the changes of ``items`` in order (see the register)."""
        changes: list[dict[str, Any]] = []
        for item in items:
            if item.event_type in ENROLMENT_TYPES:
                changes.append(
                    enrolment_push(item)
                    | {"eventId": item.event_id, "educationId": item.learner_id}
                )
            else:
                changes.append(credential_push(item) | {"credentialId": item.credential_id})
        return HttpRequest("POST", "/changes", json={"changes": changes})

    def read_batch(self, response: httpx.Response, items: list[CanonicalItem]) -> BatchAnswer:
        """Each item's status from the ``POST /changes`` answer, checked by event id."""
        results = response.json()["results"]
        if [r.get("eventId") for r in results] != [i.event_id for i in items]:
            return None  # not an answer to this batch: deliver one by one
        return [(int(r["status"]), None) for r in results]


def register_connector(
    settings: Settings, base_url: str, *, token: str | None = None, **options: Any
) -> FanoutConnector:
    """The register's connector: canonical log → ``base_url`` (bearer ``token`` if set).

    ``options`` go to :func:`connectors.fanout.base.connector` (sink and runner options).
    """
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    headers |= options.pop("headers", {})
    options.setdefault("retry_4xx_with_retry_after", True)
    return connector(settings, RegisterDestination(), base_url, headers=headers, **options)


async def erase_at_register(
    base_url: str,
    education_id: str,
    *,
    token: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> LearnerErasure:
    """Ask the register to erase a learner (``DELETE /learners/{educationId}``): called by
    ``mchub learners erase`` once the learner's keys are destroyed.

    An answer other than 2xx raises what the delivery policy says it means
    (:func:`~connectors.delivery.policy.classify_status`: ``DestinationUnavailable``,
    ``DestinationUnauthorised`` or ``DestinationRejected``), as does no answer."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=30, transport=transport) as http:
            answer = await http.delete(f"/learners/{quote(education_id, safe='')}",
                                       headers=headers)
    except httpx.TransportError as exc:
        raise classify_transport_error(exc, destination=f"register at {base_url}") from exc
    error = classify_status(answer.status_code, body=answer.content,
                            destination=f"register at {base_url}",
                            content_type=answer.headers.get("content-type"))
    if error is not None:
        raise error
    try:
        return LearnerErasure.model_validate(answer.json())
    except ValueError as exc:
        raise DestinationRejected(
            f"register at {base_url} answered {answer.status_code} without an erasure "
            f"result: {exc}", status=answer.status_code, body_digest="") from exc
