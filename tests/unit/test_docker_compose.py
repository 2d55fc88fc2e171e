"""docker-compose.yml cannot run here; check it agrees with the hub's settings instead."""

from __future__ import annotations

from pathlib import Path

import yaml

from hub.settings import KAFKA_VERSION, Settings, environment_variables

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


def load() -> dict[str, dict[str, object]]:
    return yaml.safe_load(COMPOSE.read_text())["services"]  # type: ignore[no-any-return]


def test_services_are_kafka_topics_and_the_hub_worker() -> None:
    assert set(load()) == {"kafka", "topics", "hub"}


def test_kafka_is_the_official_image_of_the_version_the_cli_runs() -> None:
    kafka = load()["kafka"]
    assert kafka["image"] == f"apache/kafka:{KAFKA_VERSION}"
    assert "9092:9092" in kafka["ports"]  # type: ignore[operator]
    env = kafka["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"  # type: ignore[index]
    assert env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == "1"  # type: ignore[index]


def test_hub_variables_are_real_settings_and_reach_the_broker_listener() -> None:
    services = load()
    fields = {name for name, _ in environment_variables()}
    for name in ("topics", "hub"):
        env = services[name]["environment"]
        assert isinstance(env, dict)
        unknown = set(env) - fields
        assert not unknown, f"{name} sets variables the hub does not read: {unknown}"
        host, port = env["MCHUB_BOOTSTRAP"].split(":")
        assert host == "kafka"
        listeners = services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]  # type: ignore[index]
        assert f"//kafka:{port}" in listeners
        settings = Settings(**{k[len("MCHUB_") :].lower(): v for k, v in env.items()})
        assert settings.bootstrap == "kafka:19092"


def test_the_worker_runs_the_hub_command() -> None:
    assert load()["hub"]["command"] == ["mchub", "run"]
