"""Property-based contract tests: schemathesis against the committed OpenAPI document,
calling the real gateway (on the real broker) over HTTP."""

from __future__ import annotations

import asyncio
import json

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import checks

from tests.integration.gateway.conftest import Registry
from tests.support import REPO_ROOT

DOCUMENT = REPO_ROOT / "docs" / "openapi" / "gateway.json"
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
    checks.ignored_auth,
]


def run_schemathesis(base_url: str, auth: dict[str, str], examples: int) -> int:
    """Generate requests for every operation; return how many were sent."""
    schema = schemathesis.openapi.from_dict(json.loads(DOCUMENT.read_text(encoding="utf-8")))
    sent = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(max_examples=examples, deadline=None, database=None,
                  phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case: schemathesis.Case) -> None:
            nonlocal sent
            case.call_and_validate(base_url=base_url, headers=auth, checks=CHECKS)
            sent += 1

        check()
    return sent


async def test_the_gateway_honours_its_openapi_document(gateway: str, registry: Registry) -> None:
    sent = await asyncio.to_thread(run_schemathesis, gateway, registry.auth("fir-central"), 40)
    assert sent >= 60
