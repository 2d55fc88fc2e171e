"""Erasing a learner on the real broker: the samples through the hub, then
``mchub learners erase`` for one learner (issue 15 item 4).

Shown: no education ID, name or birth date of any sample learner is in clear on the
canonical log or the decide requests (the unsalted learner hash is gone too); after the
erasure the learner's events read "erased", the other learners' are intact, the
register state topic has tombstones for the learner's credentials and a replay of it
leaves them out, ``audit verify`` still passes, and the export shows what is held.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from connectors.fanout.base import decode_canonical
from connectors.fanout.state import STAGE_NAME
from hub.audit.learners import erasures_of, export_learner, pseudonym_of
from hub.audit.replay import replay_register_state
from hub.audit.verify import verify_topics
from hub.privacy.keystore import open_key_store
from hub.settings import Settings
from hub.stream.checkpoints import trust_anchors
from hub.topics import (
    AUDIT_CHECKPOINTS,
    CANONICAL_LOG,
    DECIDE_REQUESTS,
    LEARNER_ERASURES,
    REGISTER_STATE,
    apply_topics,
)
from mchub_reference.register.store import RegisterStore
from tests.integration.fanout.fanout_support import (
    caught_up,
    hub_running,
    publish_samples,
    register,
)
from tests.support import worker_env
from tests.support_kafka import read_topic

pytestmark = pytest.mark.integration


def _learners(items: list) -> dict[str, dict]:  # type: ignore[type-arg]
    """education ID -> the identification the issuances and enrolments name."""
    found: dict[str, dict] = {}  # type: ignore[type-arg]
    for item in items:
        event = item.event
        learner = (event.get("credential") or {}).get("learnerIdentification") or event.get(
            "learnerIdentification")
        if learner:
            found[learner["educationId"]] = learner
    return found


async def test_erase_one_learner_leaves_the_log_verifiable_and_the_others_intact(
    settings: Settings, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"data_dir": tmp_path})
    await apply_topics(settings)
    with register() as (url, store):
        await _erase_one_learner(settings, tmp_path, url, store)


async def _erase_one_learner(settings: Settings, tmp_path: Path, url: str,
                             store: RegisterStore) -> None:
    async with hub_running(settings, {"register": url}):
        await publish_samples(settings)
        await caught_up(settings, ["deliver-register", STAGE_NAME])

    log = await read_topic(settings, settings.topic(CANONICAL_LOG), at_least=25, timeout=30)
    requests = await read_topic(settings, settings.topic(DECIDE_REQUESTS), at_least=25)
    keys = open_key_store(settings)
    items = [decode_canonical(r.value, keys) for r in log]
    learners = _learners(items)
    assert len(learners) >= 5
    # nothing of any learner in clear on the log or the requests (old code fails here)
    raw = b"".join(r.value for r in log + requests)
    for education_id, learner in learners.items():
        assert education_id.encode() not in raw
        assert learner["familyName"].encode("utf-8") not in raw
        assert hashlib.sha256(education_id.encode()).hexdigest()[:32].encode() not in raw
    enrolment_keys = {bytes(r.key) for r, i in zip(log, items, strict=True) if not i.credential_id}
    assert enrolment_keys and all(k.startswith(b"learner:lk1-") for k in enrolment_keys)

    # the learner with the most credentials is erased
    by_learner: dict[str, set[str]] = {}
    for item in items:
        if item.credential_id is not None:
            by_learner.setdefault(item.learner_id, set()).add(item.credential_id)
    erased_id = max(by_learner, key=lambda k: len(by_learner[k]))
    erased_credentials = by_learner[erased_id]
    others = {cid for k, v in by_learner.items() if k != erased_id for cid in v}

    assert len(store.credentials_of_learner(erased_id)) == len(erased_credentials)
    # through the real CLI, as an operator would; the register is told as well
    env = worker_env(settings, MCHUB_DATA_DIR=str(tmp_path), MCHUB_REGISTER_URL=url)
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "hub", "learners", "erase", erased_id, "--yes",
         "--reason", "Art. 17 request T-1", "--by", "t"],
        env=env, capture_output=True, text=True, check=False, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "1 key(s) destroyed" in done.stdout
    assert f"register: erased {len(erased_credentials)} credential(s)" in done.stdout
    assert store.credentials_of_learner(erased_id) == []
    assert store.enrolments_of_learner(erased_id) == []
    assert all(store.get_credential(cid) is not None for cid in others)
    [event] = await erasures_of(settings, pseudonym_of(settings, erased_id))
    assert event["destinations"]["register"]["status"] == "erased"
    assert event["keysDestroyed"] == 1 and event["requestedBy"] == "t"
    assert set(event["credentialIds"]) == erased_credentials
    assert event["reason"] == "Art. 17 request T-1"
    assert erased_id not in done.stdout + json.dumps(event)

    again = [decode_canonical(r.value, keys) for r in log]
    for item in again:
        if item.learner_key == pseudonym_of(settings, erased_id):
            assert item.learner_erased and item.learner_id != erased_id
        else:
            assert not item.learner_erased and item.learner_id in learners

    # the chain covers the ciphertext: verification still passes
    report = await verify_topics(
        settings, settings.topic(CANONICAL_LOG), settings.topic(AUDIT_CHECKPOINTS),
        trust_anchors(settings))
    assert report.ok, report.to_json()

    # the register state: tombstones now, and a replay leaves the learner's credentials out
    states = await read_topic(settings, settings.topic(REGISTER_STATE), at_least=1, timeout=10,
                              settle=0.5)
    latest = {bytes(r.key).decode(): r.value for r in states}
    assert all(latest[cid] is None for cid in erased_credentials)
    assert all(latest[cid] is not None for cid in others)
    target = settings.topic(REGISTER_STATE) + ".replay-erasure"
    await replay_register_state(settings, target)
    replayed = {bytes(r.key).decode() for r in await read_topic(settings, target, at_least=1,
                                                                  settle=0.5)}
    assert replayed == others

    # subject access: the erased learner's events show "erased", another's are opened
    export = await export_learner(settings, erased_id)
    assert export["keyStore"]["activeKeys"] == []
    assert {e["learner"] for e in export["canonicalEvents"]} == {"erased"}
    assert export["registerState"] == [None] * len(export["registerState"])
    text = json.dumps(export["canonicalEvents"], ensure_ascii=False)
    assert learners[erased_id]["familyName"] not in text
    other_id = next(k for k in learners if k != erased_id)
    exported = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "hub", "learners", "export", other_id],
        env=env, capture_output=True, text=True, check=False, timeout=120,
    )
    assert exported.returncode == 0, exported.stderr
    other = json.loads(exported.stdout)
    assert {e["learner"] for e in other["canonicalEvents"]} == {"opened"}
    assert learners[other_id]["familyName"] in json.dumps(other, ensure_ascii=False)
    records = await read_topic(settings, settings.topic(LEARNER_ERASURES), at_least=1)
    assert erased_id.encode() not in b"".join(r.value for r in records)


def test_erase_cli_asks_for_a_reason() -> None:
    """The CLI refuses an erasure without a reason (usage error, nothing destroyed)."""
    done = subprocess.run(
        [sys.executable, "-m", "hub", "learners", "erase", "77721222107", "--yes"],
        capture_output=True, text=True, check=False,
    )
    assert done.returncode == 2 and "--reason" in done.stderr
