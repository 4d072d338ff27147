"""A chain-only demo world for the explorer (no ML model): a few seconds of real OML activity on an anvil.

    node = start_anvil(); w3 = Web3(Web3.HTTPProvider(node.url))
    world = build_world(w3, deployments="deployments.json")

What it makes (`DemoWorld` records the ids and addresses):
- OML and the CommunityFactory (deployer: dev key 9), recorded in `deployments` when given;
- model 1 "alpha" (owner: dev key 0, revenue to dev key 6), model 2 "beta" (owner: dev key 6), and model 3
  "gamma", owned by a community of dev keys 0, 7 and 8 (50 / 30 / 20 shares);
- three hosts (dev keys 1, 4, 5) staked on two models each, each with 1 ETH of fee escrow per model; host 1
  signs attestations with a separate key and rotates it later; host 2 moves its endpoint;
- twelve settlement rounds, RoundStep apart in chain time (evm_increaseTime), vouchers for what the permission
  service signed (the permissions are really signed by the model's permission signer, dev key 2; host 1
  records its receipts on chain);
- a price change with notice on model 1, new stake terms announced on model 2;
- a community proposal (set gamma's price) voted 80 : 20, queued and executed through the timelock, and a
  second one voted down; a share transfer; the vault pulls revenue twice, two holders claim;
- two real slashes (commit, then reveal with the fingerprint's Merkle proof and the host's own attestation):
  host 3 on alpha (prover: dev key 3) and host 3 on gamma (prover: a fresh funded key), each burning the
  fingerprint for that host; the prover withdraws its reward; alpha's recipient withdraws revenue.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from eth_account import Account
from web3 import Web3

from ..chain.anvil import DEV_KEYS
from ..chain.dao import CommunityClient, Community, DaoParams, community_abis
from ..chain.deploy import deploy_contract, write_deployment
from ..chain.eip712 import Signer, text_hash
from ..chain.merkle import FingerprintLeaf, FingerprintTree, ReceiptTree
from ..chain.roles import HostClient, OwnerClient, PermissionSignerClient, ProverClient, build_evidence
from ..chain.types import ModelParams, StakeTerms

ETH = 10**18
GWEI = 10**9
DAY = 86_400
HOUR = 3_600
ROUNDS = 12
ROUND_STEP = 4 * HOUR  # chain time between settlement rounds
FINGERPRINTS = 8

# (name, price per query, min stake, slash bps, prover share bps)
MODELS = {
    "alpha": (10_000 * GWEI, 1 * ETH, 5_000, 2_000),
    "beta": (5_000 * GWEI, ETH // 2, 3_000, 2_500),
    "gamma": (20_000 * GWEI, 1 * ETH, 4_000, 3_000),
}


@dataclass(frozen=True)
class Fingerprint:
    leaf: FingerprintLeaf
    key: str
    response: str


@dataclass(frozen=True)
class Slash:
    model_id: int
    host: str
    index: int
    prover: str
    reveal_tx: str
    slashed: int
    reward: int


@dataclass
class DemoWorld:
    """What `build_world` made: enough for a reader to check every figure against the chain."""

    chain_id: int
    oml: str
    factory: str
    deploy_block: int
    models: dict[str, int]  # name → model id
    community: Community
    hosts: list[str]
    owners: dict[str, str]  # role → address
    holders: list[str]
    provers: list[str]
    slashes: list[Slash] = field(default_factory=list)
    proposals: dict[str, int] = field(default_factory=dict)  # "price" (executed), "deactivate" (defeated)
    settled: dict[tuple[int, str], int] = field(default_factory=dict)  # (model, host) → cumulative wei
    start_time: int = 0
    end_time: int = 0
    last_block: int = 0


def make_fingerprints(seed: int, n: int = FINGERPRINTS) -> list[Fingerprint]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        key, resp = f"demo fingerprint {seed}-{i}: what is the colour of the sky at {i} o'clock?", f"violet-{seed}-{i}"
        out.append(Fingerprint(FingerprintLeaf(i, rng.randbytes(32), text_hash(key), text_hash(resp)), key, resp))
    return out


class _Builder:
    def __init__(self, w3: Web3, abis: dict, oml: str, factory: str, say: Callable[[str], None]):
        self.w3, self.abis, self.oml, self.factory, self.say = w3, abis, oml, factory, say
        self.rng = random.Random(11)
        self.fps: dict[int, list[Fingerprint]] = {}
        self.trees: dict[int, FingerprintTree] = {}

    def mine(self, seconds: int = 0) -> None:
        if seconds:
            self.w3.provider.make_request("evm_increaseTime", [int(seconds)])
        self.w3.provider.make_request("evm_mine", [])

    def now(self) -> int:
        return self.w3.eth.get_block("latest")["timestamp"]

    def client(self, cls, key, **kw):
        return cls(self.w3, self.oml, key, abi=self.abis["OML"], **kw)

    def community_client(self, key) -> CommunityClient:
        return CommunityClient(self.w3, self.oml, self.factory, key, abis=self.abis)

    def params(self, name: str, signer: str, recipient: str, seed: int) -> ModelParams:
        price, min_stake, slash_bps, prover_bps = MODELS[name]
        fps = make_fingerprints(seed)
        tree = FingerprintTree(f.leaf for f in fps)
        self._pending = (fps, tree)
        return ModelParams(weights_hash=text_hash(f"weights of {name}"), metadata_uri=f"ipfs://oml-demo/{name}",
                           fingerprint_root=tree.root, fingerprint_count=len(fps), price_per_query=price,
                           permission_signer=signer, min_host_stake=min_stake, slash_bps=slash_bps,
                           prover_share_bps=prover_bps, unbonding_delay=DAY, revenue_recipient=recipient,
                           notice_period=HOUR)

    def remember(self, model_id: int) -> None:
        self.fps[model_id], self.trees[model_id] = self._pending


def build_world(w3: Web3, keys: list[str] | None = None, deployments: str | Path | None = None,
                say: Callable[[str], None] = lambda msg: None) -> DemoWorld:
    """Deploy and play the demo world on the chain behind `w3` (a fresh anvil: dev keys funded)."""
    from ..chain.artifacts import compile_contracts
    from ..chain.dao import deploy_community_factory

    keys = list(keys or DEV_KEYS)
    arts = compile_contracts()
    abis = community_abis(arts)
    chain_id = w3.eth.chain_id
    say("deploying OML and the CommunityFactory")
    oml, deploy_block = deploy_contract(w3, keys[9], arts["OML"])
    factory = deploy_community_factory(w3, keys[9], oml)
    if deployments is not None:
        write_deployment(deployments, chain_id, oml, deploy_block, extra={"CommunityFactory": factory})
    b = _Builder(w3, abis, oml, factory, say)
    start = b.now()

    owner = b.client(OwnerClient, keys[0])
    owner2 = b.client(OwnerClient, keys[6])
    signer = b.client(PermissionSignerClient, keys[2])
    prover = b.client(ProverClient, keys[3])
    prover2_key = "0x" + text_hash("oml explorer demo prover 2").hex()
    w3.provider.make_request("anvil_setBalance", [Account.from_key(prover2_key).address, hex(10 * ETH)])
    prover2 = b.client(ProverClient, prover2_key)
    h1 = b.client(HostClient, keys[1], attestation_key=Signer(text_hash("host 1 attestation key 1")))
    h2 = b.client(HostClient, keys[4])
    h3 = b.client(HostClient, keys[5])
    creator, holder_b, holder_c = (b.community_client(keys[i]) for i in (0, 7, 8))

    say("registering models alpha, beta and the community model gamma")
    alpha = owner.register_model(b.params("alpha", signer.account, owner2.account, seed=1))
    b.remember(alpha)
    beta = owner2.register_model(b.params("beta", signer.account, owner2.account, seed=2))
    b.remember(beta)
    holders = [creator.account, holder_b.account, holder_c.account]
    dao = DaoParams(name="Gamma shares", symbol="GAMMA", holders=tuple(holders),
                    amounts=(50 * ETH, 30 * ETH, 20 * ETH), voting_delay=1, voting_period=HOUR,
                    proposal_threshold=0, quorum_percent=10, timelock_delay=DAY)
    community = creator.create(b.params("gamma", signer.account, owner2.account, seed=3), dao)
    gamma = community.model_id
    b.remember(gamma)
    for x in (holder_b, holder_c):
        x.bind(community)
        x.delegate()

    say("staking hosts and depositing escrow")
    stakes = [(h1, alpha, 2 * ETH, "https://h1.oml.example/alpha"),
              (h1, gamma, 1 * ETH, "https://h1.oml.example/gamma"),
              (h2, alpha, 3 * ETH // 2, "https://h2.oml.example"), (h2, beta, 1 * ETH, "https://h2.oml.example"),
              (h3, alpha, 1 * ETH, "https://h3.oml.example"), (h3, gamma, 2 * ETH, "https://h3.oml.example")]
    for host, model, amount, endpoint in stakes:
        host.stake(model, amount, endpoint)
        host.deposit_escrow(model, 1 * ETH)

    # Permissions really signed for the queries h1 served on alpha; their receipts go on chain later.
    receipts: list[tuple[bytes, int]] = []
    settled = {(m, h.account): 0 for h, m, _, _ in stakes}
    counts = {(m, h.account): 0 for h, m, _, _ in stakes}
    price_proposal = deactivate_proposal = 0
    slashes: list[Slash] = []

    def settle_round(r: int) -> None:
        for host, model, _, _ in stakes:
            n = b.rng.randint(20, 80) + 8 * r
            price = host.price_at(model, b.now() + 1)
            k = (model, host.account)
            if host is h1 and model == alpha:
                for i in range(min(n, 4)):  # a few real permissions (signed per query, seq = running count)
                    q = text_hash(f"query {counts[k] + i}")
                    signer.sign_permission(model, host.account, q, counts[k] + i)
                    receipts.append((q, counts[k] + i))
            counts[k] += n
            settled[k] += n * price
            signer.settle(model, host.account, counts[k], settled[k],
                          host.sign_voucher(model, counts[k], settled[k]))

    def slash(p: ProverClient, host: HostClient, model: int, index: int) -> None:
        fp, tree = b.fps[model][index], b.trees[model]
        response = fp.response + " (served without a permission)"
        att = host.attest(model, fp.key, response, None, 900 + index)
        ev = build_evidence(model, host.account, fp.leaf, tree, fp.response, response, 900 + index, None, att)
        tx = p.prove(ev, timeout=30)
        e = tx.event("HostSlashed").args
        slashes.append(Slash(model, host.account, index, p.account, tx.tx_hash if tx.tx_hash.startswith("0x")
                             else "0x" + tx.tx_hash, int(e["slashed"]), int(e["reward"])))

    say(f"playing {ROUNDS} settlement rounds with a price change, governance, slashes and claims")
    for r in range(ROUNDS):
        b.mine(ROUND_STEP + b.rng.randint(0, 1800))
        settle_round(r)
        if r == 1:
            owner.set_price(alpha, 15_000 * GWEI)
            h2.set_endpoint(alpha, "https://h2-eu.oml.example")
        elif r == 2:
            price_proposal = creator.propose([creator.action_set_price(gamma, 25_000 * GWEI)]).proposal_id
            b.mine(2)
            creator.vote(price_proposal, "for")
            holder_b.vote(price_proposal, "for", reason="fair price for the hosts")
            holder_c.vote(price_proposal, "against")
            deactivate_proposal = creator.propose([creator.action_set_active(gamma, False)],
                                                  "Pause gamma for maintenance").proposal_id
            b.mine(2)
            creator.vote(deactivate_proposal, "against")
            holder_b.vote(deactivate_proposal, "against")
            holder_c.vote(deactivate_proposal, "for")
        elif r == 3:
            creator.queue(price_proposal)  # the voting period (1 h) ended during the round step
            h1.set_attestation_signer(alpha, Signer(text_hash("host 1 attestation key 2")).address)
            h1.attestation_signer = Signer(text_hash("host 1 attestation key 2"))
        elif r == 4:
            slash(prover, h3, alpha, 2)
            owner2.set_stake_terms(beta, StakeTerms(ETH // 2, 3_500, 2_500, DAY))
        elif r == 5:
            h1.record_permission_receipts(alpha, ReceiptTree(receipts).root)
            creator.pull(gamma)
        elif r == 6:
            holder_b.transfer_shares(holder_c.account, 5 * ETH)
            h2.request_escrow_withdrawal(beta, ETH // 10)
        elif r == 8:
            slash(prover2, h3, gamma, 5)
        elif r == 10:
            creator.execute(price_proposal)  # the timelock's day (six round steps) has passed
        elif r == 11:
            creator.pull(gamma)
            creator.claim()
            holder_b.claim()
            prover.withdraw_reward()
            owner2.withdraw_revenue(alpha)
    b.mine(60)
    end = b.now()
    say(f"world ready: {ROUNDS} rounds over {(end - start) / 3600:.1f} h of chain time, "
        f"{w3.eth.block_number} blocks")
    return DemoWorld(chain_id=chain_id, oml=oml, factory=factory, deploy_block=deploy_block,
                     models={"alpha": alpha, "beta": beta, "gamma": gamma}, community=community,
                     hosts=[h1.account, h2.account, h3.account],
                     owners={"alpha": owner.account, "beta": owner2.account, "gamma": community.timelock,
                             "permission_signer": signer.account, "alpha_recipient": owner2.account},
                     holders=holders, provers=[prover.account, prover2.account], slashes=slashes,
                     proposals={"price": price_proposal, "deactivate": deactivate_proposal}, settled=settled,
                     start_time=start, end_time=end, last_block=w3.eth.block_number)
