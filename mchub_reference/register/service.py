"""The reference register's HTTP service (FastAPI): the push contract and the queries.

:func:`create_app` builds the application over any :class:`RegisterStore`;
:func:`running_register` runs it on a loopback port in a background thread (tests,
pilots); :func:`serve` runs it in the foreground (``mchub register serve``);
:func:`openapi_document` is the published contract (``docs/openapi/register.json``).

No ``from __future__ import annotations`` here: FastAPI reads the handlers' annotations,
which refer to values local to :func:`create_app`, at definition time.
"""

import asyncio
import hmac
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import uvicorn
from fastapi import Depends, FastAPI, Header, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from connectors.register.models import (
    CONTENT_CONFLICT,
    EDUCATION_ID_PATTERN,
    IDENTIFIER_PATTERN,
    LEARNER_MISMATCH,
    UNKNOWN_CREDENTIAL,
    ApplyResult,
    BatchItemResult,
    BatchResult,
    Change,
    ChangeBatch,
    CredentialChange,
    CredentialPush,
    CredentialState,
    EnrolmentChange,
    EnrolmentPush,
    EnrolmentRecord,
    Health,
    LearnerCredentials,
    LearnerEnrolments,
    LearnerErasure,
    Problem,
    Verification,
)
from hub.adapters.http_server import (
    exit_cleanly_on_sigterm,
    openapi_text,
    quiet_server,
    serving_in_thread,
)
from hub.errors import ConfigurationError
from hub.settings import Settings
from mchub_reference.register.backends import open_store
from mchub_reference.register.store import RegisterStore

API_VERSION = "1.0.0"
#: ``Retry-After`` of a retriable 409 (revocation before issuance)
RETRY_AFTER_SECONDS = 5
PROBLEM_MEDIA_TYPE = "application/problem+json"
#: problem type URIs (RFC 9457 ``type``) by register reason code
PROBLEM_TYPES: dict[str, str] = {
    UNKNOWN_CREDENTIAL: "urn:mchub:problem:unknown-credential",
    CONTENT_CONFLICT: "urn:mchub:problem:content-conflict",
    LEARNER_MISMATCH: "urn:mchub:problem:learner-mismatch",
}

DESCRIPTION = """\
The reference national register of Hungary's micro-credential hub.

**Push contract.** The hub delivers every change of a credential's state with
`PUT /credentials/{credentialId}` and every enrolment status change with
`PUT /learners/{educationId}/enrolments/{eventId}`. Delivery is at-least-once: the
event id is the idempotency key (header `Idempotency-Key`), the register applies each
event id once and answers a redelivery with `200 {"status": "duplicate"}`. Only applied
events occupy their event id, so a rejected change may be sent again.

**Order per credential.** Senders deliver the changes of one credential in order. A
revocation of a credential the register has not seen is refused with `409`
(`urn:mchub:problem:unknown-credential`, `retriable: true`, with `Retry-After`): send
the issuance first, then retry. Revocation is final: no later or older issuance turns a
revoked credential active again. An issuance of a known credential id with a different
element record is refused with `409` (`urn:mchub:problem:content-conflict`); the first
version stays.

**Errors** are RFC 9457 problem documents (`application/problem+json`): `400` for a
body that is not JSON or a missing/mismatching `Idempotency-Key`, `422` for a body that
breaks the schema, `401` for a missing or wrong bearer token, `404` for an unknown
credential, `409` as above.

**Authentication.** When the register is configured with a token, pushes and the
personal-data queries (`/credentials`, `/learners`) need `Authorization: Bearer <token>`.
`/verify/{credentialId}` and `/healthz` are public and disclose no personal data.

The credential record is the canonical §1.2 element record of the hub's feed contract
(the EU standard elements of the Council Recommendation of 16 June 2022).
"""


