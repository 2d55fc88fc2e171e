"""Apicurio Registry's own Avro serde as an independent reader of registry-framed records
(test support).

:func:`build_serde_consumer` resolves ``tools/serde-consumer/pom.xml``
(``io.apicurio:apicurio-registry-serdes-avro-serde`` of the local registry's version and
``kafka-clients`` of the broker's, from Maven Central) with the Maven fetcher the local
Kafka uses (:func:`hub.localkafka.maven_copy_dependencies`) into
``~/.cache/mchub/serde-consumer-<hash>/`` and compiles the one Java class there with
``javac``; ``<hash>`` is the SHA-256 of the pom and the source, so a change rebuilds and an
unchanged checkout reuses the cache across runs.

:func:`decode_topic` reads a whole topic (from the beginning to its end offsets) in one
JVM and returns what the serde made of each record: ``{"partition", "offset", "schema",
"value"}`` (the writer schema's full name, the record as JSON) or ``{"partition",
"offset", "error"}``. The framing is Confluent's (magic byte 0, 4-byte big-endian id, Avro
body) with the id the registry's ccompat API returns, a content id (DecodeTopic.java).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Final

from hub.localregistry import REGISTRY_VERSION
from tests.support_java import JavaTool, build_java_tool

TOOL_DIR: Final = Path(__file__).resolve().parent.parent / "tools" / "serde-consumer"
SOURCE_DIR: Final = TOOL_DIR / "src" / "main" / "java" / "eu" / "mchub" / "serde"
MAIN_CLASS: Final = "eu.mchub.serde.DecodeTopic"
#: the serde's version in tools/serde-consumer/pom.xml: the local registry's
SERDE_VERSION: Final = REGISTRY_VERSION


#: a built tool (its ``classpath``)
SerdeConsumer = JavaTool


def build_serde_consumer(cache_dir: Path | None = None) -> SerdeConsumer:
    """The consumer, built on first use (Maven + javac) into the cache."""
    return build_java_tool("serde-consumer", TOOL_DIR, SOURCE_DIR,
                           expect_jar=f"apicurio-registry-serdes-avro-serde-{SERDE_VERSION}.jar",
                           what=f"Apicurio's Avro serde {SERDE_VERSION}",
                           cache_dir=cache_dir)


def decode_topic(
    bootstrap: str,
    topic: str,
    registry_url: str,
    *,
    sasl: tuple[str, str] | None = None,
    consumer: SerdeConsumer | None = None,
    timeout: float = 120.0,
) -> list[dict[str, Any]]:
    """What Apicurio's Avro deserializer makes of every record of ``topic``, in the order
    read (per partition by offset): a dict per record, ``value`` or ``error``.

    ``registry_url``: the Confluent-compatible URL (``…/apis/ccompat/v7``); ``sasl``:
    ``(user, password)`` of a SASL_PLAINTEXT/SCRAM-SHA-512 listener. Raises AssertionError
    when the program fails or its closing ``{"count", "errors"}`` line disagrees."""
    consumer = consumer or build_serde_consumer()
    cmd = [
        "java", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
        "-cp", consumer.classpath, MAIN_CLASS,
        "--bootstrap", bootstrap, "--topic", topic, "--registry", registry_url,
        "--timeout-ms", str(int(timeout * 1000)),
    ]  # fmt: skip
    if sasl is not None:
        cmd += ["--sasl-user", sasl[0], "--sasl-password", sasl[1]]
    result = subprocess.run(
        cmd, capture_output=True, text=True, check=False, timeout=timeout + 60)
    if result.returncode != 0:
        raise AssertionError(
            f"DecodeTopic failed ({result.returncode}): {result.stderr[-3000:]}")
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    if not lines or "count" not in lines[-1]:
        raise AssertionError(f"DecodeTopic printed no summary: {result.stdout[-2000:]}")
    summary, records = lines[-1], lines[:-1]
    errors = sum(1 for r in records if "error" in r)
    if summary != {"count": len(records), "errors": errors}:
        raise AssertionError(f"DecodeTopic summary {summary} for {len(records)} records, "
                             f"{errors} errors")
    return records
