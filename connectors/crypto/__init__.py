"""Keys, seals, signatures and status lists of the hub's credentials.

* :mod:`~connectors.crypto.keys`: the signer, loading keys/chains from PEM
* :mod:`~connectors.crypto.devca`: the development CA and seal certificate, made on first use
* :mod:`~connectors.crypto.jades`: JAdES-style JWS JSON seal of ELM credentials
* :mod:`~connectors.crypto.vcjwt`: VC-JWT (JOSE) signature of Open Badges credentials
* :mod:`~connectors.crypto.statuslist`: W3C Bitstring Status List (revocation)
* :mod:`~connectors.crypto.verify`: one verifier for both formats, with reasons
"""
