"""``mchub render`` and ``mchub verify``: canonical records to credentials, and back to a verdict.

``render FORMAT FILE`` reads canonical issuance events as ``mchub normalise`` prints them
(JSON lines of ``{recordType, credentialKey, record}``), or one expected-sample JSON with
``elements``, and writes one credential per issuance: unsigned, or sealed (ELM, JAdES)
/ signed (OB3, VC-JWT) when ``--key``/``--cert`` (or ``--dev-keys``) are given. OB3
issuer ids are profile URLs under ``--public-base-url`` (``MCHUB_PUBLIC_BASE_URL``);
signing publishes the key in ``<data_dir>/keys/published-keys.json``.
``verify FILE`` checks an OB3 VC-JWT from the file alone — the key is fetched from the
``kid`` URL the issuer server publishes — and a sealed ELM against ``--trust-anchor``;
with ``--status-list`` (files) or ``--fetch-status`` (over HTTP from the credential's
``statusListCredential`` URL) also revocation; it prints ``valid``/``invalid: <reason>``
and exits 0/1.
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
from urllib.parse import quote

import typer

from connectors.status.issuers import IssuerDirectory
from hub.crypto.devca import dev_signer
from hub.crypto.jades import RevocationCheck, seal
from hub.crypto.jwks import HttpKeyResolver, key_thumbprint, key_url, publish_key
from hub.crypto.keys import Signer, b64url_decode, load_certificates, load_signer
from hub.crypto.pseudonym import load_subject_secret
from hub.crypto.statuslist import (
    DEV_STATUS_BASE_URL,
    JsonFileStatusListStore,
    StatusListService,
)
from hub.crypto.vcjwt import sign_vc
from hub.crypto.verify import verify_credential
from hub.errors import ConfigurationError
from hub.render import RenderInput, StatusRef
from hub.render.elm import DEV_ISSUER, IssuerProfile, render_elm
from hub.render.ob3 import issuer_id, render_ob3
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
    public_base_url: Annotated[
        str | None,
        typer.Option(help="issuer server's public URL (default MCHUB_PUBLIC_BASE_URL)"),
    ] = None,
) -> None:
    """Render canonical issuance records as ELM or OB3 credentials (sealed when keyed)."""
    if fmt not in FORMATS:
        raise typer.BadParameter(f"FORMAT must be one of {', '.join(FORMATS)}", param_hint="FORMAT")
    signer = _signer(key, cert, dev_keys)
    base = (public_base_url or _settings_base_url()).rstrip("/")
    keys_dir = load_settings().data_dir / "keys"
    secret = load_subject_secret(keys_dir) if signer is not None else None
    directory = None
    if signer is not None and fmt == "ob3":
        # the issuer server serves profiles and keys of what the hub signed
        publish_key(keys_dir, signer)
        directory = _issuer_directory()
    lists = None
    if status_dir is not None:
        if signer is None:
            raise ConfigurationError(
                "--status-dir needs a signing key (--key/--cert or --dev-keys)"
            )
        lists = _FileLists(
            StatusListService(
                JsonFileStatusListStore(status_dir),
                signer,
                _hub_issuer_id(signer),
                status_base_url,
                kid_for=lambda iss: _list_kid(iss, base, signer),
            )
        )
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    for obj in _records(_read(file)):
        issuer = (
            issuer_id(obj["elements"]["awardingBodies"][0], base)
            if fmt == "ob3"
            else _issuer_profile(signer).node_id
        )
        ref: StatusRef | None = lists.allocate(issuer) if lists is not None else None
        inp = RenderInput(
            credential_id=str(
                obj.get("credentialId") or uuid.uuid5(CREDENTIAL_ID_NAMESPACE, obj["credentialKey"])
            ),
            credential_key=obj["credentialKey"],
            elements=obj["elements"],
            issued_at=_issued_at(obj.get("issuedAt")),
            status=ref,
            public_base_url=base,
            subject_secret=secret,
        )
        text, ext = _render_one(fmt, inp, signer, directory)
        if out is None:
            print(text)
        else:
            path = out / f"{inp.credential_id}{ext}"
            path.write_text(text + "\n", encoding="utf-8")
            print(path)
    if directory is not None:
        directory.close()
    if lists is not None and status_dir is not None:
        for list_id in lists.by_issuer.values():
            list_file = status_dir / f"statuslist-{list_id}.jwt"
            list_file.write_text(lists.service.signed_credential(list_id) + "\n", encoding="utf-8")
            print(f"status list: {list_file}", file=sys.stderr)


class _FileLists:
    """One file-backed status list per issuer (a list's issuer must be its credentials')."""

    def __init__(self, service: StatusListService) -> None:
        self.service = service
        self.by_issuer: dict[str, str] = {}

    def allocate(self, issuer: str) -> StatusRef:
        list_id = self.by_issuer.setdefault(issuer, str(len(self.by_issuer) + 1))
        ref = self.service.allocate(list_id)
        state = self.service.store.get(list_id)
        if state is not None and state.issuer != issuer:
            state.issuer = issuer
            self.service.store.put(state)
        return ref


def _settings_base_url() -> str:
    return load_settings().issuing.public_base_url


def _list_kid(issuer: str, base: str, signer: Signer) -> str | None:
    """A list's ``kid``: the default under an issuer URL, else under the sealing
    organisation's issuer path (``eidas/<organization identifier>``)."""
    if issuer.startswith(("https://", "http://")):
        return None
    ident = signer.organization_identifier() or signer.x5t_s256()
    return key_url(f"{base}/v1/issuers/eidas/{quote(ident, safe='')}", key_thumbprint(signer))


