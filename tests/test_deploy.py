"""Deployment: plain web3 deploy + deployments JSON, and the README's deploy commands (`make deploy`,
`.venv/bin/ape run deploy`; ape's own anvil and an external one) run as written from a plain shell."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from oml_chain.chain.anvil import DEV_KEYS, start_anvil
from oml_chain.chain.client import OMLContract
from oml_chain.chain.deploy import deploy_oml, load_deployment, write_deployment
from oml_chain.chain.errors import DeploymentNotFound

pytestmark = pytest.mark.chain

REPO = Path(__file__).resolve().parent.parent


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
    with pytest.raises(DeploymentNotFound, match=r"deploy first \(`oml deploy`") as e:
        load_deployment(1, tmp_path / "missing.json")
    assert "oml chain deploy" not in str(e.value)  # no such command
    with pytest.raises(DeploymentNotFound, match=r"`oml deploy`"):
        load_deployment(1, path)


def _readme_deploy_commands() -> list[str]:
    """The deploy commands of the README's "Deploying to another network" block, as written."""
    text = (REPO / "README.md").read_text()
    block = text.split("## Deploying to another network", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    lines = [line.split("#", 1)[0].strip() for line in block.splitlines()]
    return [line for line in lines if line.startswith(("make deploy", ".venv/bin/ape run deploy"))]


def _plain_env(tmp_path) -> dict:
    """A plain shell's environment: no node_modules/.bin or .venv/bin on PATH, none of our variables."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": os.environ.get("HOME", str(tmp_path)),
            "LANG": "C.UTF-8"}


def _run_as_written(command: str, out: Path, tmp_path) -> subprocess.CompletedProcess:
    """`command` from the README, from the repository root in a plain environment; only the deployments file
    moves to `out` (and `make` skips `setup`: it would re-install the shared virtual environment)."""
    args = command.split()
    if args[0] == "make":
        args = ["make", "-o", "setup", *args[1:], f"DEPLOY_ARGS=--deployments {out}"]
    else:
        args += ["--deployments", str(out)]
    return subprocess.run(args, cwd=REPO, env=_plain_env(tmp_path), capture_output=True, text=True, timeout=240)


def test_readme_documents_make_deploy_and_ape():
    commands = _readme_deploy_commands()
    assert "make deploy" in commands and ".venv/bin/ape run deploy" in commands
    assert any(c.startswith("make deploy NETWORK=") for c in commands)
    assert any(c.startswith(".venv/bin/ape run deploy --network") for c in commands)


@pytest.mark.parametrize("command", _readme_deploy_commands())
def test_readme_deploy_command_works_from_a_plain_shell(command, tmp_path):
    from web3 import Web3

    out = tmp_path / "dep.json"
    if "http://127.0.0.1:8545" in command:  # "an anvil you run": ours, on a free port
        with start_anvil() as node:
            proc = _run_as_written(command.replace("http://127.0.0.1:8545", node.url), out, tmp_path)
            assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
            address = json.loads(out.read_text())[str(node.chain_id)]["OML"]
            w3 = Web3(Web3.HTTPProvider(node.url))
            assert w3.eth.get_code(address) != b""
            assert OMLContract(w3, address).call("REVEAL_WINDOW") == 86_400
    else:  # ape starts (and stops) the project's anvil itself
        proc = _run_as_written(command, out, tmp_path)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        data = json.loads(out.read_text())
        assert data["31337"]["OML"].startswith("0x") and data["31337"]["block"] >= 1
    assert "Traceback" not in proc.stdout + proc.stderr