class RegisterSettings(BaseSettings):
    """Register service settings from ``MCHUB_REGISTER_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="MCHUB_REGISTER_", extra="ignore")

    db: str | None = Field(None, description="database URL; default sqlite:///<data_dir>/register.db")
    token: SecretStr | None = Field(None, description="bearer token required for pushes and reads")
    host: str = Field("127.0.0.1", description="address to listen on")
    port: int = Field(8081, ge=0, le=65535, description="port to listen on")


# ---------------------------------------------------------------------------- problems


def problem(status: int, title: str, *, detail: str | None = None, type_: str = "about:blank",
            instance: str | None = None, headers: dict[str, str] | None = None,
            **extra: Any) -> JSONResponse:
    """An RFC 9457 ``application/problem+json`` response."""
    body: dict[str, Any] = {"type": type_, "title": title, "status": status}
    if detail is not None:
        body["detail"] = detail
    if instance is not None:
        body["instance"] = instance
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


class ProblemError(Exception):
    """Raised by handlers to answer with a problem document."""

    def __init__(self, status: int, title: str, detail: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.headers = headers


def _problem_doc(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}


_BAD_REQUEST = _problem_doc("Body is not JSON, or Idempotency-Key is missing or differs.")
_UNAUTHORISED = _problem_doc("Missing or wrong bearer token (when a token is configured).")
_INVALID = _problem_doc("The body or a path parameter breaks the contract's schema.")


# ---------------------------------------------------------------------------- the app


def create_app(store: RegisterStore, *, token: str | None = None) -> FastAPI:
    """The register's FastAPI application over ``store``; ``token`` enables bearer auth."""
    app = FastAPI(title="mchub national register", version=API_VERSION,
                  description=DESCRIPTION, docs_url="/docs", redoc_url=None)
    bearer = HTTPBearer(auto_error=False, description="The register's configured token.")
    expected = token.encode() if token else None

    def authorised(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> None:
        if expected is None:
            return
        given = credentials.credentials.encode() if credentials is not None else b""
        if credentials is None or not hmac.compare_digest(given, expected):
            raise ProblemError(401, "Unauthorised", "a valid bearer token is required",
                               headers={"WWW-Authenticate": 'Bearer realm="mchub-register"'})

    auth = [Depends(authorised)]
    credential_id_param = PathParam(pattern=IDENTIFIER_PATTERN, alias="credentialId",
                                    description="The register's credential id.")
    education_id_param = PathParam(pattern=EDUCATION_ID_PATTERN, alias="educationId",
                                   description="The learner's education ID.")

    @app.exception_handler(ProblemError)
    async def _problem_error(request: Request, exc: ProblemError) -> JSONResponse:
        return problem(exc.status, exc.title, detail=exc.detail, instance=request.url.path,
                       headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
                  for e in exc.errors()]
        if any(e["type"] == "json_invalid" for e in errors):
            return problem(400, "Malformed JSON", detail="the body is not valid JSON",
                           instance=request.url.path)
        if any(e["loc"][:1] == ["header"] for e in errors):
            return problem(400, "Missing Idempotency-Key",
                           detail="send the event id in the Idempotency-Key header",
                           instance=request.url.path)
        return problem(422, "Invalid request", detail="the request breaks the contract's schema",
                       instance=request.url.path, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail), instance=request.url.path,
                       headers=dict(exc.headers) if exc.headers else None)

    unavailable: tuple[type[Exception], ...] = getattr(store, "unavailable_errors", ())

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, unavailable):
            return problem(503, "Store unavailable", detail=type(exc).__name__,
                           instance=request.url.path,
                           headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        return problem(500, "Internal error", instance=request.url.path)

    def verdict(result: ApplyResult, path: str) -> JSONResponse:
        if result.status == "rejected":
            return problem(409, "Change not applied", detail=result.detail,
                           type_=PROBLEM_TYPES.get(result.reason or "", "about:blank"),
                           instance=path, reason=result.reason, retriable=result.retriable,
                           eventId=result.event_id,
                           headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
                           if result.retriable else None)
        code = 201 if result.status == "applied" and result.created else 200
        return JSONResponse(result.wire(), status_code=code)

    @app.put(
        "/credentials/{credentialId}", dependencies=auth, response_model=ApplyResult,
        tags=["push"], summary="Push a credential's new state (issuance or revocation)",
        operation_id="putCredential",
        responses={
            200: {"description": "Applied (a revocation), or duplicate."},
            201: {"model": ApplyResult, "description": "Applied; the credential was created."},
            400: _BAD_REQUEST, 401: _UNAUTHORISED,
            409: _problem_doc("Not applied: revocation before issuance (retriable), content "
                              "conflict or learner mismatch; see `reason` and `retriable`."),
            422: _INVALID,
        },
        description="Applies the change once per event id. 200 `applied` for a revocation, 201 "
                    "`applied` when the credential is created, 200 `duplicate` when the event "
                    "id was applied before or the change is a no-op.",
    )
    def put_credential(
        request: Request,
        body: CredentialPush,
        credential_id: Annotated[str, credential_id_param],
        idempotency_key: Annotated[str, Header(
            alias="Idempotency-Key", description="The event id (must equal `eventId`).")],
    ) -> JSONResponse:
        _check_key(idempotency_key, body.event_id, required=True)
        change = CredentialChange.model_validate({**body.wire(), "credentialId": credential_id})
        return verdict(store.apply_change(change), request.url.path)

    @app.put(
        "/learners/{educationId}/enrolments/{eventId}", dependencies=auth,
        response_model=ApplyResult, tags=["push"], operation_id="putEnrolment",
        summary="Push an enrolment status change (enrolled, withdrawn, completed)",
        responses={200: {"description": "Duplicate: the event id was applied before."},
                   201: {"model": ApplyResult, "description": "Applied."},
                   400: _BAD_REQUEST, 401: _UNAUTHORISED, 422: _INVALID},
        description="Records the status change once per event id: 201 `applied`, or 200 "
                    "`duplicate` for an event id applied before. Enrolment changes are not "
                    "checked against earlier statuses.",
    )
    def put_enrolment(
        request: Request,
        body: EnrolmentPush,
        education_id: Annotated[str, education_id_param],
        event_id: Annotated[str, PathParam(pattern=IDENTIFIER_PATTERN, alias="eventId",
                                           description="Hub event id; the idempotency key.")],
        idempotency_key: Annotated[str | None, Header(
            alias="Idempotency-Key", description="Optional; must equal `eventId`.")] = None,
    ) -> JSONResponse:
        _check_key(idempotency_key, event_id, required=False)
        change = EnrolmentChange.model_validate(
            {**body.wire(), "eventId": event_id, "educationId": education_id})
        return verdict(store.apply_change(change), request.url.path)

    @app.post(
        "/changes", dependencies=auth, response_model=BatchResult, tags=["push"],
        operation_id="postChanges",
        summary="Push several credential and enrolment changes at once, in order",
        responses={400: _BAD_REQUEST, 401: _UNAUTHORISED, 422: _INVALID},
        description="The batch form of the two PUTs, for senders that deliver many changes: "
                    "items are applied in order, each once per event id, and answered one "
                    "by one with the status its PUT would have had (see BatchItemResult). "
                    "After an item of a credential is not applied, that credential's later "
                    "items answer 424 and are not applied, so a sender that retries them "
                    "keeps the order. Always 200 when the batch itself is readable.",
    )
    def post_changes(body: ChangeBatch) -> BatchResult:
        failed_keys: set[str] = set()
        results: list[BatchItemResult] = []
        for raw in body.changes:
            results.append(_apply_batch_item(store, raw, failed_keys))
        return BatchResult(results=results)

    @app.get("/credentials/{credentialId}", dependencies=auth, response_model=CredentialState,
             operation_id="getCredential",
             tags=["query"], summary="A credential's current state and history",
             responses={401: _UNAUTHORISED, 404: _problem_doc("Unknown credential."),
                        422: _INVALID})
    def get_credential(credential_id: Annotated[str, credential_id_param]) -> CredentialState:
        state = store.get_credential(credential_id)
        if state is None:
            raise ProblemError(404, "Unknown credential",
                               f"no credential with id {credential_id}")
        return state

    @app.get("/learners/{educationId}/credentials", dependencies=auth,
             operation_id="getLearnerCredentials",
             response_model=LearnerCredentials, tags=["query"],
             summary="Every credential of a learner (empty list when none)",
             responses={401: _UNAUTHORISED, 422: _INVALID})
    def learner_credentials(
        education_id: Annotated[str, education_id_param],
    ) -> LearnerCredentials:
        return LearnerCredentials(education_id=education_id,
                                  credentials=store.credentials_of_learner(education_id))

    @app.get("/learners/{educationId}/enrolments", dependencies=auth,
             operation_id="getLearnerEnrolments",
             response_model=LearnerEnrolments, tags=["query"],
             summary="A learner's enrolment history and current status per programme",
             responses={401: _UNAUTHORISED, 422: _INVALID})
    def learner_enrolments(
        education_id: Annotated[str, education_id_param],
    ) -> LearnerEnrolments:
        history = store.enrolments_of_learner(education_id)
        return LearnerEnrolments(education_id=education_id, enrolments=history,
                                 current=current_enrolments(history))

    @app.delete("/learners/{educationId}", dependencies=auth,
                operation_id="eraseLearner", response_model=LearnerErasure, tags=["push"],
                summary="Erase a learner's personal data (GDPR Art. 17)",
                responses={401: _UNAUTHORISED, 422: _INVALID},
                description="Removes the learner's credentials and enrolments. The hub calls "
                            "it from `mchub learners erase`; idempotent (a repeat erases 0).")
    def erase_learner(education_id: Annotated[str, education_id_param]) -> LearnerErasure:
        return store.erase_learner(education_id)

    @app.get("/verify/{credentialId}", response_model=Verification,
             operation_id="verifyCredential", tags=["query"],
             summary="Is this credential valid? (public, no personal data)",
             responses={422: _INVALID},
             description="Always 200: `valid` is true only for a known, active credential; "
                         "`status` is active, revoked or unknown.")
    def verify(credential_id: Annotated[str, credential_id_param]) -> Verification:
        return store.verify(credential_id)

    @app.get("/healthz", response_model=Health,
             operation_id="health", tags=["operations"],
             summary="Liveness and store reachability",
             responses={503: _problem_doc("The store does not answer.")})
    def healthz() -> Health | JSONResponse:
        try:
            store.ping()
        except Exception as exc:  # noqa: BLE001 - any store failure means "unhealthy"
            return problem(503, "Store unavailable", detail=type(exc).__name__)
        return Health(status="ok", store=store.kind)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version,
                              description=app.description, routes=app.routes)
            schemas = doc.setdefault("components", {}).setdefault("schemas", {})
            schemas["Problem"] = Problem.model_json_schema(
                ref_template="#/components/schemas/{model}")
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _apply_batch_item(
    store: RegisterStore, raw: dict[str, Any], failed_keys: set[str]
) -> BatchItemResult:
    """Validate and apply one item of ``POST /changes`` (see :class:`BatchItemResult`)."""
    event_id = raw.get("eventId") if isinstance(raw.get("eventId"), str) else None
    order_key = str(raw.get("credentialId") or raw.get("eventId"))
    if "credentialId" in raw and order_key in failed_keys:
        return BatchItemResult(event_id=event_id, status=424, problem={
            "title": "Not attempted",
            "detail": "an earlier change of this credential in the batch was not applied"})
    change: Change
    try:
        if "credentialId" in raw:
            change = CredentialChange.model_validate(raw)
        else:
            change = EnrolmentChange.model_validate(raw)
    except ValueError as exc:
        failed_keys.add(order_key)
        return BatchItemResult(event_id=event_id, status=422, problem={
            "title": "Invalid change", "detail": str(exc)[:2000]})
    result = store.apply_change(change)
    if result.status == "rejected":
        failed_keys.add(order_key)
        return BatchItemResult(event_id=change.event_id, status=409, result=result)
    code = 201 if result.status == "applied" and result.created else 200
    return BatchItemResult(event_id=change.event_id, status=code, result=result)


