"""One WARNING per broker outage, counted repeats, one INFO when it is over (issue 14)."""

from __future__ import annotations

import logging

import pytest

from hub.stream.outage import OutageLog


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def client_error(message: str, name: str = "aiokafka") -> logging.LogRecord:
    return logging.LogRecord(name, logging.ERROR, __file__, 1, message, None, None)


def test_an_outage_of_client_errors_is_one_warning_and_one_info(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    outages = OutageLog(quiet_s=5, clock=clock)
    passed = []
    for attempt in range(2000):  # 20 s of per-attempt errors from several client loggers
        clock.now += 0.01
        name = ("aiokafka", "aiokafka.consumer.fetcher", "aiokafka.conn")[attempt % 3]
        record = client_error(f"Unable connect to node with id 1: attempt {attempt}", name)
        if outages.filter(record):
            passed.append(record)
    assert len(passed) == 1
    assert passed[0].levelno == logging.WARNING
    assert "Unable connect to node with id 1: attempt 0" in passed[0].getMessage()
    assert "keep retrying" in passed[0].getMessage()

    with caplog.at_level(logging.INFO, logger="hub.stream.outage"):
        clock.now += 1
        assert not outages.healthy()  # too soon: trouble may still come
        assert not outages.quiet()
        clock.now += 5
        assert outages.quiet()
        assert outages.healthy()
        assert not outages.healthy()  # closed once
    [info] = [r for r in caplog.records if r.name == "hub.stream.outage"]
    assert info.levelno == logging.INFO
    assert "1999 more" in info.getMessage()


def test_the_next_outage_warns_again_and_other_records_pass() -> None:
    clock = Clock()
    outages = OutageLog(quiet_s=5, clock=clock)
    assert outages.filter(client_error("first"))
    assert not outages.filter(client_error("again"))
    info = logging.LogRecord("aiokafka", logging.INFO, __file__, 1, "joined", None, None)
    ours = logging.LogRecord("hub.stream.kernel", logging.ERROR, __file__, 1, "x", None, None)
    assert outages.filter(info) and outages.filter(ours)  # only client warnings collapse
    clock.now += 10
    assert outages.healthy()
    assert outages.filter(client_error("second outage"))
    assert outages.episodes == 2


def test_a_stage_restart_during_an_open_episode_is_counted_not_logged() -> None:
    outages = OutageLog(quiet_s=5, clock=Clock())
    assert outages.trouble() is True  # the first restart: the caller logs a WARNING
    assert outages.trouble() is False
    assert outages.suppressed == 1


def test_unretrieved_client_errors_reported_by_asyncio_are_collapsed_without_tracebacks() -> None:
    from aiokafka.errors import ProducerFenced

    outages = OutageLog(quiet_s=5, clock=Clock())

    def unretrieved() -> logging.LogRecord:
        try:
            raise ProducerFenced()
        except ProducerFenced as exc:
            info = (type(exc), exc, exc.__traceback__)
        return logging.LogRecord(
            "asyncio", logging.ERROR, __file__, 1, "Future exception was never retrieved",
            None, info,
        )

    first = unretrieved()
    assert outages.filter(first)
    assert first.exc_info is None and first.levelno == logging.WARNING
    assert "ProducerFenced" in first.getMessage()
    assert not any(outages.filter(unretrieved()) for _ in range(200))
    other = logging.LogRecord(
        "asyncio", logging.ERROR, __file__, 1, "boom", None, (ValueError, ValueError(), None)
    )
    assert outages.filter(other) and other.exc_info is not None  # not the client's: untouched
