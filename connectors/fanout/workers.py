"""The fan-out's workers as ``mchub run`` and the demo start them.

:func:`fanout_workers` yields the register-state projection (always) and one connector per
configured destination. Each connector reads the canonical log with its own consumer
group, so one slow or unreachable destination never holds back another or the core stream.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from connectors.fanout.base import Destination, FanoutConnector, connector
from connectors.fanout.register import RegisterDestination
from connectors.fanout.state import register_state_stage
from hub.errors import ConfigurationError
from hub.settings import Settings
from hub.stream.runner import Worker

#: module and factory of each optional destination (built by their own packages)
FACTORIES: dict[str, tuple[str, str]] = {
    "wallet": ("connectors.wallet", "wallet_destination"),
    "edc": ("connectors.edc", "edc_destination"),
}


def available(name: str) -> bool:
    """True when destination ``name``'s package is installed (register: always)."""
    if name == "register":
        return True
    module, factory = FACTORIES[name]
    try:
        return hasattr(importlib.import_module(module), factory)
    except ImportError:
        return False


def destination_for(name: str, settings: Settings | None = None, **options: Any) -> Destination:
    """The :class:`Destination` called ``name``, configured from ``settings`` (default
    :func:`~hub.settings.load_settings`); ``options`` go to its factory."""
    if name == "register":
        return RegisterDestination()
    if name not in FACTORIES:
        raise ConfigurationError(f"unknown destination {name!r} (register, wallet, edc)")
    module, factory = FACTORIES[name]
    try:
        make = getattr(importlib.import_module(module), factory)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(
            f"the {name} destination is configured but {module}.{factory} is not available"
        ) from exc
    destination: Destination = make(settings, **options)
    return destination


def destination_connector(
    settings: Settings,
    name: str,
    base_url: str,
    *,
    token: str | None = None,
    destination: Destination | None = None,
    **options: Any,
) -> FanoutConnector:
    """The connector of destination ``name`` at ``base_url`` (bearer ``token`` if set)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    headers |= options.pop("headers", {})
    if name == "register":
        options.setdefault("retry_4xx_with_retry_after", True)  # its 409 "not yet"
    target = destination if destination is not None else destination_for(name, settings)
    return connector(settings, target, base_url, headers=headers, **options)


@asynccontextmanager
async def fanout_workers(
    settings: Settings,
    *,
    urls: Mapping[str, str] | None = None,
    destinations: Mapping[str, Destination] | None = None,
    projection: bool = True,
    runner_options: Mapping[str, Any] | None = None,
    **sink_options: Any,
) -> AsyncIterator[list[Worker]]:
    """The projection and one connector per destination URL (``urls``, else
    ``settings.fanout``'s), batched and tokened as ``settings.fanout`` says.

    ``destinations`` overrides the :class:`Destination` of a name (tests, the demo).
    The connectors' HTTP clients are closed when the block ends.
    """
    fanout = settings.fanout
    chosen = dict(urls) if urls is not None else fanout.urls()
    workers: list[Worker] = []
    if projection:
        workers.append(register_state_stage(settings))
    async with AsyncExitStack() as stack:
        for name, url in chosen.items():
            options = {
                "concurrency": fanout.fanout_concurrency,
                "runner_options": {"max_records": fanout.fanout_batch, **(runner_options or {})},
                "batch_size": fanout.register_batch if name == "register" else 0,
                **sink_options,
            }
            made = destination_connector(
                settings,
                name,
                url,
                token=fanout.token(name),
                destination=(destinations or {}).get(name),
                **options,
            )
            stack.push_async_callback(made.aclose)
            workers.append(made)
        yield workers
