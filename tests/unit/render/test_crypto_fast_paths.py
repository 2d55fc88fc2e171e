"""The signing hot path's shortcuts give what the slow path gave: the same bytes signed.

``compact_json`` (orjson, with the standard library where orjson could differ) must
write exactly ``json.dumps(value, ensure_ascii=False, separators=(",", ":"))``, since
seals and VC-JWTs are over those bytes; a :class:`Signer` computes its ``x5c`` and
``x5t#S256`` once, and they must equal what the certificates give each time.
"""

from __future__ import annotations

import base64
import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from hub.crypto.devca import dev_signer
from hub.crypto.jades import seal
from hub.crypto.jose import compact_json
from hub.crypto.jwks import key_url, signer_jwk
from hub.crypto.keys import Signer, b64url, b64url_decode, cert_thumbprint
from hub.crypto.vcjwt import jwt_claims, sign_vc
from hub.render.elm import render_elm
from hub.render.ob3 import Ob3Options, render_ob3
from tests.unit.render.render_support import co_awarded_foreign_variant, he_sample, make_input

pytestmark = pytest.mark.unit


def _standard(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@pytest.mark.parametrize(
    "value",
    [
        1e-05,
        -1.5e-07,
        [0.00001, 1],
        {"a": 9.9e-05},
        {"a": math.nan, "b": math.inf, "c": -math.inf},
        5e-324,
        1e16,
        {"big": 2**70},
        {1: "int key"},
        {"nested": [[[{"x": 1e-10}]]]},
        {"when": "2026-01-01T00:00:00Z", "n": None},
    ],
)
def test_compact_json_where_orjson_would_differ_or_refuse(value: Any) -> None:
    assert compact_json(value) == _standard(value)


def test_compact_json_refuses_what_the_standard_library_refuses() -> None:
    for value in (datetime(2026, 1, 1, tzinfo=UTC), {"s": {1, 2}}):
        with pytest.raises(TypeError):
            compact_json(value)


def test_rendered_documents_write_the_same_bytes() -> None:
    for sample in (he_sample(), co_awarded_foreign_variant()):
        inp = make_input(sample)
        for doc in (render_elm(inp), render_ob3(inp, Ob3Options(salt="00"))):
            assert compact_json(doc) == _standard(doc)


def test_signer_computes_x5c_and_thumbprint_once_and_right(tmp_path: Path) -> None:
    signer = dev_signer(tmp_path)
    der = [c.public_bytes(serialization.Encoding.DER) for c in signer.chain]
    assert signer.x5c() == [base64.b64encode(d).decode() for d in der]
    assert signer.x5t_s256() == cert_thumbprint(signer.certificate)
    assert signer.x5c() is not signer.x5c()  # a fresh list: callers may change theirs
    assert Signer(signer.key, signer.chain) == signer


def test_headers_carry_the_chain_and_payloads_the_standard_bytes(tmp_path: Path) -> None:
    signer = dev_signer(tmp_path)
    inp = make_input(he_sample())
    moment = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
    sealed = seal(render_elm(inp), signer, signed_at=moment)
    header = {
        "alg": "ES256",
        "typ": "jose+json",
        "cty": "ld+json",
        "b64": False,
        "crit": ["b64"],
        "iat": int(moment.timestamp()),
        "x5t#S256": signer.x5t_s256(),
        "x5c": signer.x5c(),
    }
    protected = sealed["signatures"][0]["protected"]
    assert protected == b64url(json.dumps(header, separators=(",", ":")).encode("utf-8"))
    assert sealed["payload"] == _standard(render_elm(inp)).decode("utf-8")

    badge = render_ob3(inp, Ob3Options(salt="00"))
    head, body, _ = sign_vc(badge, signer).split(".")
    assert b64url_decode(body) == _standard({**badge, **jwt_claims(badge)})
    kid = key_url(badge["issuer"]["id"], signer_jwk(signer)["kid"])
    assert b64url_decode(head) == _standard({"alg": "ES256", "kid": kid, "typ": "JWT"})


def test_headers_are_reused_only_for_the_same_signer_and_second(tmp_path: Path) -> None:
    one, two = dev_signer(tmp_path / "one"), dev_signer(tmp_path / "two")
    doc = {"id": "urn:x"}
    at = datetime(2026, 1, 15, 9, 0, 0, 100, tzinfo=UTC)

    def header_of_seal(signer: Signer, moment: datetime) -> dict[str, Any]:
        protected = seal(doc, signer, signed_at=moment)["signatures"][0]["protected"]
        found: dict[str, Any] = json.loads(b64url_decode(protected))
        return found

    def header_of_jwt(signer: Signer, issuer: str) -> dict[str, Any]:
        credential = {
            "id": "urn:x",
            "issuer": issuer,
            "validFrom": "2026-01-15T09:00:00Z",
            "credentialSubject": {"id": "urn:y"},
        }
        token = sign_vc(credential, signer)
        found: dict[str, Any] = json.loads(b64url_decode(token.split(".")[0]))
        return found

    for signer in (one, two, one, two):
        assert header_of_seal(signer, at)["x5c"] == signer.x5c()
        assert header_of_seal(signer, at)["iat"] == int(at.replace(microsecond=0).timestamp())
        for issuer in ("https://a.test/v1/issuers/X/1", "https://a.test/v1/issuers/X/2"):
            kid = key_url(issuer, signer_jwk(signer)["kid"])
            assert header_of_jwt(signer, issuer) == {"alg": "ES256", "kid": kid, "typ": "JWT"}
    later = at.replace(second=1, microsecond=0)
    second = int(at.replace(microsecond=0).timestamp())
    assert header_of_seal(one, later)["iat"] == second + 1
    assert header_of_seal(one, at.replace(microsecond=999_999))["iat"] == second
