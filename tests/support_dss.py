"""The EU DSS library as an independent verifier of the hub's seals (test support).

:func:`build_dss_validator` resolves ``tools/dss-validator/pom.xml`` (DSS 6.3 from Maven
Central) with the Maven fetcher the local Kafka uses (:func:`hub.localkafka.
maven_copy_dependencies`) into ``~/.cache/mchub/dss-validator-<hash>/`` and compiles the
one Java class there with ``javac``; ``<hash>`` is the SHA-256 of the pom and the source,
so a change rebuilds and an unchanged checkout reuses the cache across runs.
:func:`dss_validate` validates many files in one JVM and returns DSS's verdict per file
(the JSON the Java program prints). :func:`running_test_tsa` runs the test RFC 3161
time-stamping authority of the same build (BouncyCastle, on a loopback port).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from tests.support_java import JavaTool, build_java_tool

TOOL_DIR: Final = Path(__file__).resolve().parent.parent / "tools" / "dss-validator"
SOURCE_DIR: Final = TOOL_DIR / "src" / "main" / "java" / "eu" / "mchub" / "dss"
MAIN_CLASS: Final = "eu.mchub.dss.DssValidate"
TSA_CLASS: Final = "eu.mchub.dss.TestTsa"
DSS_VERSION: Final = "6.3"


#: a built tool (its ``classpath``)
DssValidator = JavaTool


def build_dss_validator(cache_dir: Path | None = None) -> DssValidator:
    """The validator, built on first use (Maven + javac) into the cache."""
    return build_java_tool("dss-validator", TOOL_DIR, SOURCE_DIR,
                           expect_jar=f"dss-jades-{DSS_VERSION}.jar",
                           what=f"DSS {DSS_VERSION}",
                           cache_dir=cache_dir)


def dss_validate(
    validator: DssValidator, files: Sequence[Path], anchor: Path
) -> list[dict[str, Any]]:
    """DSS's verdict for each of ``files`` (one JVM), with ``anchor`` as the trust anchor.

    Each verdict has ``format`` (e.g. ``JAdES-BASELINE-B``), ``indication``,
    ``subIndication``, ``errors``, ``warnings``, the signing certificate's
    ``crlDistributionPoints`` and the ``revocation`` data DSS fetched.
    """
    cmd = [
        "java",
        "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
        "-cp",
        validator.classpath,
        MAIN_CLASS,
        "--anchor",
        str(anchor),
        *map(str, files),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=600)
    if result.returncode != 0:
        raise AssertionError(f"DSS validator failed ({result.returncode}): {result.stderr[-3000:]}")
    verdicts: list[dict[str, Any]] = json.loads(result.stdout)
    return verdicts


@contextmanager
def running_test_tsa(validator: DssValidator, key: Path, chain: Path) -> Iterator[str]:
    """A test time-stamping authority signing with ``key`` (PKCS#8 PEM) and ``chain`` (PEM,
    TSA certificate first); yields its URL and stops it when the block ends."""
    process = subprocess.Popen(
        ["java", "-cp", validator.classpath, TSA_CLASS, str(key), str(chain)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url.startswith("http://"):
            raise AssertionError(f"the test TSA did not start: {url!r}")
        yield url
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
