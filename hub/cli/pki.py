"""``mchub pki``: the dev CA's revocation list — show it, renew it, revoke the dev seal.

The dev seal certificate names ``<public base URL>/v1/pki/ca.crl`` (the hub's issuer
server serves ``ca.crl`` from the keys directory, ``<data_dir>/keys``). These verbs sign
that file with the dev CA's key, which only this command line and the hub's own dev
signer hold — never the server:

``mchub pki crl``            issue or renew the CRL when due, and print it
``mchub pki revoke-seal``    revoke the dev seal certificate (verifiers such as EU DSS then
                             answer INDETERMINATE / REVOKED_NO_POE; the EDC endpoint refuses
                             ``certificate-revoked``); ``mchub keys rotate``
                             issues a new seal certificate from the same CA
``mchub pki revoke SERIAL``  revoke any certificate of the dev CA by serial (hex)

A production seal's CA publishes its own CRL; these verbs refuse without a dev CA key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from cryptography import x509

from hub.errors import ConfigurationError
from hub.settings import load_settings

app = typer.Typer(help="The dev CA's certificate revocation list.", no_args_is_help=True)

KeysDir = Annotated[
    Path | None,
    typer.Option("--keys-dir", help="keys directory (default <data_dir>/keys)"),
]
Reason = Annotated[
    str,
    typer.Option(
        "--reason",
        help="RFC 5280 reason: key_compromise, superseded, cessation_of_operation, "
        "affiliation_changed, unspecified",
    ),
]


def _keys_dir(keys_dir: Path | None) -> Path:
    directory = keys_dir or load_settings().data_dir / "keys"
    if not (directory / "ca.key.pem").exists():
        raise ConfigurationError(f"no dev CA in {directory} (ca.key.pem): nothing to sign with")
    return directory


def _reason(name: str) -> x509.ReasonFlags:
    try:
        return x509.ReasonFlags[name]
    except KeyError:
        raise ConfigurationError(f"unknown revocation reason {name!r}") from None


def _describe(directory: Path) -> dict[str, object]:
    from hub.crypto import pki
    from hub.crypto.keys import CRL_FILE

    crl = pki.load_crl(directory / CRL_FILE)
    return {
        "file": str(directory / CRL_FILE),
        "number": pki.crl_number(crl),
        "thisUpdate": crl.last_update_utc.isoformat(),
        "nextUpdate": crl.next_update_utc.isoformat() if crl.next_update_utc else None,
        "revoked": [
            {
                "serial": f"{e.serial:x}",
                "revokedAt": e.revoked_at.isoformat(),
                "reason": e.reason.name if e.reason else None,
            }
            for e in pki.revoked_entries(crl)
        ],
    }


@app.command("crl")
def crl(keys_dir: KeysDir = None) -> None:
    """Issue or renew the dev CA's CRL when due, and print it (JSON)."""
    from hub.crypto import pki

    directory = _keys_dir(keys_dir)
    pki.ensure_crl(directory)
    typer.echo(json.dumps(_describe(directory), indent=2))


@app.command("revoke-seal")
def revoke_seal(keys_dir: KeysDir = None, reason: Reason = "key_compromise") -> None:
    """Revoke the dev seal certificate in the dev CA's CRL."""
    from hub.crypto import pki

    directory = _keys_dir(keys_dir)
    serial = pki.revoke_seal(directory, reason=_reason(reason))
    typer.echo(f"revoked the dev seal certificate (serial {serial:x}) in {directory / 'ca.crl'}")


@app.command("revoke")
def revoke(
    serial: Annotated[str, typer.Argument(help="serial number (hex) of the certificate")],
    keys_dir: KeysDir = None,
    reason: Reason = "key_compromise",
) -> None:
    """Revoke a certificate of the dev CA by its serial number."""
    from hub.crypto import pki

    try:
        number = int(serial.replace(":", ""), 16)
    except ValueError:
        raise ConfigurationError(f"{serial!r} is not a hexadecimal serial number") from None
    directory = _keys_dir(keys_dir)
    pki.revoke_certificate(directory, number, reason=_reason(reason))
    typer.echo(f"revoked serial {number:x} in {directory / 'ca.crl'}")
