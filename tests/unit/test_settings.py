"""The one settings model: every ``MCHUB_*`` variable is read by exactly one field."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from hub.settings import SECTIONS, Settings, environment_variables, load_settings

#: the variables of the former separate settings classes, which operators already set
SECTION_VARIABLES = {
    "gateway": {
        "MCHUB_GATEWAY_HOST", "MCHUB_GATEWAY_PORT", "MCHUB_GATEWAY_DB",
        "MCHUB_GATEWAY_MAX_WAIT_SECONDS", "MCHUB_GATEWAY_RATE_PER_SECOND",
        "MCHUB_GATEWAY_RATE_BURST", "MCHUB_GATEWAY_IDEMPOTENCY_TTL_HOURS",
        "MCHUB_GATEWAY_RECEIPTS_LOOKBACK_HOURS", "MCHUB_GATEWAY_RECEIPTS_CACHE",
        "MCHUB_GATEWAY_ACCESS_LOG", "MCHUB_GATEWAY_TLS_CERTFILE", "MCHUB_GATEWAY_TLS_KEYFILE",
        "MCHUB_GATEWAY_TLS_CA_CERTS", "MCHUB_GATEWAY_TLS_REQUIRE_CLIENT_CERT",
        "MCHUB_GATEWAY_HEADER_TIMEOUT_SECONDS", "MCHUB_GATEWAY_BODY_TIMEOUT_SECONDS",
        "MCHUB_GATEWAY_KEEP_ALIVE_SECONDS", "MCHUB_GATEWAY_MAX_HEADER_BYTES",
        "MCHUB_GATEWAY_ATTESTATION_SECRET",
    },
    "audit": {
        "MCHUB_AUDIT_KEY", "MCHUB_AUDIT_CERT", "MCHUB_AUDIT_TRUST",
    },
    "fanout": {
        "MCHUB_REGISTER_URL", "MCHUB_REGISTER_TOKEN", "MCHUB_WALLET_URL", "MCHUB_WALLET_TOKEN",
        "MCHUB_EDC_URL", "MCHUB_EDC_TOKEN", "MCHUB_FANOUT_CONCURRENCY", "MCHUB_FANOUT_BATCH",
        "MCHUB_REGISTER_BATCH",
    },
    "wallet": {"MCHUB_WALLET_REGISTRY", "MCHUB_WALLET_DB"},
    "edc": {"MCHUB_EDC_REGISTRY"},
    "issuing": {
        "MCHUB_PUBLIC_BASE_URL", "MCHUB_STATUS_BASE_URL", "MCHUB_STATUS_DB", "MCHUB_SEAL_KEY",
        "MCHUB_SEAL_CERT", "MCHUB_SEAL_KEY_PASSWORD",
    },
}


def _read(settings: Settings, path: str) -> Any:
    value: Any = settings
    for part in path.split("."):
        value = getattr(value, part)
    return value


def test_every_variable_is_read_by_exactly_one_field() -> None:
    found = environment_variables()
    twice = sorted(name for name, n in Counter(name for name, _ in found).items() if n > 1)
    assert not twice, f"variables read by more than one field: {twice}"
    assert all(name.startswith("MCHUB_") for name, _ in found)
    by_section: dict[str, set[str]] = {}
    for name, path in found:
        section = path.split(".")[0] if "." in path else ""
        by_section.setdefault(section, set()).add(name)
    assert set(by_section) == {"", *SECTIONS}
    for section, names in SECTION_VARIABLES.items():
        assert by_section[section] == names, section
    assert {"MCHUB_BOOTSTRAP", "MCHUB_DATA_DIR", "MCHUB_TOPIC_PREFIX"} <= by_section[""]


def test_each_variable_reaches_its_field(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every text, path or secret field reads the variable it is listed with."""
    checked = 0
    for name, path in environment_variables():
        owner = path.split(".")[0] if "." in path else None
        model = SECTIONS[owner] if owner else Settings
        field = model.model_fields[path.split(".")[-1]]
        if field.annotation not in (str, str | None, Path | None, SecretStr | None, Path):
            continue
        value = f"/v/{name.lower()}"
        monkeypatch.setenv(name, value)
        got = _read(load_settings(), path)
        got = got.get_secret_value() if isinstance(got, SecretStr) else got
        assert str(got) == value, (name, path)
        monkeypatch.delenv(name)
        checked += 1
    assert checked >= 25


def test_the_destinations_share_one_url_and_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCHUB_WALLET_URL", "https://wallet.test")
    monkeypatch.setenv("MCHUB_WALLET_TOKEN", "w-secret")
    monkeypatch.setenv("MCHUB_WALLET_REGISTRY", "/etc/wallets.json")
    monkeypatch.setenv("MCHUB_EDC_URL", "https://edc.test")
    monkeypatch.delenv("MCHUB_REGISTER_URL", raising=False)
    settings = load_settings(bootstrap="k:9092")
    assert settings.bootstrap == "k:9092"
    assert settings.fanout.wallet_url == "https://wallet.test"
    assert settings.fanout.token("wallet") == "w-secret"
    assert settings.fanout.urls() == {"wallet": "https://wallet.test", "edc": "https://edc.test"}
    assert settings.wallet.registry == Path("/etc/wallets.json")
    assert not hasattr(settings.wallet, "url")


def test_a_section_is_not_read_whole_from_one_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCHUB_GATEWAY", "not json")
    monkeypatch.setenv("MCHUB_GATEWAY_PORT", "9443")
    monkeypatch.setenv("MCHUB_STATUS_BASE_URL", "https://status.test/lists")
    settings = load_settings()
    assert settings.gateway.port == 9443
    assert settings.issuing.status_base_url == "https://status.test/lists"


def test_with_section_validates_and_leaves_the_original(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MCHUB_GATEWAY_PORT", raising=False)
    settings = load_settings()
    changed = settings.with_section("gateway", port="9000").with_section(
        "fanout", register_token="t"
    )
    assert changed.gateway.port == 9000
    assert settings.gateway.port == 8082
    assert changed.fanout.token("register") == "t"
    with pytest.raises(ValueError, match="port"):
        settings.with_section("gateway", port=70000)
