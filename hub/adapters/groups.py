"""The hub's stage groups as the Kafka cluster sees them (what ``mchub status`` shows).

For each stage's consumer group (``Settings.group(stage)``): the group's state, its
members (client id, host) with their partitions, and per partition the committed offset,
the end and the lag. The end is the **last stable offset** (a ``read_committed``
consumer's end offsets), so a partition whose every committed record has been processed
shows lag 0 although a transaction marker follows its last record. A partition the group
never committed counts from the log's start. A group without members is "not running"
(its committed offsets, if any, are still shown).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from aiokafka import TopicPartition
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError, for_code

from hub.errors import BrokerUnavailable, ConfigurationError
from hub.settings import Settings

#: group states (DescribeGroups) of a group that has no members
NOT_RUNNING_STATES = frozenset({"Dead", "Empty", ""})
#: the DescribeGroups error of a group the coordinator does not know (newer versions)
GROUP_ID_NOT_FOUND = 69
#: seconds between tries while the cluster answers with a retriable error
RETRY_S = 0.5


@dataclass
class PartitionStatus:
    """One input partition of a group: how far the group committed and what is left."""

    topic: str
    partition: int
    committed: int | None  # None: the group never committed this partition
    end: int  # last stable offset (read_committed end)
    lag: int
    member: str | None  # member id of its owner, None when unassigned


@dataclass
class MemberStatus:
    """One member of a group (a stage instance) and the partitions it owns."""

    member_id: str
    client_id: str
    host: str
    partitions: list[str] = field(default_factory=list)  # "topic-partition"

    def owned(self) -> str:
        """``topic 0,1,2; other 0``: the member's partitions, by topic."""
        by_topic: dict[str, list[int]] = {}
        for text in self.partitions:
            tp = _parse_tp(text)
            by_topic.setdefault(tp.topic, []).append(tp.partition)
        if not by_topic:
            return "no partitions"
        return "; ".join(
            f"{topic} {','.join(str(p) for p in sorted(numbers))}"
            for topic, numbers in sorted(by_topic.items())
        )


