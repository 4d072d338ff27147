"""Deployment: plain web3 deploy + deployments JSON, and `ape run deploy` (own anvil and an external one)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from oml_chain.chain.anvil import DEV_KEYS, start_anvil
from oml_chain.chain.client import OMLContract
from oml_chain.chain.deploy import deploy_oml, load_deployment, write_deployment
from oml_chain.chain.errors import DeploymentNotFound

pytestmark = pytest.mark.chain

REPO = Path(__file__).resolve().parent.parent
APE = str(Path(sys.executable).parent / "ape")


def test_deploy_oml_records_and_loads(w3, tmp_path, chain_snapshot):
    path = tmp_path / "deployments.json"
    write_deployment(path, 5, "0x" + "ab" * 20, 3)  # another chain's entry survives
    address = deploy_oml(w3, DEV_KEYS[9], deployments=path)
    data = json.loads(path.read_text())
    assert data[str(w3.eth.chain_id)]["OML"] == address and data["5"]["block"] == 3
    assert load_deployment(w3.eth.chain_id, path) == address
    assert OMLContract(w3, address).model_count() == 0
    with pytest.raises(DeploymentNotFound, match="no OML on chain 1"):
        load_deployment(1, path)
    with pytest.raises(DeploymentNotFound, match="deploy first"):
        load_deployment(1, tmp_path / "missing.json")


def _ape(args, tmp_path):
    env = dict(os.environ, PATH=f"{REPO / 'node_modules' / '.bin'}:{Path(sys.executable).parent}:{os.environ['PATH']}")
    out = tmp_path / "dep.json"
    proc = subprocess.run([APE, "run", "deploy", "--deployments", str(out), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return json.loads(out.read_text())


def test_ape_run_deploy_local_provider(tmp_path):
    data = _ape([], tmp_path)
    assert data["31337"]["OML"].startswith("0x") and data["31337"]["block"] >= 1


def test_ape_run_deploy_external_anvil(tmp_path):
    from web3 import Web3

    with start_anvil() as node:
        data = _ape(["--network", f"ethereum:local:{node.url}"], tmp_path)
        w3 = Web3(Web3.HTTPProvider(node.url))
        address = data[str(node.chain_id)]["OML"]
        assert w3.eth.get_code(address) != b""
        assert OMLContract(w3, address).call("REVEAL_WINDOW") == 86_400
