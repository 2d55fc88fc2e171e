"""Keys, seals, signatures and status lists of the hub's credentials.

* :mod:`~connectors.crypto.keys`: dev CA + seal certificate generation, loading keys/chains
* :mod:`~connectors.crypto.jades`: JAdES-style JWS JSON seal of ELM credentials
* :mod:`~connectors.crypto.vcjwt`: VC-JWT (JOSE) signature of Open Badges credentials
* :mod:`~connectors.crypto.statuslist`: W3C Bitstring Status List (revocation)
* :mod:`~connectors.crypto.verify`: one verifier for both formats, with reasons
"""