@dataclass
class GroupStatus:
    """One stage's consumer group."""

    stage: str
    group: str
    state: str  # the group's state, or "not running"
    kafka_state: str  # as DescribeGroups said ("Dead" for a group that does not exist)
    members: list[MemberStatus] = field(default_factory=list)
    partitions: list[PartitionStatus] = field(default_factory=list)

    @property
    def running(self) -> bool:
        """True when the group has members."""
        return bool(self.members)

    @property
    def lag(self) -> int:
        """Records left over every partition of the group."""
        return sum(p.lag for p in self.partitions)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (with ``running`` and total ``lag``)."""
        return {**asdict(self), "running": self.running, "lag": self.lag}


async def stage_groups(
    settings: Settings, stages: Sequence[str], *, timeout: float = 30.0
) -> list[GroupStatus]:
    """The status of each stage's group (``Settings.group(stage)``), in the given order;
    :class:`BrokerUnavailable` when Kafka does not answer within ``timeout`` seconds."""
    names = list(stages)
    deadline = time.monotonic() + timeout
    while True:
        try:
            left = max(0.1, deadline - time.monotonic())
            return await asyncio.wait_for(_read_groups(settings, names), left)
        except KafkaConnectionError as exc:
            reason = "no broker answered" if "bootstrap" in str(exc) else str(exc)
            message = f"cannot reach Kafka at {settings.bootstrap}: {reason}"
            raise BrokerUnavailable(message) from exc
        except (TimeoutError, KafkaTimeoutError) as exc:
            message = f"Kafka at {settings.bootstrap} did not answer in {timeout:.0f} s"
            raise BrokerUnavailable(message) from exc
        except KafkaError as exc:
            if not getattr(exc, "retriable", False):
                raise ConfigurationError(f"Kafka at {settings.bootstrap} refused: {exc}") from exc
            if time.monotonic() + RETRY_S >= deadline:
                raise BrokerUnavailable(f"Kafka at {settings.bootstrap}: {exc}") from exc
            # e.g. no group coordinator yet: a new cluster creates its offsets topic now
            await asyncio.sleep(RETRY_S)


async def _read_groups(settings: Settings, names: list[str]) -> list[GroupStatus]:
    from hub.adapters.kafka import make_admin

    admin = make_admin(settings)
    await admin.start()
    try:
        described = await _describe(admin, {settings.group(n): n for n in names})
        groups: list[GroupStatus] = []
        committed: dict[str, dict[TopicPartition, int]] = {}
        for name in names:
            group_id = settings.group(name)
            status = described.get(group_id) or GroupStatus(name, group_id, "not running", "Dead")
            groups.append(status)
            if status.kafka_state != "Dead":
                offsets = await admin.list_consumer_group_offsets(group_id)
                committed[group_id] = {
                    tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0
                }
    finally:
        await admin.close()
    await _fill_partitions(settings, groups, committed)
    return groups


async def _describe(admin: Any, stages: dict[str, str]) -> dict[str, GroupStatus]:
    """DescribeGroups of ``stages`` (group id -> stage): state and members with their
    decoded assignments; groups the coordinator does not know are left out."""
    from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

    # one group per request: aiokafka 0.14 reads a DescribeGroups v3 answer with the v2
    # layout (no per-group authorized_operations), so a second group would be misread
    responses = await asyncio.gather(
        *(admin.describe_consumer_groups([group_id]) for group_id in stages)
    )
    out: dict[str, GroupStatus] = {}
    for response in (r for answer in responses for r in answer):
        for group in response.to_object()["groups"]:
            group_id = str(group["group"])
            code = int(group["error_code"])
            if code == GROUP_ID_NOT_FOUND:
                continue
            if code:
                raise for_code(code)(f"describing group {group_id}")
            kafka_state = str(group["state"])
            members: list[MemberStatus] = []
            for member in group["members"]:
                assigned: list[TopicPartition] = []
                data = member["member_assignment"]
                if group["protocol_type"] == "consumer" and data:
                    assigned = ConsumerProtocolMemberAssignment.decode(data).partitions()
                members.append(
                    MemberStatus(
                        member_id=str(member["member_id"]),
                        client_id=str(member["client_id"]),
                        host=str(member["client_host"]).lstrip("/"),
                        partitions=[f"{tp.topic}-{tp.partition}" for tp in sorted(assigned)],
                    )
                )
            running = members and kafka_state not in NOT_RUNNING_STATES
            state = kafka_state if running else "not running"
            out[group_id] = GroupStatus(
                stages.get(group_id, group_id),
                group_id,
                state,
                kafka_state,
                sorted(members, key=_member_order),
            )
    return out


async def _fill_partitions(
    settings: Settings, groups: list[GroupStatus], committed: dict[str, dict[TopicPartition, int]]
) -> None:
    """Each group's partitions (committed or assigned) with end offsets and lag."""
    owned: dict[str, dict[TopicPartition, str]] = {}
    wanted: set[TopicPartition] = set()
    for status in groups:
        owners = {
            _parse_tp(text): member.member_id
            for member in status.members
            for text in member.partitions
        }
        owned[status.group] = owners
        wanted |= set(owners) | set(committed.get(status.group, {}))
    if not wanted:
        return
    from hub.adapters.kafka import make_consumer

    consumer = make_consumer(settings, group=None)  # read_committed: ends are LSOs
    await consumer.start()
    try:
        tps = sorted(wanted)
        ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
        starts: dict[TopicPartition, int] = await consumer.beginning_offsets(tps)
    finally:
        await consumer.stop()
    for status in groups:
        done = committed.get(status.group, {})
        owners = owned[status.group]
        for tp in sorted(set(owners) | set(done)):
            end = ends.get(tp, 0)
            position = done.get(tp)
            base = position if position is not None else starts.get(tp, 0)
            status.partitions.append(
                PartitionStatus(
                    tp.topic, tp.partition, position, end, max(0, end - base), owners.get(tp)
                )
            )


def _parse_tp(text: str) -> TopicPartition:
    topic, _, partition = text.rpartition("-")
    return TopicPartition(topic, int(partition))


def _member_order(member: MemberStatus) -> tuple[str, str, str]:
    return (member.host, member.client_id, member.member_id)
