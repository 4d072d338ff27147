"""Register a fingerprinted model from its directory and fingerprint file (`oml model register`, the demo).

The weights hash is `fingerprinting.models.weights_hash` of the model
directory; the root and count come from `commitment.commit_fingerprints`, the
same function the prover uses to build its proofs.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from .commitment import commit_fingerprints
from .errors import ConfigError
from .roles import OwnerClient
from .types import ModelParams


@dataclass
class RegistrationOptions:
    """The owner's choices (defaults are sensible for a local chain)."""

    price_per_query: int = 10**12  # wei per query (0.000001 ETH)
    permission_signer: str | None = None  # default: the owner's own address
    min_host_stake: int = 10**18  # wei (1 ETH)
    slash_bps: int = 5_000  # 50 % of the stake per proven misuse
    prover_share_bps: int = 2_000  # 20 % of the slashed amount goes to the prover
    unbonding_delay: int = 3_600  # seconds
    revenue_recipient: str | None = None  # default: the owner
    metadata_uri: str = ""


@dataclass
class Registration:
    model_id: int
    chain_id: int
    oml: str
    owner: str
    weights_hash: str
    fingerprint_root: str
    fingerprint_count: int
    model_dir: str
    fingerprint_file: str
    params: dict
    tx_block: int | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


def model_params(model_dir: str | Path, fingerprint_file: str | Path, owner: str,
                 opts: RegistrationOptions) -> ModelParams:
    """ModelParams for this model directory and fingerprint file (ModelLoadError when the directory holds no
    loadable model: config.json and weight files at its top, as hosts load it)."""
    from fingerprinting.models import check_model_dir, weights_hash

    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ConfigError(f"model directory {model_dir} does not exist; pass the fingerprinted model directory "
                          "(the `model/` written by `oml fingerprint embed`)")
    check_model_dir(model_dir)
    fps = commit_fingerprints(fingerprint_file)
    return ModelParams(
        weights_hash=bytes.fromhex(weights_hash(model_dir)[2:]),
        metadata_uri=opts.metadata_uri or f"oml://{model_dir.name}",
        fingerprint_root=fps.root, fingerprint_count=fps.count, price_per_query=opts.price_per_query,
        permission_signer=opts.permission_signer or owner, min_host_stake=opts.min_host_stake,
        slash_bps=opts.slash_bps, prover_share_bps=opts.prover_share_bps, unbonding_delay=opts.unbonding_delay,
        revenue_recipient=opts.revenue_recipient or owner)


def register_model(owner: OwnerClient, model_dir: str | Path, fingerprint_file: str | Path,
                   opts: RegistrationOptions | None = None, out: str | Path | None = None) -> Registration:
    """Register on chain and write the registration JSON (default: `registration-<chain>-<id>.json`
    beside the model directory)."""
    opts = opts or RegistrationOptions()
    params = model_params(model_dir, fingerprint_file, owner.account, opts)
    tx = owner.transact("registerModel", params.to_abi())
    model_id = int(tx.event("ModelRegistered").args["modelId"])
    reg = Registration(
        model_id=model_id, chain_id=owner.chain_id, oml=owner.address, owner=owner.account,
        weights_hash="0x" + params.weights_hash.hex(), fingerprint_root="0x" + params.fingerprint_root.hex(),
        fingerprint_count=params.fingerprint_count, model_dir=str(Path(model_dir).resolve()),
        fingerprint_file=str(Path(fingerprint_file).resolve()),
        params={k: ("0x" + v.hex() if isinstance(v, bytes) else v) for k, v in asdict(params).items()},
        tx_block=tx.block_number)
    path = Path(out) if out else Path(model_dir).resolve().parent / f"registration-{reg.chain_id}-{model_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(reg.to_json() + "\n")
    return reg
