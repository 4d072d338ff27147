"""A small OML world on a real anvil for the chain tests: actors, one registered model, fingerprints."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from web3 import Web3

from oml_chain.chain.eip712 import Signer, text_hash
from oml_chain.chain.merkle import FingerprintLeaf, FingerprintTree
from oml_chain.chain.roles import HostClient, OwnerClient, PermissionSignerClient, ProverClient, build_evidence
from oml_chain.chain.types import ModelParams, SlashEvidence

ETH = 10**18
PRICE = 10**12
MIN_STAKE = 1 * ETH
SLASH_BPS = 5_000
PROVER_BPS = 2_000
DELAY = 86_400  # the contract requires unbonding delay ≥ 1 day (REVEAL_WINDOW)
NOTICE = 3_600  # the model's notice period for price and stake-term changes


@dataclass
class Fingerprint:
    leaf: FingerprintLeaf
    key: str
    response: str


@dataclass
class World:
    w3: Web3
    address: str
    abi: list
    owner: OwnerClient
    host: HostClient
    host2: HostClient
    signer: PermissionSignerClient
    prover: ProverClient
    other: ProverClient
    recipient: OwnerClient
    fingerprints: list[Fingerprint]
    tree: FingerprintTree
    model_id: int = 0
    params: ModelParams | None = None
    extra: dict = field(default_factory=dict)

    def make_params(self, **over) -> ModelParams:
        base = dict(weights_hash=b"\x11" * 32, metadata_uri="ipfs://model-card", fingerprint_root=self.tree.root,
                    fingerprint_count=len(self.fingerprints), price_per_query=PRICE,
                    permission_signer=self.signer.account, min_host_stake=MIN_STAKE, slash_bps=SLASH_BPS,
                    prover_share_bps=PROVER_BPS, unbonding_delay=DELAY, revenue_recipient=self.recipient.account,
                    notice_period=NOTICE)
        base.update(over)
        return ModelParams(**base)

    def evidence(self, index: int = 0, response: str | None = None, seq: int = 1, permission: bytes | None = None,
                 attest_with: Signer | None = None, model_id: int | None = None,
                 host: HostClient | None = None) -> SlashEvidence:
        """Evidence that `host` served fingerprint `index` (attested, with `permission` or none)."""
        host = host or self.host
        model_id = self.model_id if model_id is None else model_id
        fp = self.fingerprints[index]
        response = fp.response + " and more text" if response is None else response
        if attest_with is None:
            att = host.attest(model_id, fp.key, response, permission, seq)
        else:
            from oml_chain.chain.eip712 import permission_hash
            att = attest_with.sign_attestation(host.domain, model_id, host.account, text_hash(fp.key),
                                               text_hash(response), permission_hash(permission), seq)
        return build_evidence(model_id, host.account, fp.leaf, self.tree, fp.response, response, seq,
                              permission, att)

    def mine(self, seconds: int = 0, blocks: int = 1) -> None:
        if seconds:
            self.w3.provider.make_request("evm_increaseTime", [seconds])
        self.w3.provider.make_request("anvil_mine", [blocks])

    def now(self) -> int:
        return self.w3.eth.get_block("latest")["timestamp"]


def make_fingerprints(n: int = 8, seed: int = 1) -> list[Fingerprint]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        key, resp = f"fingerprint key number {i}", f"answer{i}"
        out.append(Fingerprint(FingerprintLeaf(i, rng.randbytes(32), text_hash(key), text_hash(resp)), key, resp))
    return out


def make_world(w3: Web3, address: str, abi: list, keys: list[str], register: bool = True) -> World:
    fps = make_fingerprints()
    kw = dict(abi=abi)
    world = World(
        w3=w3, address=address, abi=abi,
        owner=OwnerClient(w3, address, keys[0], **kw),
        host=HostClient(w3, address, keys[1], attestation_key=Signer(b"\x42" * 32), **kw),
        host2=HostClient(w3, address, keys[5], **kw),
        signer=PermissionSignerClient(w3, address, keys[2], **kw),
        prover=ProverClient(w3, address, keys[3], **kw),
        other=ProverClient(w3, address, keys[4], **kw),
        recipient=OwnerClient(w3, address, keys[6], **kw),
        fingerprints=fps, tree=FingerprintTree(f.leaf for f in fps))
    if register:
        world.params = world.make_params()
        world.model_id = world.owner.register_model(world.params)
    return world


# --- appended for the v2 prover / CLI tests -----------------------------------------------------------------


def save_fingerprints(path, fingerprints: list[Fingerprint]):
    """Write `fingerprints` (indices 0..n-1, in order) as an oml-fingerprints file, so `commit_fingerprints` (the
    prover's and `oml model register`'s reader) rebuilds exactly their leaves and tree."""
    from fingerprinting.fpfile import Fingerprint as FileRecord
    from fingerprinting.fpfile import FingerprintHeader, write_fingerprint_file

    strategy = {"name": "test", "params": {}}
    records = [FileRecord(fp.leaf.index, fp.key, fp.response, "0x" + fp.leaf.salt.hex(), "test", "test")
               for fp in fingerprints]
    return write_fingerprint_file(path, FingerprintHeader(n=len(records), seed=0, key_strategy=strategy,
                                                          response_strategy=strategy), records)
