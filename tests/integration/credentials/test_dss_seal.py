"""The EU DSS library (6.3, the validator EDC uses) as the oracle of the hub's ELM seals.

Every sample and generated records are rendered and sealed the way the EDC destination
does (``render_elm`` with the seal's issuer, ``seal``, ``sealed_file``), then validated by
DSS with its default validation policy, the dev CA as the only trust anchor, and the CRL
fetched over HTTP from the hub's issuer server (started on a free port; the seal
certificate names that server's address). One JVM validates a whole batch.

After the seal certificate is revoked in the CRL (re-served at once), DSS reports
INDETERMINATE / REVOKED_NO_POE — a baseline B seal has no proof of existence before the
revocation — and so does the hub's EDC endpoint stand-in, which checks the same CRL over
HTTP (no shortcut).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.edc.destination import seal_issuer, sealed_file
from connectors.status.server import running_status_server
from hub import vocab
from hub.crypto.devca import dev_signer
from hub.crypto.jades import seal
from hub.crypto.keys import Signer, crl_url, load_certificates, load_private_key
from hub.crypto.pki import revoke_seal
from hub.crypto.tsp import http_timestamper
from hub.render.elm import render_elm
from mchub_reference.edc_endpoint import running_edc_endpoint
from tests.support import free_port_block
from tests.support_dss import DssValidator, build_dss_validator, dss_validate, running_test_tsa
from tests.unit.render.render_support import EXPECTED_FILES, he_sample, load_expected, make_input

pytestmark = pytest.mark.slow


@dataclass
class Issuer:
    """The hub's issuer server over a dev keys directory, and the dev seal naming it."""

    keys: Path
    url: str
    signer: Signer

    @property
    def anchor(self) -> Path:
        return self.keys / "ca.cert.pem"


@pytest.fixture(scope="module")
def dss() -> DssValidator:
    started = time.monotonic()
    validator = build_dss_validator()
    print(f"DSS validator ready in {time.monotonic() - started:.1f} s: {validator.home}")
    return validator


@pytest.fixture
def issuer(tmp_path: Path) -> Iterator[Issuer]:
    port = free_port_block(1, start=41080)
    url = f"http://127.0.0.1:{port}"
    keys = tmp_path / "keys"
    signer = dev_signer(keys, public_base_url=url)  # the certificate names this server's CRL
    with (
        pytest.MonkeyPatch.context() as env,
        running_status_server(tmp_path / "status.db", port=port) as served,
    ):
        env.setenv("MCHUB_DATA_DIR", str(tmp_path))  # the server reads <data_dir>/keys
        assert served == url
        yield Issuer(keys, url, signer)


def _sealed_files(issuer: Issuer, samples: list[dict[str, Any]], out: Path) -> list[Path]:
    """Each sample rendered and sealed as the EDC destination does, one file each."""
    out.mkdir(parents=True, exist_ok=True)
    profile = seal_issuer(issuer.signer)
    files = []
    for n, sample in enumerate(samples):
        sealed = seal(render_elm(make_input(sample), profile), issuer.signer)
        path = out / f"{n:02d}.jsonld"
        path.write_bytes(sealed_file(sealed))
        files.append(path)
    return files


def _timed_validate(dss: DssValidator, files: list[Path], anchor: Path) -> list[dict[str, Any]]:
    started = time.monotonic()
    verdicts = dss_validate(dss, files, anchor)
    print(f"DSS validated {len(files)} seals in one JVM in {time.monotonic() - started:.1f} s")
    assert [Path(v["file"]) for v in verdicts] == files
    return verdicts


def _assert_passed(verdict: dict[str, Any], crl: str, level: str = "B") -> None:
    assert verdict["format"] == f"JAdES-BASELINE-{level}", verdict
    assert verdict["indication"] == "TOTAL_PASSED", verdict
    assert verdict["errors"] == [], verdict
    assert verdict["crlDistributionPoints"] == [crl]
    # the revocation data DSS used is the CRL it fetched from the hub, and it says GOOD
    assert [(r["type"], r["status"], r["source"]) for r in verdict["revocation"]] == [
        ("CRL", "GOOD", crl)
    ], verdict


def test_dss_passes_every_sample_and_reports_the_revoked_seal(
    dss: DssValidator, issuer: Issuer, tmp_path: Path
) -> None:
    samples = [load_expected(p) for p in EXPECTED_FILES]
    assert samples, "no samples found"
    files = _sealed_files(issuer, samples, tmp_path / "sealed")
    crl = f"{issuer.url}/v1/pki/ca.crl"
    for verdict in _timed_validate(dss, files, issuer.anchor):
        _assert_passed(verdict, crl)

    serial = revoke_seal(issuer.keys)  # the CA re-signs the CRL; the server serves it at once
    assert serial == issuer.signer.certificate.serial_number
    for verdict in _timed_validate(dss, files[:1], issuer.anchor):
        assert verdict["format"] == "JAdES-BASELINE-B", verdict
        assert (verdict["indication"], verdict["subIndication"]) == (
            "INDETERMINATE",
            "REVOKED_NO_POE",
        ), verdict
        assert "BBB_XCV_ISCR_ANS" in {e["key"] for e in verdict["errors"]}  # "is revoked"
        [revocation] = verdict["revocation"]
        assert (revocation["status"], revocation["reason"], revocation["source"]) == (
            "REVOKED",
            "KEY_COMPROMISE",
            crl,
        )


