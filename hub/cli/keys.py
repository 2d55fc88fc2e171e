"""``mchub keys rotate|list``: the hub's signing key and the keys verifiers can find.

``rotate`` replaces the seal key and keeps the previous public key published: OB3
VC-JWTs name their key by URL (``<issuer>/keys/<thumbprint>``), and the issuer server
serves every key in ``<data_dir>/keys/published-keys.json``, so credentials signed before
the rotation keep verifying.

* development (no ``--key``/``--cert``): a new ECDSA P-256 seal key and certificate,
  issued by the existing dev CA (so earlier ELM seals keep chaining to the same anchor);
  a new dev CA and seal when there is no dev CA key;
* production: ``--key NEW.key.pem --cert NEW.chain.pem`` installs the given files where
  the seal is configured (``MCHUB_SEAL_KEY``/``MCHUB_SEAL_CERT``, else the keys directory).

``list`` prints the published keys, current first.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from hub.crypto.devca import generate_dev_keys, issue_seal_certificate
from hub.crypto.jose import parse_x5c
from hub.crypto.jwks import forget_published, key_thumbprint, publish_key, published_keys
from hub.crypto.keys import (
    CA_CERT_FILE,
    CA_KEY_FILE,
    CERT_FILE,
    KEY_FILE,
    Signer,
    load_certificates,
    load_private_key,
    load_signer,
)
from hub.errors import ConfigurationError
from hub.settings import load_settings

app = typer.Typer(
    help="The seal key: rotate it, list the published keys.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

#: validity of a rotated dev seal certificate
DEV_SEAL_DAYS = 825


def _keys_dir() -> Path:
    return load_settings().data_dir / "keys"


@app.command("rotate")
def rotate(
    key: Annotated[Path | None, typer.Option(help="PEM private key of the new seal")] = None,
    cert: Annotated[Path | None, typer.Option(help="PEM chain of the new seal, leaf first")] = (
        None
    ),
) -> None:
    """Replace the seal key; the previous public key stays published."""
    from connectors.status.settings import issuing_signer

    if (key is None) != (cert is None):
        raise ConfigurationError("give both --key and --cert (or neither, for a dev key)")
    settings = load_settings()
    issuing = settings.issuing
    keys_dir = _keys_dir()
    previous = issuing_signer(settings)
    publish_key(keys_dir, previous)  # in the set before anything is replaced
    if key is not None and cert is not None:
        new = load_signer(key, cert)  # refuses a key that does not match the certificate
        _install(key, issuing.seal_key or keys_dir / KEY_FILE, private=True)
        _install(cert, issuing.seal_cert or keys_dir / CERT_FILE, private=False)
    else:
        if issuing.seal_key is not None:
            raise ConfigurationError(
                "MCHUB_SEAL_KEY is set (a production seal): rotate with --key/--cert"
            )
        new = rotate_dev_seal(keys_dir, public_base_url=issuing.public_base_url)
    forget_published()
    publish_key(keys_dir, new)
    print(f"new key:      {key_thumbprint(new)} ({new.alg})")
    print(f"previous key: {key_thumbprint(previous)} (still published)")
    print(f"published keys: {keys_dir / 'published-keys.json'}")


@app.command("list")
def list_keys() -> None:
    """The published keys (current first): thumbprint, algorithm, certificate."""
    keys = published_keys(_keys_dir())
    if not keys:
        print("no key published yet (one is when the hub first signs, or by keys rotate)")
        return
    for i, jwk in enumerate(keys):
        label = "current " if i == 0 else "previous"
        detail = ""
        if jwk.get("x5c"):
            leaf = parse_x5c(jwk["x5c"])[0]
            detail = (
                f"  {leaf.subject.rfc4514_string()}"
                f"  valid until {leaf.not_valid_after_utc.date().isoformat()}"
            )
        print(f"{label}  {jwk.get('kid')}  {jwk.get('alg')}{detail}")


def rotate_dev_seal(keys_dir: Path, *, public_base_url: str, now: datetime | None = None) -> Signer:
    """A new dev seal key and certificate issued by the existing dev CA (same subject);
    a whole new dev CA and seal when there is no CA key. The new signer."""
    paths = generate_dev_keys(keys_dir)  # the current ones, made if missing
    ca_key_path = keys_dir / CA_KEY_FILE
    if not ca_key_path.exists():
        paths = generate_dev_keys(keys_dir, public_base_url=public_base_url, overwrite=True)
        return load_signer(paths.key, paths.chain)
    moment = now or datetime.now(UTC)
    ca_cert = load_certificates(keys_dir / CA_CERT_FILE)[0]
    ca_key = load_private_key(ca_key_path)
    old_leaf = load_certificates(paths.chain)[0]
    seal_key = ec.generate_private_key(ec.SECP256R1())
    leaf = issue_seal_certificate(
        old_leaf.subject,
        seal_key.public_key(),
        ca_cert,
        ca_key,
        public_base_url=public_base_url,
        not_before=moment - timedelta(minutes=5),
        not_after=min(moment + timedelta(days=DEV_SEAL_DAYS), ca_cert.not_valid_after_utc),
    )
    key_pem = seal_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    chain_pem = leaf.public_bytes(serialization.Encoding.PEM) + ca_cert.public_bytes(
        serialization.Encoding.PEM
    )
    _write_atomic(paths.key, key_pem, 0o600)
    _write_atomic(paths.chain, chain_pem, 0o644)
    return load_signer(paths.key, paths.chain)


def _install(source: Path, target: Path, *, private: bool) -> None:
    if source.resolve() == target.resolve():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(target, source.read_bytes(), 0o600 if private else 0o644)


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(partial, path)


__all__ = ["app", "list_keys", "rotate", "rotate_dev_seal"]
