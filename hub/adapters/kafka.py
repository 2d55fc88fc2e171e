"""Kafka clients built from :class:`hub.settings.Settings`, with the hub's safe defaults.

Every producer and consumer in the hub comes from here, so durability settings
(``acks=all``, idempotence, ``read_committed``, manual commits) cannot be forgotten.
"""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from hub.settings import Settings


def make_producer(
    settings: Settings, *, transactional_id: str | None = None, **overrides: Any
) -> AIOKafkaProducer:
    """An idempotent ``acks=all`` producer (transactional when ``transactional_id`` is set).

    Must be called inside a running event loop; the caller starts and stops it.
    """
    return AIOKafkaProducer(
        **{**settings.producer_config(transactional_id=transactional_id), **overrides}
    )


def make_consumer(
    settings: Settings, *topics: str, group: str | None, **overrides: Any
) -> AIOKafkaConsumer:
    """A ``read_committed`` consumer with auto-commit off (the caller commits offsets).

    ``topics`` are full topic names; pass none to assign partitions manually.
    """
    return AIOKafkaConsumer(*topics, **{**settings.consumer_config(group), **overrides})
