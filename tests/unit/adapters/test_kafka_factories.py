"""The Kafka client settings: the hub's safe defaults, set explicitly."""

from __future__ import annotations

import aiokafka.producer.sender as aiokafka_sender

from hub.adapters.kafka import make_producer
from hub.settings import Settings


def test_producers_are_idempotent_with_acks_all() -> None:
    config = Settings().producer_config()
    assert (config["acks"], config["enable_idempotence"]) == ("all", True)
    assert "transactional_id" not in config
    assert Settings().producer_config(transactional_id="t")["transactional_id"] == "t"


def test_consumers_read_committed_without_auto_commit() -> None:
    config = Settings().consumer_config("g")
    assert (config["isolation_level"], config["enable_auto_commit"]) == ("read_committed", False)


async def test_transactional_producers_retry_concurrent_transactions_per_setting() -> None:
    before = aiokafka_sender.BACKOFF_OVERRIDE
    try:
        producer = make_producer(Settings(transaction_retry_ms=3), transactional_id="t-1")
        await producer.stop()
        assert aiokafka_sender.BACKOFF_OVERRIDE == 0.003  # aiokafka's fixed 0.02 otherwise
    finally:
        aiokafka_sender.BACKOFF_OVERRIDE = before
