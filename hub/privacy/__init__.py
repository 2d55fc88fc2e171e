"""Learner personal data the hub can erase (GDPR Art. 17) without rewriting history.

- :mod:`hub.privacy.pseudonym`: keyed learner pseudonyms (HMAC-SHA-256 with a deployment
  secret) — what the hub keys learners by in its topics, state and ledger;
- :mod:`hub.privacy.keystore`: one data key per learner (AES-256-GCM), wrapped with the
  deployment's key-encryption key, in a key store outside Kafka (SQLite on the embedded
  default; one contract test suite for every adapter);
- :mod:`hub.privacy.seal`: the learner's identification sealed with that key inside each
  canonical record (the hash chain covers the ciphertext), opened by the stages that need
  it; once the key is destroyed (``mchub learners erase``) every copy reads "erased".

See docs/privacy.md for what is stored where, for how long and why.
"""
