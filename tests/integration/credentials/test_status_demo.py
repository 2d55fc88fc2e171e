"""The demo's destinations name the issuer server that actually runs.

``local_destinations`` (what ``mchub demo`` starts) picks the issuer server's port before
anything is signed, makes that address the public base URL of the run, and the
credentials its wallet and EDC destinations build point at it: the independent
Bitstring Status List oracle fetches their lists there, before and after a revocation.
A second run on the same data directory gets the same address again (a public base URL
is meant to stay: the first run's credentials stay verifiable); only when that port is
taken does a run get another one, and its credentials name that one.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.edc.multipart import parse_multipart
from connectors.fanout.base import decode_canonical
from hub.contract import AvroCodec
from hub.crypto.keys import load_certificates
from mchub_reference.local import PUBLIC_BASE_URL_VAR, local_destinations
from tests.oracles.bitstring_status import check_status
from tests.unit.contract.contract_testdata import issued
from tests.unit.wallet.issuing_support import revoked_item

pytestmark = pytest.mark.integration


def _b64json(text: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    return data


def test_demo_credentials_name_the_running_issuer_server(tmp_path: Path) -> None:
    before = os.environ.get(PUBLIC_BASE_URL_VAR)
    item = decode_canonical(AvroCodec().encode(issued("he")))
    with local_destinations(tmp_path) as local, httpx.Client(timeout=10) as http:
        base = local.public_base_url
        assert base is not None and base.startswith("http://127.0.0.1:")
        assert os.environ[PUBLIC_BASE_URL_VAR] == base  # what load_settings().issuing reads now
        anchors = load_certificates(tmp_path / "keys" / "ca.cert.pem")
        wallet, edc = local.destinations["wallet"], local.destinations["edc"]
        badge_request = wallet.build_request(item)
        assert badge_request.content is not None
        badge = _b64json(badge_request.content.decode().split(".")[1])
        elm_request = edc.build_request(item)
        assert elm_request.content is not None
        (part,) = parse_multipart(elm_request.content, elm_request.headers["Content-Type"])
        elm = json.loads(json.loads(part.data)["payload"])
        assert badge["issuer"]["id"].startswith(f"{base}/v1/issuers/")
        for credential in (badge, elm):
            result = check_status(credential, http, anchors=anchors)
            assert result.entry.list_url.startswith(f"{base}/v1/status/")
            assert not result.revoked
        # the CRL the seal certificate names is served there too
        assert http.get(f"{base}/v1/pki/ca.crl").status_code == 200
        edc.prepare([revoked_item()])  # as the fan-out does: bits set
        assert edc.wants(revoked_item()) is False  # and skips the revocation
        for credential in (badge, elm):
            assert check_status(credential, http, anchors=anchors).revoked
        elm_list_id = check_status(elm, http, anchors=anchors).entry.list_url.rsplit("/", 1)[1]
    assert os.environ.get(PUBLIC_BASE_URL_VAR) == before  # restored after the run

    # a second run: the same address, so the first run's credentials still verify
    with local_destinations(tmp_path) as again, httpx.Client(timeout=10) as http:
        assert again.public_base_url == base
        assert http.get(badge["issuer"]["id"]).status_code == 200
        for credential in (badge, elm):
            assert check_status(credential, http, anchors=anchors).revoked

    # a third run while that port is taken: another address; the lists are re-signed
    port = int(base.rsplit(":", 1)[1])
    other = dataclasses.replace(item, event_id="ev-2", credential_id="0000-second-run")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        with local_destinations(tmp_path) as again, httpx.Client(timeout=10) as http:
            assert again.public_base_url not in (None, base)
            request = again.destinations["wallet"].build_request(other)
            assert request.content is not None
            badge2 = _b64json(request.content.decode().split(".")[1])
            result = check_status(badge2, http, anchors=anchors)
            assert result.entry.list_url.startswith(f"{again.public_base_url}/v1/status/")
            assert not result.revoked
            # the ELM issuer (the sealing organisation) is the same in both runs: its list of
            # the first run takes the new entry, re-signed under the new address
            elm_request = again.destinations["edc"].build_request(other)
            assert elm_request.content is not None
            (part,) = parse_multipart(elm_request.content, elm_request.headers["Content-Type"])
            elm2 = json.loads(json.loads(part.data)["payload"])
            result = check_status(elm2, http, anchors=anchors)
            assert result.entry.list_url.rsplit("/", 1)[1] == elm_list_id
            assert not result.revoked
