"""``mchub render`` and ``mchub verify``: canonical records to credentials, and back to a verdict.

``render FORMAT FILE`` reads canonical issuance events as ``mchub normalise`` prints them
(JSON lines of ``{recordType, credentialKey, record}``), or one expected-sample JSON with
``elements``, and writes one credential per issuance: unsigned, or sealed (ELM, JAdES)
/ signed (OB3, VC-JWT) when ``--key``/``--cert`` (or ``--dev-keys``) are given.
``verify FILE --trust-anchor CA.pem`` checks seal or signature, chain and, with
``--status-list`` (files) or ``--fetch-status`` (over HTTP from the credential's
``statusListCredential`` URL), revocation; it prints ``valid``/``invalid: <reason>`` and
exits 0/1.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from connectors.crypto.jades import seal
from connectors.crypto.keys import (
    Signer,
    b64url_decode,
    dev_signer,
    load_certificates,
    load_signer,
)
from connectors.crypto.statuslist import (
    DEV_STATUS_BASE_URL,
    JsonFileStatusListStore,
    StatusListService,
)
from connectors.crypto.vcjwt import sign_vc
from connectors.crypto.verify import verify_credential
from connectors.render import RenderInput, StatusRef
from connectors.render.elm import DEV_ISSUER, IssuerProfile, render_elm
from connectors.render.ob3 import render_ob3
from hub.errors import ConfigurationError
from hub.settings import load_settings

FORMATS = ("elm", "ob3")
#: namespace of credential ids derived from credential keys (same key -> same id)
CREDENTIAL_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:mchub:credential")


def render(
    fmt: Annotated[str, typer.Argument(metavar="FORMAT", help="elm (EDC JSON-LD) or ob3")],
    file: Annotated[
        str, typer.Argument(help="canonical events (JSON lines) or a sample; '-' = stdin")
    ],
    key: Annotated[Path | None, typer.Option(help="PEM private key of the seal")] = None,
    cert: Annotated[Path | None, typer.Option(help="PEM certificate chain, leaf first")] = None,
    dev_keys: Annotated[
        bool,
        typer.Option("--dev-keys", help="seal with the dev key in <data_dir>/keys (made once)"),
    ] = False,
    out: Annotated[Path | None, typer.Option(help="directory for one file per credential")] = None,
    status_dir: Annotated[
        Path | None, typer.Option(help="allocate revocation entries in a file-backed status list")
    ] = None,
    status_base_url: Annotated[
        str, typer.Option(help="URL prefix of status lists")
    ] = DEV_STATUS_BASE_URL,
) -> None:
    """Render canonical issuance records as ELM or OB3 credentials (sealed when keyed)."""
    if fmt not in FORMATS:
        raise typer.BadParameter(f"FORMAT must be one of {', '.join(FORMATS)}", param_hint="FORMAT")
    signer = _signer(key, cert, dev_keys)
    status = None
    if status_dir is not None:
        if signer is None:
            raise ConfigurationError(
                "--status-dir needs a signing key (--key/--cert or --dev-keys)"
            )
        status = StatusListService(
            JsonFileStatusListStore(status_dir), signer, _hub_issuer_id(signer), status_base_url
        )
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    for obj in _records(_read(file)):
        ref: StatusRef | None = status.allocate() if status is not None else None
        inp = RenderInput(
            credential_id=str(
                obj.get("credentialId") or uuid.uuid5(CREDENTIAL_ID_NAMESPACE, obj["credentialKey"])
            ),
            credential_key=obj["credentialKey"],
            elements=obj["elements"],
            issued_at=_issued_at(obj.get("issuedAt")),
            status=ref,
        )
        text, ext = _render_one(fmt, inp, signer)
        if out is None:
            print(text)
        else:
            path = out / f"{inp.credential_id}{ext}"
            path.write_text(text + "\n", encoding="utf-8")
            print(path)
    if status is not None:
        status_dir_path = status_dir or Path()
        list_file = status_dir_path / "statuslist-1.jwt"
        if status.store.get("1") is not None:
            list_file.write_text(status.signed_credential("1") + "\n", encoding="utf-8")
            print(f"status list: {list_file}", file=sys.stderr)


def verify(
    file: Annotated[
        Path, typer.Argument(help="a sealed ELM (JWS JSON) or OB3 VC-JWT, or lines of them")
    ],
    trust_anchor: Annotated[Path, typer.Option(help="PEM trust anchor(s), e.g. the dev CA")],
    status_list: Annotated[
        list[Path] | None, typer.Option(help="signed status list credential file(s) (VC-JWT)")
    ] = None,
    fetch_status: Annotated[
        bool,
        typer.Option(
            "--fetch-status",
            help="fetch status lists not given as files from their statusListCredential URL",
        ),
    ] = False,
) -> None:
    """Check seal/signature, certificate chain and (with --status-list or --fetch-status)
    revocation; exit 0/1."""
    anchors = load_certificates(trust_anchor)
    lists = _status_lists(status_list or [])
    resolver: Callable[[str], str | None] = lists.get
    with ExitStack() as stack:
        if fetch_status:
            from connectors.status.client import HttpStatusResolver, chain_resolvers

            fetcher = stack.enter_context(HttpStatusResolver())
            resolver = chain_resolvers(lists.get, fetcher)
        ok = True
        for item in _credential_texts(file.read_text(encoding="utf-8")):
            verdict = verify_credential(item, anchors, status_resolver=resolver)
            print(verdict.line())
            ok = ok and verdict.valid
    raise typer.Exit(0 if ok else 1)


# --- helpers --------------------------------------------------------------------------


def _signer(key: Path | None, cert: Path | None, dev_keys: bool) -> Signer | None:
    if key is not None or cert is not None:
        if key is None or cert is None:
            raise ConfigurationError("give both --key and --cert (or --dev-keys)")
        return load_signer(key, cert)
    if dev_keys:
        return dev_signer(load_settings().data_dir / "keys")
    return None


def _issuer_profile(signer: Signer | None) -> IssuerProfile:
    """The EDC issuer: from the seal certificate when sealing, else the dev issuer."""
    if signer is None:
        return DEV_ISSUER
    ident = signer.organization_identifier()
    if ident is None:
        raise ConfigurationError("the seal certificate has no organizationIdentifier (2.5.4.97)")
    name = signer.organization_name() or ident
    return IssuerProfile(legal_name={"hu": name}, eidas_identifier=ident)


def _hub_issuer_id(signer: Signer) -> str:
    return f"urn:mchub:issuer:{signer.organization_identifier() or signer.x5t_s256()}"


def _render_one(fmt: str, inp: RenderInput, signer: Signer | None) -> tuple[str, str]:
    if fmt == "elm":
        doc = render_elm(inp, _issuer_profile(signer))
        if signer is None:
            return json.dumps(doc, ensure_ascii=False), ".jsonld"
        return json.dumps(seal(doc, signer), ensure_ascii=False), ".jades.json"
    badge = render_ob3(inp)
    if signer is None:
        return json.dumps(badge, ensure_ascii=False), ".json"
    return sign_vc(badge, signer), ".jwt"


def _read(file: str) -> str:
    if file == "-":
        return sys.stdin.read()
    try:
        return Path(file).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read {file}: {exc}") from exc


def _records(text: str) -> Iterator[dict[str, Any]]:
    """Issuance records as ``{credentialKey, elements, ...}``; other record types skipped."""
    stripped = text.strip()
    try:
        whole = json.loads(stripped)
        objects = whole if isinstance(whole, list) else [whole]
    except ValueError:
        objects = [json.loads(line) for line in stripped.splitlines() if line.strip()]
    for obj in objects:
        if not isinstance(obj, dict):
            continue
        if obj.get("recordType", "credential") != "credential":
            print(
                f"skipped {obj.get('recordType')} record {obj.get('credentialKey')}",
                file=sys.stderr,
            )
            continue
        elements = obj.get("elements") or obj.get("record")
        if not isinstance(elements, dict) or "credentialKey" not in obj:
            raise ConfigurationError("an issuance record needs credentialKey and elements/record")
        yield {**obj, "elements": elements}


def _issued_at(value: object) -> datetime:
    if isinstance(value, str):
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return datetime.now(UTC).replace(microsecond=0)


def _credential_texts(text: str) -> Iterator[str]:
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            json.loads(stripped)
            yield stripped
            return
        except ValueError:
            pass
    yield from (line.strip() for line in stripped.splitlines() if line.strip())


def _status_lists(paths: list[Path]) -> dict[str, str]:
    """Status list URL -> signed list credential, read from files (payload id, unverified;
    the verifier checks the signature)."""
    found: dict[str, str] = {}
    for path in paths:
        token = path.read_text(encoding="utf-8").strip()
        try:
            payload = json.loads(b64url_decode(token.split(".")[1]))
        except (IndexError, ValueError) as exc:
            raise ConfigurationError(f"{path} is not a VC-JWT status list credential") from exc
        found[str(payload.get("id"))] = token
    return found
