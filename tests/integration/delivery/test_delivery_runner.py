"""Delivery connectors against the real broker and real local HTTP destinations."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from connectors.delivery.ledger import LedgerRecord, read_ledger
from connectors.delivery.policy import ParkPolicy, body_digest
from connectors.delivery.runner import DeliveryRunner, decode_json_item
from connectors.delivery.sink import DeliveryResult
from hub.errors import DestinationUnauthorised
from hub.settings import Settings
from hub.topics import CANONICAL_LOG, DELIVERY_RECEIPTS, destination_dead_letters
from tests.integration.delivery.delivery_support import (
    Answer,
    Destination,
    committed_offsets,
    end_offsets,
    http_sink,
    item_json,
    items_topic,
    produce,
    produce_raw,
    read_all,
    runner_for,
    running,
    wait_for_commit,
    wait_until,
)

MakeDestination = Callable[..., Awaitable[Destination]]
#: parked keys wait a minute (longer than a test): what parks stays parked
NO_REDRIVE_SOON = ParkPolicy(redrive_base=60.0, redrive_cap=60.0)
#: parked keys are redriven after 0.2 s
QUICK_REDRIVE = ParkPolicy(after_attempts=3, redrive_base=0.2, redrive_cap=1.0)


def by_event(records: list[LedgerRecord]) -> dict[str, LedgerRecord]:
    return {r.event_id: r for r in records}


async def test_500_three_times_then_200_is_delivered_once_and_committed(
    applied_settings: Settings, destinations: MakeDestination
) -> None:
    settings = applied_settings
    dest = await destinations()
    dest.plan["ev-1"] = [Answer(500), Answer(500), Answer(500)]
    topic = await items_topic(settings)
    await produce(settings, topic, [("ev-1", "cred-1"), ("ev-2", "cred-1")])

    sink = http_sink(dest, "register")
    runner = runner_for(settings, "register", sink)
    async with sink, running(runner) as task:
        await wait_until(lambda: runner.stats.delivered == 2, task=task)
        ends = await end_offsets(settings, topic)
        committed = await wait_for_commit(settings, runner.group_id, ends)

    assert dest.keys() == ["ev-1"] * 4 + ["ev-2"]  # same Idempotency-Key on every attempt
    assert [s.key for s in dest.accepted()] == ["ev-1", "ev-2"]  # applied once each
    assert committed == {tp: off for tp, off in ends.items() if off > 0}
    assert runner.stats.pending_records >= 1
    ledger = by_event(await read_ledger(settings, credential_id="cred-1"))
    first = ledger["ev-1"]
    assert (first.state, first.attempts, first.status) == ("delivered", 4, 200)
    assert first.response_id == "resp-ev-1"
    assert first.first_attempt_at is not None and first.last_attempt_at is not None
    assert first.first_attempt_at < first.last_attempt_at
    assert (ledger["ev-2"].state, ledger["ev-2"].attempts) == ("delivered", 1)


async def test_400_is_dead_lettered_its_key_parks_and_the_rest_continue(
    applied_settings: Settings, destinations: MakeDestination
) -> None:
    settings = applied_settings
    dest = await destinations()
    refusal = b'{"error": "unknown qualification code"}'
    dest.plan["ev-1"] = [Answer(400, {"Content-Type": "application/json"}, refusal)]
    topic = await items_topic(settings)
    await produce(settings, topic, [("ev-1", "cred-1"), ("ev-2", "cred-1"), ("ev-3", "cred-2")])
    await produce_raw(settings, topic, b"\x00 not a delivery item", key=b"cred-2")

    sink = http_sink(dest, "wallet")
    runner = runner_for(settings, "wallet", sink, park=NO_REDRIVE_SOON)
    async with sink, running(runner) as task:
        await wait_until(
            lambda: runner.stats.delivered + runner.stats.failed + runner.stats.parked == 3,
            task=task,
        )
        await wait_for_commit(settings, runner.group_id, await end_offsets(settings, topic))
        held_keys = set(runner.parking.keys)

    assert held_keys == {"cred-1"}  # cred-2 keeps flowing
    assert sorted(s.key for s in dest.accepted()) == ["ev-3"]
    assert dest.keys().count("ev-1") == 1  # a refusal is not retried
    assert dest.keys().count("ev-2") == 0  # parked behind ev-1: never sent before it
    dead_letters = await read_all(
        settings, settings.topic(destination_dead_letters("wallet")), expect=2
    )
    [dead] = [d for d in dead_letters if d.key == b"cred-1"]
    [garbage] = [d for d in dead_letters if d.key == b"cred-2"]
    assert garbage.value == b"\x00 not a delivery item"
    assert "not a delivery item" in dict(garbage.headers)["mchub-dlq-error"].decode()
    assert runner.stats.undecodable == 1
    headers = {k: v.decode() for k, v in dead.headers}
    assert dead.value == item_json("ev-1", "cred-1", credential="cred-1")  # bytes intact
    assert dead.key == b"cred-1"
    assert headers["mchub-dlq-status"] == "400"
    assert headers["mchub-dlq-body-digest"] == body_digest(refusal)
    assert headers["mchub-event-id"] == "ev-1"
    assert headers["mchub-dlq-topic"] == topic
    assert "400" in headers["mchub-dlq-error"]
    ledger = by_event(await read_ledger(settings))
    failed = ledger["ev-1"]
    assert (failed.state, failed.status, failed.attempts) == ("failed", 400, 1)
    assert failed.body_digest == body_digest(refusal)
    assert failed.reason is not None and "wallet answered 400" in failed.reason
    assert ledger["ev-3"].state == "delivered"
    parked = ledger["ev-2"]
    assert (parked.state, parked.reason) == ("parked", "parked behind ev-1 (failed)")


async def test_a_refused_issuance_parks_its_revocation_and_a_redrive_delivers_both_in_order(
    applied_settings: Settings, destinations: MakeDestination
) -> None:
    """The issue's wedge: the issuance is refused, its revocation must not be sent (the
    register would answer 409 for ever) nor block other keys; once the destination takes
    the issuance, the automatic redrive delivers issuance then revocation."""
    settings = applied_settings
    dest = await destinations()
    dest.plan["iss-1"] = [Answer(422), Answer(503)]  # refused once, then a blip, then taken
    topic = await items_topic(settings)
    await produce(
        settings, topic,
        [("iss-1", "cred-1"), ("rev-1", "cred-1"), ("iss-2", "cred-2"), ("rev-2", "cred-2")],
    )
    sink = http_sink(dest, "register")
    runner = runner_for(settings, "register", sink, park=QUICK_REDRIVE)
    async with sink, running(runner) as task:
        await wait_until(lambda: runner.stats.released == 1 and not runner.parking, task=task)
        await wait_for_commit(settings, runner.group_id, await end_offsets(settings, topic))
        await asyncio.sleep(0.5)  # the redrive's ledger transaction

    accepted = [s.key for s in dest.accepted()]
    assert sorted(accepted) == ["iss-1", "iss-2", "rev-1", "rev-2"]  # each applied once
    assert accepted.index("iss-1") < accepted.index("rev-1")
    assert accepted.index("iss-2") < accepted.index("rev-2")
    assert dest.keys().count("rev-1") == 1  # sent once: after its issuance was taken
    ledger = by_event(await read_ledger(settings))
    assert {e: r.state for e, r in ledger.items()} == dict.fromkeys(
        ["iss-1", "rev-1", "iss-2", "rev-2"], "delivered"
    )
    assert (ledger["iss-1"].reason or "").startswith("automatic redrive")
    dead = await read_all(settings, settings.topic(destination_dead_letters("register")), expect=1)
    assert [d.key for d in dead] == [b"cred-1"]  # dead-lettered once, not per redrive


async def test_parked_keys_are_restored_after_a_restart_and_redriven_in_order(
    applied_settings: Settings, destinations: MakeDestination
) -> None:
    settings = applied_settings
    dest = await destinations()
    dest.plan["iss-1"] = [Answer(422)]
    topic = await items_topic(settings)
    await produce(settings, topic, [("iss-1", "cred-1"), ("rev-1", "cred-1")])
    sink = http_sink(dest, "register")
    first = runner_for(settings, "register", sink, park=NO_REDRIVE_SOON)
    async with sink, running(first) as task:
        await wait_until(lambda: first.stats.failed + first.stats.parked == 2, task=task)
        await wait_for_commit(settings, first.group_id, await end_offsets(settings, topic))
    assert [s.key for s in dest.accepted()] == []

    await produce(settings, topic, [("upd-1", "cred-1")])  # a later change of the key
    sink = http_sink(dest, "register")
    second = runner_for(settings, "register", sink, park=QUICK_REDRIVE)
    async with sink, running(second) as task:
        await wait_until(lambda: second.stats.released == 1, task=task, timeout=30)
    assert [s.key for s in dest.accepted()] == ["iss-1", "rev-1", "upd-1"]


async def test_destination_down_for_a_while_opens_the_breaker_then_delivers_in_order(
    applied_settings: Settings, destinations: MakeDestination
) -> None:
    settings = applied_settings
    dest = await destinations(started=False)  # connection refused
    topic = await items_topic(settings)
    produced = [(f"ev-{c}-{n}", f"cred-{c}") for n in range(4) for c in range(3)]
    await produce(settings, topic, produced)

    sink = http_sink(dest, "edc")
    runner = runner_for(settings, "edc", sink)
    async with sink, running(runner) as task:
        await wait_until(lambda: sink.breaker.state == "open", task=task)
        await wait_until(lambda: runner.stats.pending_records >= 1, task=task)
        pending = [r for r in await read_ledger(settings) if r.state == "pending"]
        assert pending and all(r.destination == "edc" for r in pending)
        assert pending[0].reason is not None and "did not answer" in pending[0].reason
        await asyncio.sleep(0.5)  # stay down across several breaker periods
        assert runner.stats.delivered == 0
        assert await committed_offsets(settings, runner.group_id) == {}
        await dest.up()
        await wait_until(lambda: runner.stats.delivered == len(produced), task=task)
        await wait_for_commit(settings, runner.group_id, await end_offsets(settings, topic))

    order: dict[str, list[str]] = defaultdict(list)
    for seen in dest.accepted():
        order[seen.body["credential"]].append(seen.key)
    expected: dict[str, list[str]] = defaultdict(list)
    for event_id, credential in produced:
        expected[credential].append(event_id)
    assert order == expected  # each once, in order per credential
    stats = sink.breaker.stats
    assert stats.times_opened >= 2  # opened, probed while still down, re-opened
    assert stats.transitions[0] == ("closed", "open")
    assert ("open", "half_open") in stats.transitions
    assert ("half_open", "open") in stats.transitions
    assert stats.transitions[-1] == ("half_open", "closed")
    assert sink.breaker.state == "closed"
    assert stats.rejected_calls > 0
    assert all(r.state == "delivered" for r in await read_ledger(settings))


async def test_401_stops_the_connector_and_commits_nothing(
    applied_settings: Settings, destinations: MakeDestination
) -> None:
    settings = applied_settings
    dest = await destinations()
    topic = await items_topic(settings)
    await produce(settings, topic, [("ev-1", "cred-1")])
    sink = http_sink(dest, "register")
    runner = runner_for(settings, "register", sink)
    async with sink:
        stop = asyncio.Event()
        task = asyncio.create_task(runner.run(stop))
        await wait_until(lambda: runner.stats.commits == 1, task=task)
        before = await wait_for_commit(
            settings, runner.group_id, await end_offsets(settings, topic)
        )
        dest.default = Answer(401)
        await produce(settings, topic, [("ev-2", "cred-1"), ("ev-3", "cred-2")])
        with pytest.raises(DestinationUnauthorised, match=r"401.*credentials"):
            await asyncio.wait_for(task, 20)

    assert await committed_offsets(settings, runner.group_id) == before
    assert runner.stats.commits == 1
    ledger = by_event(await read_ledger(settings))
    assert set(ledger) == {"ev-1"}  # nothing recorded for the refused batch
    dead = await read_all(
        settings, settings.topic(destination_dead_letters("register")), expect=0, timeout=0.5
    )
    assert dead == []


class Crash(Exception):
    """Simulated process death between the 2xx and the offset commit."""


@pytest.mark.parametrize("death", ["raise", "cancel"])
async def test_crash_after_2xx_before_commit_redelivers_with_the_same_key(
    applied_settings: Settings, destinations: MakeDestination, death: str
) -> None:
    """``raise``: a failing cycle restarts the stage in-process (one log line) and the
    batch is delivered again; ``cancel``: the process stops, a new one delivers again."""
    settings = applied_settings
    dest = await destinations()
    topic = await items_topic(settings)
    await produce(settings, topic, [("ev-1", "cred-1")])
    crashes: list[int] = []
    runner_tasks: list[asyncio.Task[None]] = []

    async def crash(results: list[DeliveryResult]) -> None:
        assert [r.state for r in results] == ["delivered"]
        if crashes:
            return  # the restarted stage commits
        crashes.append(1)
        if death == "raise":
            raise Crash
        runner_tasks[0].cancel()  # the runner task is cancelled, as on shutdown by a signal
        await asyncio.sleep(1)

    async with http_sink(dest, "wallet") as sink:
        first = runner_for(settings, "wallet", sink, before_commit=crash)
        if death == "raise":
            async with running(first) as task:
                await wait_until(lambda: first.stats.commits == 1, task=task)
            assert first.stats.restarts == 1
        else:
            task = asyncio.create_task(first.run(asyncio.Event()))
            runner_tasks.append(task)
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(task, 20)
            assert [s.key for s in dest.accepted()] == ["ev-1"]
            assert await committed_offsets(settings, first.group_id) == {}
            second = runner_for(settings, "wallet", sink)  # the restarted connector
            async with running(second) as task:
                await wait_until(lambda: second.stats.commits == 1, task=task)

    assert [s.key for s in dest.accepted()] == ["ev-1", "ev-1"]  # same Idempotency-Key again
    assert dest.seen[0].body == dest.seen[1].body
    records = await read_all(settings, settings.topic(DELIVERY_RECEIPTS), expect=1)
    ledger = [json.loads(r.value) for r in records]
    assert [(r["eventId"], r["state"]) for r in ledger] == [("ev-1", "delivered")]
    assert await committed_offsets(settings, first.group_id) == {
        tp: off for tp, off in (await end_offsets(settings, topic)).items() if off > 0
    }


async def test_429_retry_after_is_waited_for(
    applied_settings: Settings, destinations: MakeDestination
) -> None:
    settings = applied_settings
    dest = await destinations()
    dest.plan["ev-1"] = [Answer(429, {"Retry-After": "1"})]
    topic = await items_topic(settings)
    await produce(settings, topic, [("ev-1", "cred-1")])
    sink = http_sink(dest, "register")  # backoff alone would wait 10-20 ms
    runner = runner_for(settings, "register", sink)
    async with sink, running(runner) as task:
        await wait_until(lambda: runner.stats.delivered == 1, task=task)

    throttled, accepted = dest.seen
    assert (throttled.status, accepted.status) == (429, 200)
    assert accepted.at - throttled.at >= 1.0
    [record] = await read_ledger(settings, credential_id="cred-1")
    assert (record.state, record.attempts) == ("delivered", 2)


async def test_a_failing_destination_does_not_hold_back_another(
    applied_settings: Settings, destinations: MakeDestination
) -> None:
    settings = applied_settings
    healthy, failing = await destinations(), await destinations()
    failing.default = Answer(503)
    topic = settings.topic(CANONICAL_LOG)
    produced = [(f"ev-{n}", f"cred-{n % 4}") for n in range(12)]
    await produce(settings, topic, produced)

    good_sink, bad_sink = http_sink(healthy, "register"), http_sink(failing, "wallet")
    good = runner_for(settings, "register", good_sink, topic=topic)
    bad = runner_for(settings, "wallet", bad_sink, topic=topic)
    assert good.group_id != bad.group_id
    async with good_sink, bad_sink, running(good) as good_task, running(bad) as bad_task:
        ends = await end_offsets(settings, topic)
        await wait_for_commit(settings, good.group_id, ends)
        assert not bad_task.done() and not good_task.done()
        assert bad_sink.breaker.stats.failures >= 3  # still retrying
        assert await committed_offsets(settings, bad.group_id) == {}
        assert bad.stats.delivered == 0

    assert sorted(s.key for s in healthy.accepted()) == sorted(e for e, _ in produced)
    assert failing.accepted() == []
    states = {(r.event_id, r.destination): r.state for r in await read_ledger(settings)}
    assert all(states[(e, "register")] == "delivered" for e, _ in produced)
    assert {s for (_, d), s in states.items() if d == "wallet"} <= {"pending"}


async def test_a_slow_commit_does_not_hold_back_the_next_batch_and_commits_stay_in_order(
    applied_settings: Settings, destinations: MakeDestination
) -> None:
    settings = applied_settings
    dest = await destinations()
    topic = await items_topic(settings)
    await produce(settings, topic, [("ev-1", "cred-1"), ("ev-2", "cred-1"), ("ev-3", "cred-1")])
    release = asyncio.Event()
    commits: list[list[str]] = []

    class SlowFirstCommit(DeliveryRunner):
        async def _commit(self, work: Any, records: int, batch: bool) -> None:
            if batch:
                if not commits:
                    await release.wait()  # the first batch's ledger + offsets are held back
                outputs = [o for out, _ in work.values() for o in out]
                commits.append([json.loads(o.value)["eventId"] for o in outputs])
            await super()._commit(work, records, batch)

    sink = http_sink(dest, "register")
    runner = SlowFirstCommit(
        settings, destination="register", sink=sink, decode=decode_json_item,
        topic=topic, poll_timeout_ms=50, max_records=1,
    )
    async with sink, running(runner) as task:
        # the second batch is delivered while the first one's commit still waits
        await wait_until(lambda: len(dest.accepted()) >= 2, task=task)
        assert commits == []
        assert await committed_offsets(settings, runner.group_id) == {}
        release.set()
        await wait_until(lambda: runner.stats.batches == 3, task=task)
        ends = await end_offsets(settings, topic)
        committed = await wait_for_commit(settings, runner.group_id, ends)

    assert [s.key for s in dest.accepted()] == ["ev-1", "ev-2", "ev-3"]
    assert commits == [["ev-1"], ["ev-2"], ["ev-3"]]
    assert committed == {tp: off for tp, off in ends.items() if off > 0}
