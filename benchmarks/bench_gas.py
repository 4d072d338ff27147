"""Gas of whole OML transactions on a real anvil (Prague), plus the naive one-tx-per-query baseline.

Writes benchmarks/results/gas.json and prints a table. Run: `make bench-gas`.
"""

from __future__ import annotations

import json
import platform
import random
import sys
from pathlib import Path

from web3 import Web3

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from oml_chain.chain import artifacts  # noqa: E402
from oml_chain.chain.anvil import DEV_KEYS, start_anvil  # noqa: E402
from oml_chain.chain.client import OMLContract  # noqa: E402
from oml_chain.chain.deploy import deploy_contract  # noqa: E402
from oml_chain.chain.eip712 import Signer, text_hash  # noqa: E402
from oml_chain.chain.merkle import FingerprintLeaf, FingerprintTree  # noqa: E402
from oml_chain.chain.roles import HostClient, OwnerClient, PermissionSignerClient, ProverClient, build_evidence  # noqa: E402
from oml_chain.chain.types import ModelParams  # noqa: E402

TREE_SIZE = 4096
NAIVE_QUERIES = 20
TARGETS = {"reveal_gas": 130_000, "commit_gas": 50_000, "settle_gas_per_query_1000": 100}


def main(out: Path = ROOT / "benchmarks" / "results" / "gas.json") -> dict:
    arts = artifacts.compile_contracts()
    with start_anvil() as node:
        w3 = Web3(Web3.HTTPProvider(node.url))
        address, _ = deploy_contract(w3, DEV_KEYS[9], arts["OML"])
        abi = arts["OML"].abi
        owner = OwnerClient(w3, address, DEV_KEYS[0], abi=abi)
        host = HostClient(w3, address, DEV_KEYS[1], attestation_key=Signer(b"\x42" * 32), abi=abi)
        signer = PermissionSignerClient(w3, address, DEV_KEYS[2], abi=abi)
        prover = ProverClient(w3, address, DEV_KEYS[3], abi=abi)

        rng = random.Random(0)
        keys = [f"fingerprint key {i}" for i in range(TREE_SIZE)]
        resps = [f"answer{i}" for i in range(TREE_SIZE)]
        leaves = [FingerprintLeaf(i, rng.randbytes(32), text_hash(keys[i]), text_hash(resps[i]))
                  for i in range(TREE_SIZE)]
        tree = FingerprintTree(leaves)
        params = ModelParams(weights_hash=b"\x11" * 32, metadata_uri="ipfs://bench-model-card",
                             fingerprint_root=tree.root, fingerprint_count=TREE_SIZE, price_per_query=10**12,
                             permission_signer=signer.account, min_host_stake=10**18, slash_bps=5000,
                             prover_share_bps=2000, unbonding_delay=3600, revenue_recipient=owner.account)
        reg = owner.transact("registerModel", params.to_abi())
        mid = reg.event("ModelRegistered").args["modelId"]
        stake = host.stake(mid, 10**18, "https://host.example/v1")
        deposit = host.deposit_escrow(mid, 10**18)
        settle = {}
        settled = 0
        for n in (1, 100, 1000):  # each voucher covers n new queries
            settled += n
            settle[str(n)] = signer.settle(mid, host.account, settled, host.sign_voucher(mid, settled)).gas_used

        i = 1234
        ev = build_evidence(mid, host.account, leaves[i], tree, resps[i], resps[i] + " and more", seq=7,
                            permission=None, attestation=host.attest(mid, keys[i], resps[i] + " and more", None, 7))
        c = prover.commitment(ev)
        commit = prover.commit(c)
        reveal = prover.reveal(c, ev)
        assert reveal.event("HostSlashed")

        naive_addr, _ = deploy_contract(w3, DEV_KEYS[9], arts["NaivePermissions"])
        naive = OMLContract(w3, naive_addr, DEV_KEYS[1], abi=arts["NaivePermissions"].abi)
        OMLContract(w3, naive_addr, DEV_KEYS[0], abi=arts["NaivePermissions"].abi).transact("setPrice", 1, 10**12)
        naive_gas = [naive.transact("permit", 1, text_hash(f"query {q}"), value=10**12).gas_used
                     for q in range(NAIVE_QUERIES)]
        naive_per_query = sum(naive_gas) / len(naive_gas)
        client_version = w3.client_version
        chain_id = w3.eth.chain_id

    per_q = settle["1000"] / 1000
    result = {
        "register_gas": reg.gas_used, "stake_gas": stake.gas_used, "deposit_gas": deposit.gas_used,
        "settle_gas": settle, "commit_gas": commit.gas_used, "reveal_gas": reveal.gas_used,
        "reveal_tree_size": TREE_SIZE, "reveal_proof_depth": len(ev.merkle_proof),
        "settle_gas_per_query_1000": round(per_q, 2),
        "naive_permission_gas_per_query": round(naive_per_query, 1),
        "naive_over_settled_ratio": round(naive_per_query / per_q, 1),
        "targets": TARGETS,
        "targets_met": {"reveal_gas": reveal.gas_used <= TARGETS["reveal_gas"],
                        "commit_gas": commit.gas_used <= TARGETS["commit_gas"],
                        "settle_gas_per_query_1000": per_q <= TARGETS["settle_gas_per_query_1000"],
                        "naive_over_settled_ratio_500": naive_per_query / per_q >= 500},
        "notes": "gas_used of whole transactions (21k base + calldata + execution); settle vouchers are "
                 "cumulative and each covers the stated number of new queries; the naive baseline pays "
                 "one transaction per query (mean of %d)." % NAIVE_QUERIES,
        "config": {"chain": client_version, "chain_id": chain_id, "hardfork": "prague",
                   "solc": artifacts.SOLC_VERSION, "optimizer_runs": artifacts.OPTIMIZER_RUNS,
                   "evm_version": artifacts.EVM_VERSION, "python": platform.python_version()},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    rows = [("registerModel", reg.gas_used), ("stake", stake.gas_used), ("depositEscrow", deposit.gas_used)]
    rows += [(f"settle ({n} queries)", g) for n, g in settle.items()]
    rows += [("commit", commit.gas_used), (f"reveal (depth {len(ev.merkle_proof)})", reveal.gas_used),
             ("settle per query @1000", per_q), ("naive permit per query", naive_per_query)]
    print(f"{'transaction':<28}{'gas':>12}")
    for name, g in rows:
        print(f"{name:<28}{g:>12,.1f}" if isinstance(g, float) else f"{name:<28}{g:>12,}")
    print(f"naive / settled per query: {naive_per_query / per_q:,.0f}x; targets met: {result['targets_met']}")
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
