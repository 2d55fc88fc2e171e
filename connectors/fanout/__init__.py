"""Fan-out: the canonical log delivered to every destination, each at its own pace.

- :mod:`connectors.fanout.base`     :class:`CanonicalItem`, the :class:`Destination` port,
  :func:`decode_canonical` and :func:`connector` (a delivery runner over the canonical log)
"""

from connectors.fanout.base import (
    CanonicalItem,
    Destination,
    FanoutConnector,
    connector,
    decode_canonical,
)

__all__ = ["CanonicalItem", "Destination", "FanoutConnector", "connector", "decode_canonical"]
