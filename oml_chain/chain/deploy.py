"""Deploy OML with plain web3 and record it in a deployments JSON `{chainId: {"OML": address, "block": n}}`."""

from __future__ import annotations

import json
import os
from pathlib import Path

from eth_account import Account
from eth_utils import to_checksum_address
from web3 import Web3

from .artifacts import REPO_ROOT, Artifact, load_artifact
from .eip712 import Signer
from .errors import ConfigError, DeploymentNotFound, TransactionFailed

DEFAULT_DEPLOYMENTS = REPO_ROOT / "deployments.json"


def deploy_contract(w3: Web3, deployer: Signer | str | bytes, artifact: Artifact, *ctor_args) -> tuple[str, int]:
    """Deploy `artifact` from `deployer`; returns (address, block number)."""
    signer = deployer if isinstance(deployer, Signer) else Signer(deployer)
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    tx = factory.constructor(*ctor_args).build_transaction({
        "from": signer.address, "nonce": w3.eth.get_transaction_count(signer.address, "pending"),
        "chainId": w3.eth.chain_id})
    raw = Account.from_key(signer.private_key).sign_transaction(tx).raw_transaction
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(raw), timeout=120, poll_latency=0.01)
    if receipt["status"] != 1 or not receipt.get("contractAddress"):
        raise TransactionFailed(f"deploying {artifact.name} failed (gas used {receipt['gasUsed']})")
    return to_checksum_address(receipt["contractAddress"]), receipt["blockNumber"]


def deploy_oml(w3: Web3, deployer: Signer | str | bytes, deployments: str | Path | None = None) -> str:
    """Deploy OML; when `deployments` is given, record it there. Returns the address."""
    address, block = deploy_contract(w3, deployer, load_artifact("OML"))
    if deployments is not None:
        write_deployment(deployments, w3.eth.chain_id, address, block)
    return address


def write_deployment(path: str | Path, chain_id: int, address: str, block: int, name: str = "OML") -> None:
    """Merge `{chainId: {name: address, "block": block}}` into the JSON at `path` (atomic replace)."""
    path = Path(path)
    data = json.loads(path.read_text()) if path.is_file() else {}
    data[str(chain_id)] = {name: to_checksum_address(address), "block": int(block)}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


def load_deployment(chain_id: int, path: str | Path | None = None, name: str = "OML") -> str:
    """The address of `name` on `chain_id` recorded in the deployments JSON."""
    path = Path(path or DEFAULT_DEPLOYMENTS)
    if not path.is_file():
        raise DeploymentNotFound(f"no deployments file at {path}; deploy first (`oml deploy`, or `make deploy` / "
                                 "`ape run deploy`), or pass its path with --deployments")
    try:
        entry = json.loads(path.read_text()).get(str(chain_id))
    except ValueError as exc:
        raise ConfigError(f"{path} is not valid JSON ({exc}); fix or delete it and deploy again") from exc
    if not entry or name not in entry:
        raise DeploymentNotFound(f"{path} records no {name} on chain {chain_id}; deploy to this chain first "
                                 "(`oml deploy`), or pass the deployments file of this chain with --deployments")
    return to_checksum_address(entry[name])