def _check_key(header: str | None, event_id: str, *, required: bool) -> None:
    if header is None:
        if required:
            raise ProblemError(400, "Missing Idempotency-Key",
                               "send the event id in the Idempotency-Key header")
        return
    if header != event_id:
        raise ProblemError(400, "Idempotency-Key mismatch",
                           "the Idempotency-Key header must equal the event id")


def current_enrolments(history: list[EnrolmentRecord]) -> list[EnrolmentRecord]:
    """The latest status change per (provider, programme), in the order of ``history``."""
    latest: dict[tuple[str, str, str], EnrolmentRecord] = {}
    for record in history:
        key = (record.provider.scheme, record.provider.id or record.provider.name,
               record.programme.id)
        latest.pop(key, None)
        latest[key] = record
    return list(latest.values())


# ---------------------------------------------------------------------------- OpenAPI


def openapi_document() -> dict[str, Any]:
    """The register's OpenAPI document, generated from the application."""
    from mchub_reference.register.sqlite_store import SqliteRegisterStore

    store = SqliteRegisterStore(":memory:")
    try:
        return create_app(store).openapi()
    finally:
        store.close()


def render_openapi() -> str:
    """The OpenAPI document as committed (``mchub … openapi`` writes it)."""
    return openapi_text(openapi_document())