_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
    min_size=1,
    max_size=40,
).filter(str.strip)

_RECORD = st.fixed_dictionaries(
    {
        "title": _TEXT,
        "eqf": st.one_of(st.none(), st.integers(1, 8)),
        "hours": st.decimals(min_value="0.5", max_value="400", places=2),
        "grade": st.one_of(
            st.none(),
            st.builds(lambda v: {"scale": "HU_1_5", "value": v}, st.integers(2, 5)),
            st.builds(lambda v: {"scale": "PERCENT", "value": v}, st.integers(0, 100)),
        ),
        "supervision": st.sampled_from(
            [None, "none", "supervised-no-id-check", "supervised-id-verified"]
        ),
    }
)


def _record(drawn: dict[str, Any]) -> dict[str, Any]:
    sample = he_sample()
    el = sample["elements"]
    el["title"] = {"hu": drawn["title"], "en": drawn["title"][::-1]}
    el["eqfLevel"] = vocab.eqf_uri(drawn["eqf"]) if drawn["eqf"] else None
    el["qfEheaCycle"] = None
    el["notionalWorkload"]["hours"] = float(drawn["hours"])
    el["gradeAchieved"] = drawn["grade"]
    el["supervisionAndIdentityVerification"] = drawn["supervision"]
    return sample


@settings(
    max_examples=2,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(records=st.lists(_RECORD, min_size=4, max_size=4))
def test_dss_passes_seals_of_generated_records(
    dss: DssValidator, issuer: Issuer, tmp_path_factory: pytest.TempPathFactory, records: Any
) -> None:
    """Generated records (any UTF-8 title: the payload is unencoded) sealed by the hub;
    one JVM per example validates its whole batch."""
    files = _sealed_files(
        issuer, [_record(r) for r in records], tmp_path_factory.mktemp("generated")
    )
    for verdict in _timed_validate(dss, files, issuer.anchor):
        _assert_passed(verdict, f"{issuer.url}/v1/pki/ca.crl")


def _deposit(edc_url: str, user: str, data: bytes) -> httpx.Response:
    return httpx.post(
        f"{edc_url}/v1/wallets/{user}/credentials",
        files={"_credential": ("seal.jsonld", data, "application/json")},
        timeout=30,
    )


def test_edc_endpoint_checks_the_same_crl(issuer: Issuer, tmp_path: Path) -> None:
    """The EDC stand-in accepts the seal DSS passes, and refuses it once the CRL the seal
    certificate names lists it — fetched from the issuer server, as DSS does."""
    [sealed] = _sealed_files(issuer, [he_sample()], tmp_path)
    anchors = load_certificates(issuer.anchor)
    with running_edc_endpoint(
        {"demo": None, "other": None}, trust_anchors=anchors, check_revocation=True
    ) as edc_url:
        accepted = _deposit(edc_url, "demo", sealed.read_bytes())
        assert accepted.status_code == 201, accepted.text
        revoke_seal(issuer.keys)
        refused = _deposit(edc_url, "other", sealed.read_bytes())
        assert refused.status_code == 400, refused.text
        assert refused.json()["code"] == "certificate-revoked"


def _tsa_files(issuer: Issuer, directory: Path) -> tuple[Path, Path]:
    """A TSA certificate of the dev CA (timeStamping, critical EKU; the CA's CRL) and key."""
    ca = load_certificates(issuer.anchor)[0]
    ca_key = load_private_key(issuer.keys / "ca.key.pem")
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "mchub test TSA")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
        )
        .add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        [x509.UniformResourceIdentifier(crl_url(issuer.url))], None, None, None
                    )
                ]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    key_file, chain_file = directory / "tsa.key.pem", directory / "tsa.chain.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    chain_file.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM)
    )
    return key_file, chain_file


def test_dss_reads_a_timestamped_seal_as_baseline_t(
    dss: DssValidator, issuer: Issuer, tmp_path: Path
) -> None:
    """With a time-stamping authority configured, the seal carries a signature time-stamp
    (sigTst) and DSS reports JAdES-BASELINE-T, still TOTAL_PASSED."""
    key_file, chain_file = _tsa_files(issuer, tmp_path / "tsa")
    with running_test_tsa(dss, key_file, chain_file) as tsa_url:
        stamper = http_timestamper(tsa_url)
        profile = seal_issuer(issuer.signer)
        sealed = seal(
            render_elm(make_input(he_sample()), profile), issuer.signer, timestamper=stamper
        )
    path = tmp_path / "timestamped.jsonld"
    path.write_bytes(sealed_file(sealed))
    [verdict] = _timed_validate(dss, [path], issuer.anchor)
    _assert_passed(verdict, f"{issuer.url}/v1/pki/ca.crl", level="T")
    header = sealed["signatures"][0]["header"]
    assert list(header) == ["etsiU"] and len(header["etsiU"]) == 1
