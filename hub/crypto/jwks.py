"""Public keys as JWKs: the keys a verifier fetches to check the hub's VC-JWTs.

* :func:`signer_jwk` — the JWK of a :class:`~hub.crypto.keys.Signer`'s public key:
  ``kid`` is its RFC 7638 thumbprint (the last segment of the key URL in a VC-JWT header),
  plus ``alg``, ``use: sig`` and ``x5c`` (the seal certificate chain: the link from the key
  to the hub's X.509 seal identity, for verifiers that want it; OB 3.0 verifiers ignore it).
* :func:`publish_key` / :func:`published_keys` — ``published-keys.json`` in the keys
  directory: a JWK Set of every public key ever used to sign, current first. It is written
  when a key is first used or installed by ``mchub keys rotate``; keys are never removed,
  so credentials signed before a rotation keep verifying. The issuer server serves it and
  needs no private key.
* :class:`HttpKeyResolver` — dereferences a ``kid`` URL over HTTP (OB 3.0 §8.5), with a
  small cache: the key resolver :func:`hub.crypto.vcjwt.verify_vc` uses for real.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import httpx
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from hub.crypto.keys import PublicKey, Signer, b64url, b64url_decode
from hub.errors import VerificationError

PUBLISHED_KEYS_FILE: Final = "published-keys.json"
#: the largest JWK document the resolver reads (an RSA JWK with a chain is a few KiB)
MAX_JWK_BYTES: Final = 64 * 1024
JWK_MEDIA_TYPE: Final = "application/jwk+json"
JWKS_MEDIA_TYPE: Final = "application/jwk-set+json"
#: the members RFC 7638 hashes, per key type (lexicographic order)
_THUMBPRINT_MEMBERS: Final = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n")}

Jwk = dict[str, Any]
#: a ``kid`` URL -> the public JWK it names; raises VerificationError when it cannot
KeyResolver = Callable[[str], Jwk]


def _uint(value: int, size: int | None = None) -> str:
    length = size if size is not None else max(1, (value.bit_length() + 7) // 8)
    return b64url(value.to_bytes(length, "big"))


def public_jwk(key: PublicKey) -> Jwk:
    """The bare public JWK (RFC 7517/7518) of an EC P-256 or RSA public key."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise ValueError("only P-256 EC keys are supported")
        nums = key.public_numbers()
        return {"kty": "EC", "crv": "P-256", "x": _uint(nums.x, 32), "y": _uint(nums.y, 32)}
    nums_rsa = key.public_numbers()
    return {"kty": "RSA", "n": _uint(nums_rsa.n), "e": _uint(nums_rsa.e)}


def thumbprint(jwk: Jwk) -> str:
    """The RFC 7638 JWK thumbprint (SHA-256, base64url) of a public JWK."""
    members = _THUMBPRINT_MEMBERS.get(str(jwk.get("kty")))
    if members is None:
        raise ValueError(f"unsupported key type {jwk.get('kty')!r}")
    canonical = {m: jwk[m] for m in members}
    text = json.dumps(canonical, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(text.encode("utf-8")).digest())


def signer_jwk(signer: Signer) -> Jwk:
    """The published JWK of ``signer``: public members, ``kid`` (thumbprint), ``alg``,
    ``use`` and ``x5c``. Never any private member."""
    jwk = public_jwk(signer.key.public_key())
    return {**jwk, "kid": thumbprint(jwk), "alg": signer.alg, "use": "sig", "x5c": signer.x5c()}


def key_thumbprint(signer: Signer) -> str:
    """The ``kid`` thumbprint of ``signer``'s public key (cached per signer)."""
    found = _thumbprints.get(id(signer))
    if found is not None and found[0] is signer:
        return found[1]
    value = thumbprint(public_jwk(signer.key.public_key()))
    _thumbprints[id(signer)] = (signer, value)
    return value


_thumbprints: dict[int, tuple[Signer, str]] = {}


def key_url(issuer_id: str, kid: str) -> str:
    """The dereferenceable key URL under an issuer: ``<issuer id>/keys/<thumbprint>``."""
    return f"{issuer_id.rstrip('/')}/keys/{kid}"