def verify(
    file: Annotated[
        Path, typer.Argument(help="a sealed ELM (JWS JSON) or OB3 VC-JWT, or lines of them")
    ],
    trust_anchor: Annotated[
        Path | None,
        typer.Option(help="PEM trust anchor(s) of sealed ELM, e.g. the dev CA (not for OB3)"),
    ] = None,
    status_list: Annotated[
        list[Path] | None, typer.Option(help="signed status list credential file(s) (VC-JWT)")
    ] = None,
    fetch_status: Annotated[
        bool,
        typer.Option(
            "--fetch-status",
            help="fetch status lists not given as files from their statusListCredential URL, "
            "and an ELM seal certificate's CRL from the address it names",
        ),
    ] = False,
) -> None:
    """Check seal/signature (OB3: the key found through the issuer's served documents;
    ELM: the certificate chain to --trust-anchor) and (with --status-list or
    --fetch-status) revocation (with --fetch-status also the seal certificate's, from its
    CRL); exit 0/1."""
    anchors = load_certificates(trust_anchor) if trust_anchor is not None else []
    lists = _status_lists(status_list or [])
    resolver: Callable[[str], str | None] = lists.get
    revocation: RevocationCheck | None = None
    with ExitStack() as stack:
        keys = stack.enter_context(HttpKeyResolver())
        if fetch_status:
            from connectors.status.client import HttpStatusResolver, chain_resolvers, fetch_crl
            from hub.crypto.pki import crl_revocation_check

            fetcher = stack.enter_context(HttpStatusResolver())
            resolver = chain_resolvers(lists.get, fetcher)
            revocation = crl_revocation_check(fetch_crl)
        ok = True
        for item in _credential_texts(file.read_text(encoding="utf-8")):
            verdict = verify_credential(
                item, anchors, status_resolver=resolver, key_resolver=keys, revocation=revocation
            )
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


def _issuer_directory() -> IssuerDirectory:
    """The issuer directory in the configured status database (``MCHUB_STATUS_DB``)."""
    from connectors.status.settings import status_db_path

    path = status_db_path(load_settings())
    path.parent.mkdir(parents=True, exist_ok=True)
    return IssuerDirectory(path)


def _render_one(
    fmt: str, inp: RenderInput, signer: Signer | None, directory: IssuerDirectory | None = None
) -> tuple[str, str]:
    if fmt == "elm":
        doc = render_elm(inp, _issuer_profile(signer))
        if signer is None:
            return json.dumps(doc, ensure_ascii=False), ".jsonld"
        return json.dumps(seal(doc, signer), ensure_ascii=False), ".jades.json"
    badge = render_ob3(inp)
    if signer is None:
        return json.dumps(badge, ensure_ascii=False), ".json"
    if directory is not None:
        directory.record(badge["issuer"])
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
