"""Keys, seals, signatures and status lists of the hub's credentials.

* :mod:`~hub.crypto.keys`: the signer, loading keys/chains from PEM
* :mod:`~hub.crypto.devca`: the development CA and seal certificate, made on first use
* :mod:`~hub.crypto.jades`: JAdES-style JWS JSON seal of ELM credentials
* :mod:`~hub.crypto.vcjwt`: VC-JWT (JOSE) signature of Open Badges credentials
* :mod:`~hub.crypto.statuslist`: W3C Bitstring Status List (revocation)
* :mod:`~hub.crypto.verify`: one verifier for both formats, with reasons
"""
