"""The hub's erasure call to the register: answers mapped by the delivery policy."""

from __future__ import annotations

import httpx
import pytest

from connectors.fanout.register import erase_at_register
from hub.errors import DestinationRejected, DestinationUnauthorised, DestinationUnavailable


def transport(status: int, body: object = None) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.method == "DELETE" and request.url.path == "/learners/77721222107"
        assert request.headers["authorization"] == "Bearer t"
        return httpx.Response(status, json=body)
    return httpx.MockTransport(answer)


async def test_the_registers_answer_is_returned() -> None:
    done = await erase_at_register(
        "http://register", "77721222107", token="t", transport=transport(200, {
            "educationId": "77721222107", "credentialsErased": 2, "enrolmentsErased": 1}))
    assert (done.credentials_erased, done.enrolments_erased) == (2, 1)


@pytest.mark.parametrize("status, body, error", [
    (503, None, DestinationUnavailable),
    (429, None, DestinationUnavailable),
    (401, None, DestinationUnauthorised),
    (409, {"title": "no"}, DestinationRejected),
    (200, {"unexpected": True}, DestinationRejected),
])
async def test_a_refusal_is_the_delivery_policys_error(
        status: int, body: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        await erase_at_register("http://register", "77721222107", token="t",
                                transport=transport(status, body))
