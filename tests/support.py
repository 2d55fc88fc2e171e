"""Helpers shared by tests (not fixtures): free ports, paths, settings, worker env."""

from __future__ import annotations

import os
import random
import socket
import uuid
from pathlib import Path

from hub.settings import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent


def free_port_block(size: int, start: int | None = None) -> int:
    """The first port ``p >= start`` such that ``p .. p+size-1`` are all free on loopback.

    Without ``start``, a random one below the kernel's ephemeral range, so that test
    sessions running side by side (helpers, a clean-clone CI check) do not all try the same
    block and race each other to bind it."""
    port = start if start is not None else random.randrange(20_000, 32_000)
    while port < 65000:
        if all(_free(port + i) for i in range(size)):
            return port
        port += size + 7
    raise RuntimeError("no free port block on 127.0.0.1")


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def shared_dir() -> Path:
    """The read-only ``shared/`` folder (feeds, samples, reference artefacts)."""
    env = os.environ.get("MCHUB_SHARED_DIR")
    return Path(env) if env else (REPO_ROOT.parent / "shared").resolve()


def worker_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a real ``mchub`` process working on the test's topics."""
    return {
        **os.environ,
        "MCHUB_BOOTSTRAP": settings.bootstrap,
        "MCHUB_TOPIC_PREFIX": settings.topic_prefix,
        "MCHUB_CONSUMER_GROUP": settings.consumer_group,
        "MCHUB_CLIENT_ID": settings.client_id,
        "MCHUB_PARTITIONS": str(settings.partitions),
        **extra,
    }


def memory_settings(data_dir: Path, *, partitions: int = 3) -> Settings:
    """Settings of a hub of its own on the in-memory log (``memory://``), topics not yet
    declared (``await apply_topics(settings)``)."""
    tag = uuid.uuid4().hex[:10]
    return Settings(
        bootstrap=f"memory://{tag}",
        topic_prefix=f"t{tag}.",
        consumer_group=f"test-{tag}",
        client_id=f"test-{tag}",
        partitions=partitions,
        data_dir=data_dir,
    )


def shared_audit_key(settings: Settings, directory: Path) -> Settings:
    """``settings`` signing checkpoints with one dev seal in ``directory``: several decide
    instances with data directories of their own must share the audit key, as in
    production (each instance's chain heads are checked on takeover)."""
    from hub.crypto.devca import generate_dev_keys

    seal = generate_dev_keys(directory) if not (directory / "seal.key.pem").exists() else None
    key, chain, ca = (
        (seal.key, seal.chain, seal.ca_cert)
        if seal is not None
        else (directory / "seal.key.pem", directory / "seal.chain.pem", directory / "ca.cert.pem")
    )
    return settings.with_section("audit", audit_key=key, audit_cert=chain, audit_trust=ca)
