"""Deploy OML with plain web3 and record it in a deployments JSON
`{chainId: {"OML": address, "block": n, "CommunityFactory": address}}` (readers of OML alone are unaffected by the
extra key; an entry written before community ownership simply has no "CommunityFactory")."""

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


def deploy_oml(w3: Web3, deployer: Signer | str | bytes, deployments: str | Path | None = None,
               community: bool = True) -> str:
    """Deploy OML and (unless `community` is False) the CommunityFactory with its four deployers; when
    `deployments` is given, record them there. Returns the OML address."""
    address, block = deploy_contract(w3, deployer, load_artifact("OML"))
    extra = {}
    if community:
        from .dao import FACTORY, deploy_community_factory

        extra[FACTORY] = deploy_community_factory(w3, deployer, address)
    if deployments is not None:
        write_deployment(deployments, w3.eth.chain_id, address, block, extra=extra)
    return address


def write_deployment(path: str | Path, chain_id: int, address: str, block: int, name: str = "OML",
                     extra: dict[str, str] | None = None) -> None:
    """Set `{chainId: {name: address, "block": block, **extra}}` in the JSON at `path` (atomic replace; other
    chains' entries are kept, this chain's is replaced: a new OML makes its old factory meaningless)."""
    entry = {name: to_checksum_address(address), "block": int(block)}
    entry.update({k: to_checksum_address(v) for k, v in (extra or {}).items()})
    _update(path, lambda data: data.__setitem__(str(chain_id), entry))


def record_contract(path: str | Path, chain_id: int, name: str, address: str) -> None:
    """Add `name: address` to this chain's existing entry (e.g. a CommunityFactory deployed later for an OML
    deployed before community ownership)."""
    def add(data: dict) -> None:
        if str(chain_id) not in data:
            raise DeploymentNotFound(f"{path} records no OML on chain {chain_id}; deploy it first (`oml deploy`)")
        data[str(chain_id)][name] = to_checksum_address(address)
    _update(path, add)


def _update(path: str | Path, change) -> None:
    path = Path(path)
    data = json.loads(path.read_text()) if path.is_file() else {}
    change(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


def load_deployment_block(chain_id: int, path: str | Path | None = None) -> int:
    """The block OML was deployed in on `chain_id` (0 when not recorded): where event scans start."""
    path = Path(path or DEFAULT_DEPLOYMENTS)
    try:
        return int(json.loads(path.read_text()).get(str(chain_id), {}).get("block", 0))
    except (OSError, ValueError, TypeError, AttributeError):
        return 0


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
    if entry and name not in entry and name != "OML" and "OML" in entry:
        raise DeploymentNotFound(f"{path} records OML but no {name} on chain {chain_id} (deployed before community "
                                 "ownership); deploy one for it with `oml dao deploy-factory`, or redeploy with "
                                 "`oml deploy`")
    if not entry or name not in entry:
        raise DeploymentNotFound(f"{path} records no {name} on chain {chain_id}; deploy to this chain first "
                                 "(`oml deploy`), or pass the deployments file of this chain with --deployments")
    return to_checksum_address(entry[name])
