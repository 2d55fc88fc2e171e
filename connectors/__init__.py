"""Outbound side of the hub: rendering canonical records into credentials, sealing and signing
them, and the revocation status lists they point to (``connectors.render``,
``connectors.crypto``)."""
