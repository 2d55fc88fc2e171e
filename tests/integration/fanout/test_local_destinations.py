"""The local destinations of the demo and the benchmark, in this process or in children."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import httpx
import pytest

from connectors.fanout.base import decode_canonical
from hub.contract import AvroCodec
from mchub_reference.local import local_destinations
from mchub_reference.wallet_host import DEV_WALLET_TOKEN
from tests.unit.contract.contract_testdata import issued


@pytest.mark.parametrize("separate_process", [False, True], ids=["threads", "processes"])
def test_each_destination_takes_what_its_connector_builds(
    tmp_path: Path, separate_process: bool
) -> None:
    one = decode_canonical(AvroCodec().encode(issued("he")))
    item = dataclasses.replace(one, event_id=f"ev-{separate_process}")
    with (
        local_destinations(tmp_path, separate_process=separate_process) as local,
        httpx.Client(timeout=10) as http,
    ):
        assert set(local.urls) == {"register", "wallet", "edc"} and not local.missing
        for name, url in local.urls.items():
            spec = local.destinations[name].build_request(item)
            target = spec.path if spec.path.startswith("http") else url + spec.path
            answer = http.request(
                spec.method, target, json=spec.json, content=spec.content,
                headers={**spec.headers, "Idempotency-Key": item.event_id},
            )
            assert answer.status_code in (200, 201), (name, answer.text)
        state = http.get(f"{local.urls['register']}/credentials/{item.credential_id}").json()
        assert state["status"] == "active"
        # the wallet host verified the VC-JWT and read its status list from the status
        # server (another process with separate_process) through the status URL it carries
        held = http.get(
            f"{local.urls['wallet']}/v1/credentials",
            headers={"Authorization": f"Bearer {DEV_WALLET_TOKEN}"},
        ).json()
        assert [(h["status"], h["code"]) for h in held] == [("active", "ok")]
        deposited = http.get(f"{local.urls['edc']}/v1/wallets/demo/credentials").json()
        assert len(deposited) == 1
    with pytest.raises(httpx.TransportError):
        httpx.get(local.urls["register"] + "/healthz", timeout=2)
