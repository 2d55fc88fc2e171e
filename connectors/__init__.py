"""Outbound side of the hub: the fan-out from the canonical log, delivery with a ledger,
the register, wallet and EDC destinations, and the issuer/status server their credentials
point to. Rendering and signing are in the kernel and pure layers (``hub.render``,
``hub.crypto``)."""
