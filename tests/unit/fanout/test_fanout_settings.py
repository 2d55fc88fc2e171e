"""Unit tests of the fan-out settings and of which workers `mchub run` starts."""

from __future__ import annotations

import pytest

from connectors.fanout.base import FanoutConnector
from connectors.fanout.workers import destination_for, fanout_workers
from hub.errors import ConfigurationError
from hub.settings import Settings, load_settings
from hub.stream.kernel import Stage


def test_a_connector_runs_only_when_its_url_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCHUB_REGISTER_URL", "http://register.test")
    monkeypatch.setenv("MCHUB_REGISTER_TOKEN", "s3cret")
    monkeypatch.delenv("MCHUB_WALLET_URL", raising=False)
    monkeypatch.delenv("MCHUB_EDC_URL", raising=False)
    conf = load_settings().fanout
    assert conf.urls() == {"register": "http://register.test"}
    assert conf.token("register") == "s3cret"
    assert conf.token("wallet") is None
    assert "s3cret" not in repr(conf)


async def test_projection_always_and_one_connector_per_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("REGISTER", "WALLET", "EDC"):
        monkeypatch.delenv(f"MCHUB_{name}_URL", raising=False)
    settings = Settings(consumer_group="g").with_section(
        "fanout", register_url="http://register.test", register_token="t"
    )
    async with fanout_workers(settings) as workers:
        projection, register = workers
        assert isinstance(projection, Stage)
        assert isinstance(register, FanoutConnector)
        assert register.group_id == "g.deliver-register"
        assert register.topic == settings.topic("canon.events.log")
        sink = register.filtering_sink.inner
        assert sink.retry_4xx_with_retry_after  # the register's 409 "not yet" is retried
        assert sink._client.headers["Authorization"] == "Bearer t"
    async with fanout_workers(settings, urls={}) as only:
        assert [w.name for w in only] == ["project-register-state"]


def test_unknown_destination_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        destination_for("fax")