def jwk_public_key(jwk: Jwk) -> PublicKey:
    """The public key of a JWK (EC P-256 or RSA); ``ValueError`` when it is not one."""
    if "d" in jwk:
        raise ValueError("a published JWK must not hold a private key")
    kty = jwk.get("kty")
    if kty == "EC":
        if jwk.get("crv") != "P-256":
            raise ValueError(f"unsupported curve {jwk.get('crv')!r}")
        x = int.from_bytes(b64url_decode(str(jwk["x"])), "big")
        y = int.from_bytes(b64url_decode(str(jwk["y"])), "big")
        return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    if kty == "RSA":
        n = int.from_bytes(b64url_decode(str(jwk["n"])), "big")
        e = int.from_bytes(b64url_decode(str(jwk["e"])), "big")
        return rsa.RSAPublicNumbers(e, n).public_key()
    raise ValueError(f"unsupported key type {kty!r}")


# --- the published-keys set -------------------------------------------------------------


def published_keys(keys_dir: Path) -> list[Jwk]:
    """Every published public key (current first); empty when none was published yet."""
    path = keys_dir / PUBLISHED_KEYS_FILE
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} is not a JWK Set: {exc}") from exc
    keys = doc.get("keys") if isinstance(doc, dict) else None
    if not isinstance(keys, list):
        raise ValueError(f"{path} is not a JWK Set")
    return [k for k in keys if isinstance(k, dict) and "d" not in k]


_publish_lock = threading.Lock()
#: (keys dir, thumbprint) already known to be the current published key in this process
_published: set[tuple[str, str]] = set()


def publish_key(keys_dir: Path, signer: Signer) -> bool:
    """Make ``signer``'s public key the current one in ``published-keys.json``.

    Earlier keys stay (after it). True when the file changed. Cheap when the key is
    already current (remembered per process), so it can be called before each signature.
    """
    kid = key_thumbprint(signer)
    memo = (str(keys_dir), kid)
    if memo in _published:
        return False
    with _publish_lock:
        keys = published_keys(keys_dir)
        if keys and keys[0].get("kid") == kid:
            _published.add(memo)
            return False
        others = [k for k in keys if k.get("kid") != kid]
        _write_json(keys_dir / PUBLISHED_KEYS_FILE, {"keys": [signer_jwk(signer), *others]})
        _published.add(memo)
        return True


def _write_json(path: Path, doc: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=2)
            fh.write("\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def forget_published() -> None:
    """Forget which keys this process published (after the file was replaced, tests)."""
    _published.clear()


# --- dereferencing kid URLs -------------------------------------------------------------


class HttpKeyResolver:
    """Fetches the JWK a ``kid`` URL names (``http``/``https`` only), with a small cache.

    Use as a context manager (or call :meth:`close`). Failures raise
    ``VerificationError("key-unavailable", ...)``.
    """

    def __init__(
        self, *, timeout: float = 10.0, cache_size: int = 64, client: httpx.Client | None = None
    ) -> None:
        self._client = client or httpx.Client(timeout=timeout, follow_redirects=False)
        self._own = client is None
        self._cache: dict[str, Jwk] = {}
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def __enter__(self) -> HttpKeyResolver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP client (when this resolver made it)."""
        if self._own:
            self._client.close()

    def __call__(self, kid: str) -> Jwk:
        with self._lock:
            found = self._cache.get(kid)
        if found is not None:
            return found
        if not kid.startswith(("https://", "http://")):
            raise VerificationError("key-unavailable", f"kid {kid!r} is not an HTTP(S) URL")
        try:
            accept = f"{JWK_MEDIA_TYPE}, application/json"
            answer = self._client.get(kid, headers={"Accept": accept})
        except httpx.HTTPError as exc:
            raise VerificationError("key-unavailable", f"cannot fetch key {kid}: {exc}") from exc
        if answer.status_code != 200:
            raise VerificationError(
                "key-unavailable", f"key {kid} answered HTTP {answer.status_code}"
            )
        if len(answer.content) > MAX_JWK_BYTES:
            raise VerificationError("key-unavailable", f"key {kid} is larger than a JWK")
        try:
            jwk = answer.json()
        except ValueError as exc:
            raise VerificationError("key-unavailable", f"key {kid} is not JSON") from exc
        if not isinstance(jwk, dict):
            raise VerificationError("key-unavailable", f"key {kid} is not a JWK")
        with self._lock:
            if len(self._cache) >= self._cache_size:
                self._cache.clear()
            self._cache[kid] = jwk
        return jwk
