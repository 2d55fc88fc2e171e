"""The gateway's fixtures (registry, stream, gateway) for the size tests."""

from tests.integration.gateway.conftest import gateway, registry, stream

__all__ = ["gateway", "registry", "stream"]