# ---------------------------------------------------------------------------- running


@contextmanager
def running_register(db: str | RegisterStore = "sqlite:///:memory:", *,
                     token: str | None = None, host: str = "127.0.0.1",
                     port: int = 0) -> Iterator[str]:
    """Run the register in a background thread; yields its base URL (``http://host:port``).

    ``db`` is a database URL (the store is opened and closed here) or an open store (left
    open). ``port`` 0 picks a free port. The server stops when the block ends.
    """
    store = open_store(db) if isinstance(db, str) else db
    try:
        server = quiet_server(create_app(store, token=token))
        with serving_in_thread(server, name="mchub-register", host=host, port=port) as url:
            yield url
    finally:
        if isinstance(db, str):
            store.close()


def serve(db_url: str, *, host: str = "127.0.0.1", port: int = 8081,
          token: str | None = None, consume: Settings | None = None) -> None:
    """Run the register in the foreground until interrupted.

    With ``consume`` (the hub's settings), it also applies the compacted state topic
    ``register.credentials.state`` (:mod:`mchub_reference.register.consumer`).
    """
    restore = exit_cleanly_on_sigterm()
    store = open_store(db_url)
    try:
        config = uvicorn.Config(create_app(store, token=token), host=host, port=port,
                                log_level="info", lifespan="off")
        server = uvicorn.Server(config)
        if consume is None:
            server.run()
        else:
            asyncio.run(_serve_and_consume(server, store, consume))
        if not server.started:
            raise ConfigurationError(f"the register could not listen on {host}:{port}")
    except OSError as exc:
        raise ConfigurationError(f"the register could not listen on {host}:{port}: {exc}") from exc
    finally:
        store.close()
        restore()




async def _serve_and_consume(server: uvicorn.Server, store: RegisterStore,
                             settings: Settings) -> None:
    """Serve HTTP and consume the state topic; either one ending stops the other."""
    from mchub_reference.register.consumer import consume_state

    stop = asyncio.Event()
    consumer = asyncio.create_task(consume_state(settings, store, stop))

    def _consumer_ended(_: asyncio.Task[Any]) -> None:
        server.should_exit = True

    consumer.add_done_callback(_consumer_ended)
    try:
        await server.serve()
    finally:
        stop.set()
        await consumer


__all__ = [
    "RegisterSettings",
    "create_app",
    "current_enrolments",
    "openapi_document",
    "render_openapi",
    "running_register",
    "serve",
]
