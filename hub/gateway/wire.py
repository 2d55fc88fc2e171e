"""The gateway's HTTP contract: the wire models of its answers and RFC 9457 problem
documents (the types :data:`PROBLEM_TYPES` names)."""

from typing import Any, Final

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

PROBLEM_MEDIA_TYPE: Final = "application/problem+json"

def _ptype(slug: str) -> str:
    return f"urn:mchub:problem:{slug}"


#: problem type URIs (RFC 9457 ``type``)
PROBLEM_TYPES: Final[dict[str, str]] = {
    slug: _ptype(slug)
    for slug in (
        "unknown-feed", "unauthenticated", "rate-limited", "unsupported-media-type",
        "payload-too-large", "malformed", "issuer-not-authorised", "invalid-request",
        "idempotency-key-reused", "idempotency-key-in-use", "broker-unavailable",
        "rejected", "conflict", "unknown-receipt", "not-found", "internal",
    )
}

# ---------------------------------------------------------------------------- models


class _Wire(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class Rule(_Wire):
    """One broken rule: the feed contract's rule code, the source field path, a message."""

    rule: str = Field(description="Rule code (feed contract §8, or ISSUER_NOT_AUTHORISED).")
    path: str = Field(description="Field path in the source payload.")
    message: str = Field(description="Human explanation.")


class Problem(_Wire):
    """An RFC 9457 problem document (``application/problem+json``)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="URI of the problem type (urn:mchub:problem:…).")
    title: str = Field(description="Short summary of the problem type.")
    status: int = Field(description="HTTP status code.")
    detail: str | None = Field(None, description="Explanation of this occurrence.")
    instance: str | None = Field(None, description="The request path.")
    rules: list[Rule] | None = Field(None, description="Broken rules with field paths.")
    receipt_id: str | None = Field(None, alias="receiptId",
                                   description="Receipt id, when the event was appended.")
    report: dict[str, Any] | None = Field(None, description="The §2 outcome report, if any.")


class Submitted(_Wire):
    """Answer to an appended submission."""

    receipt_id: str = Field(alias="receiptId",
                            description="Id of the receipt; GET /v1/receipts/{receiptId}.")
    feed: str = Field(description="he, vet or al.")
    status: str = Field(description="pending: the stream has not decided yet.")
    receipt: str = Field(description="Path of the receipt resource.")


class ReceiptView(_Wire):
    """The stream's verdict for one submission."""

    receipt_id: str = Field(alias="receiptId")
    feed: str
    status: str = Field(description="pending or decided.")
    fate: str | None = Field(
        None, description="accepted, rejected, held, duplicate, conflict (al: processed, "
                          "rejected); null while pending.")
    final: bool = Field(description="False while pending or held (a held revocation).")
    report: dict[str, Any] | None = Field(
        None, description="Outcome report of the feed contract §2: {feed, outcome, rules, "
                          "idempotencyKey}; al: {feed, file: {outcome, rules}, rows: [...]}.")
    submitted_at: str | None = Field(None, alias="submittedAt")


class Health(_Wire):
    """Liveness."""

    status: str
    registry_version: str = Field(alias="registryVersion")


# ---------------------------------------------------------------------------- problems




def problem(status: int, slug: str, title: str, *, detail: str | None = None,
            instance: str | None = None, headers: dict[str, str] | None = None,
            **extra: Any) -> JSONResponse:
    """An RFC 9457 ``application/problem+json`` response."""
    body: dict[str, Any] = {"type": PROBLEM_TYPES[slug], "title": title, "status": status}
    if detail is not None:
        body["detail"] = detail
    if instance is not None:
        body["instance"] = instance
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)
