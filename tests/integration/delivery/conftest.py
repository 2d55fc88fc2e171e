"""Fixtures of the delivery integration tests (real broker via the root conftest)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tests.integration.delivery.delivery_support import Destination


@pytest.fixture
async def destinations() -> AsyncIterator[Callable[..., Awaitable[Destination]]]:
    """A factory of scripted HTTP destinations on free loopback ports (stopped at the end)."""
    made: list[Destination] = []

    async def make(*, started: bool = True) -> Destination:
        destination = Destination()
        if started:
            await destination.up()
        made.append(destination)
        return destination

    yield make
    for destination in made:
        await destination.down()
