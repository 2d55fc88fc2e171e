"""European platforms as a fan-out destination: sealed ELM 3 credentials into EDC wallets.

===============================  =====================================================
canonical event                  what happens
===============================  =====================================================
``issued``                       the credential gets its revocation entry in the list
                                 of the ELM issuer (the seal's organisation; the OB3
                                 badge's entry is in its awarding body's list), is
                                 rendered as ELM 3 JSON-LD (``render_elm``) with
                                 ``credentialStatus`` = ``<status list URL>#<index>``
                                 (an ``xsd:anyURI`` value: the EDC shapes allow no
                                 node there), sealed (JAdES-style
                                 JWS JSON with ``x5c``, ``x5t#S256``, ``sigT``) and
                                 deposited: ``POST {base}/v1/wallets/{userId}/credentials``
                                 (or ``/v1/wallets/email/{email}/credentials``),
                                 ``multipart/form-data`` with the file part
                                 ``_credential`` (``<uuid>.jsonld``, the sealed JSON)
``revoked``                      skipped — EDC has no revocation call. The status bits
                                 (every list the credential has an entry in) are set
                                 (and the lists re-signed) before the skip, so a
                                 verifier following the credential's ``credentialStatus``
                                 sees the revocation
``enrolled|withdrawn|completed`` skipped
===============================  =====================================================

EDC answers ``409`` when the wallet already holds a credential with the same id. The
hub's ELM ids are stable per credential (``urn:credential:<hub credential id>``), so a
``409`` is the answer to a redelivery: the request lists it in ``accept_status`` and the
ledger records the item as delivered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from connectors.delivery.http_sink import HttpRequest
from connectors.edc.multipart import FilePart, encode_multipart
from connectors.edc.registry import EdcRegistry
from connectors.fanout.base import CanonicalItem, issuance_credential_ids, revocations
from connectors.status import StatusPublisher, status_publisher
from hub import wire
from hub.crypto.jades import seal
from hub.crypto.keys import Signer
from hub.errors import ConfigurationError
from hub.render import RenderInput
from hub.render.elm import IssuerProfile, render_elm
from hub.settings import Settings, load_settings

NAME: Final = "edc"
CREDENTIAL_PART: Final = "_credential"
#: EDC's own sealed files are JWS JSON documents named ``*.jsonld``
SEALED_MEDIA_TYPE: Final = "application/json"
#: EDC's answer for a credential id the wallet holds already (a redelivery)
DUPLICATE: Final = 409


def edc_registry(settings: Settings) -> EdcRegistry:
    """``MCHUB_EDC_REGISTRY``'s content (empty without a file: every learner skipped)."""
    path = settings.edc.registry
    return EdcRegistry.load(path) if path else EdcRegistry()


def sealed_file(sealed: Mapping[str, object]) -> bytes:
    """The sealed document as the file EDC receives: compact UTF-8 JSON (orjson).

    Only the strings matter to a verifier — the signature covers the payload string and
    the protected header, which any JSON writer keeps exactly — so the file need not be
    spaced as ``json.dumps`` would; escaping the ~15 KB payload in the standard library
    cost ~130 µs per issuance.
    """
    return wire.dumps(sealed)


def seal_issuer(signer: Signer) -> IssuerProfile:
    """The EDC issuer of sealed credentials: the seal certificate's organisation."""
    ident = signer.organization_identifier()
    if ident is None:
        raise ConfigurationError("the seal certificate has no organizationIdentifier (2.5.4.97)")
    name = signer.organization_name() or ident
    return IssuerProfile(legal_name={"hu": name}, eidas_identifier=ident)


@dataclass
class EdcDestination:
    """The EDC :class:`~connectors.fanout.base.Destination` (see the module docstring)."""

    registry: EdcRegistry
    publisher: StatusPublisher
    name: str = NAME
    #: the seal's issuer profile, read from its certificate once (with that signer)
    _issuer: tuple[Signer, IssuerProfile] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def wants(self, item: CanonicalItem) -> bool:
        """Issuances of learners with an EDC wallet; nothing else (a revocation only sets
        its status bit, in :meth:`prepare`). Pure: reads the registry, changes nothing."""
        return (
            item.credential_id is not None
            and item.event_type == "issued"
            and item.elements is not None
            and self.registry.for_learner(item.learner_id) is not None
        )

    def prepare(self, items: list[CanonicalItem]) -> None:
        """Claim the status entries of a batch's issuances in one transaction, then set the
        status bits of its revocations (published whether or not a wallet is notified).

        One commit (one sync to disk) per batch instead of one per credential; each
        :meth:`sealed_credential` then finds its entry in memory. The entries are on
        disk before any request of the batch is built.
        """
        wanted = issuance_credential_ids(items, self.registry.for_learner)
        if wanted:
            issuer = self.issuer().node_id
            self.publisher.allocate_many(wanted, issuers=dict.fromkeys(wanted, issuer))
        for credential_id, reason in revocations(items):
            self.publisher.revoke(credential_id, reason)

    def issuer(self) -> IssuerProfile:
        """The ELM issuer (the seal's organisation), read from the certificate once per
        signer: also the issuer of the status list the credentials' entries are in."""
        signer = self.publisher.signer
        if self._issuer is None or self._issuer[0] is not signer:
            self._issuer = (signer, seal_issuer(signer))
        return self._issuer[1]

    def sealed_credential(self, item: CanonicalItem) -> dict[str, object]:
        """The sealed ELM credential (JWS JSON document) of an issuance."""
        if (
            item.event_type != "issued"
            or item.credential_id is None
            or item.credential_key is None
            or item.elements is None
        ):
            raise ValueError(f"EDC takes issuances only, not {item.event_type} {item.event_id}")
        issuer = self.issuer()
        ref = self.publisher.allocate(item.credential_id, issuer=issuer.node_id)
        inp = RenderInput(
            item.credential_id, item.credential_key, item.elements, item.issued_at, ref
        )
        return seal(render_elm(inp, issuer), self.publisher.signer)

    def build_request(self, item: CanonicalItem) -> HttpRequest:
        """The multipart deposit of the sealed credential into the learner's EDC wallet."""
        wallet = self.registry.for_learner(item.learner_id)
        if wallet is None:
            raise ValueError(f"learner of {item.event_id} has no EDC wallet")
        sealed = self.sealed_credential(item)
        body, content_type = encode_multipart(
            [
                FilePart(
                    CREDENTIAL_PART,
                    f"{item.credential_id}.jsonld",
                    SEALED_MEDIA_TYPE,
                    sealed_file(sealed),
                )
            ]
        )
        return HttpRequest(
            "POST",
            wallet.deposit_path(),
            content=body,
            headers={"Content-Type": content_type, "Accept": "application/json"},
            accept_status=frozenset({DUPLICATE}),
        )


def edc_destination(
    settings: Settings | None = None,
    *,
    registry: EdcRegistry | None = None,
    publisher: StatusPublisher | None = None,
) -> EdcDestination:
    """The EDC destination, configured from ``settings`` (default
    :func:`~hub.settings.load_settings`) unless given explicitly.

    ``registry`` (else :func:`edc_registry`), ``publisher`` (else the status database,
    seal and public URL of ``settings.issuing``). The base URL and bearer token are the
    connector's (``MCHUB_EDC_URL``, ``MCHUB_EDC_TOKEN``: ``settings.fanout``).
    """
    conf = settings or load_settings()
    return EdcDestination(
        registry=registry if registry is not None else edc_registry(conf),
        publisher=publisher or status_publisher(conf),
    )
