"""Register a fingerprinted model from its directory and fingerprint file (`oml model register`, the demo),
and the owner's later changes (`oml model set-price|set-terms|set-signer|set-recipient`).

The weights hash is `fingerprinting.models.weights_hash` of the model
directory; the root and count come from `commitment.commit_fingerprints`, the
same function the prover uses to build its proofs. The contract's bounds
(contracts/README.md: notice period 1 h..30 d, unbonding delay 1 d..365 d,
prover share ≤ 50 %, a slash of the minimum stake ≥ 1 wei) are checked here
first, so a bad value is one clear line before any transaction or hashing.
Price and stake-term changes are scheduled `noticePeriod` ahead on chain;
a permission-signer rotation is immediate and retires the old signer.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from .commitment import commit_fingerprints
from .errors import ConfigError
from .roles import OwnerClient
from .types import ModelParams, StakeTerms

HOUR, DAY = 3_600, 86_400
MIN_NOTICE_PERIOD, MAX_NOTICE_PERIOD = HOUR, 30 * DAY
MIN_UNBONDING_DELAY, MAX_UNBONDING_DELAY = DAY, 365 * DAY  # MIN = REVEAL_WINDOW
MAX_PROVER_SHARE_BPS = 5_000
_UNITS = {"s": 1, "m": 60, "h": HOUR, "d": DAY, "w": 7 * DAY}


def parse_duration(value: str | int, name: str) -> int:
    """'3600', '90m', '1h', '2d', '1d12h' → seconds (ConfigError naming `name` otherwise)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ConfigError(f"{name} must be a duration ≥ 0, got {value}")
        return value
    v = str(value).strip().lower().replace(" ", "")
    if v.isdigit():
        return int(v)
    parts = re.findall(r"(\d+)([smhdw])", v)
    if not parts or "".join(n + u for n, u in parts) != v:
        raise ConfigError(f"{name} must be a duration such as 3600 (seconds), 90m, 1h, 2d or 1d12h, got {value!r}")
    return sum(int(n) * _UNITS[u] for n, u in parts)


def format_duration(seconds: int, units: int = 2) -> str:
    """The `units` largest non-zero units: 3600 → '1h', 7530 → '2h 5m', 90061 → '1d 1h', 0 → '0s'."""
    seconds = int(seconds)
    if seconds <= 0:
        return "0s"
    out = []
    for unit, size in (("d", DAY), ("h", HOUR), ("m", 60), ("s", 1)):
        if seconds >= size and len(out) < units:
            out.append(f"{seconds // size}{unit}")
        elif out:
            units = len(out)  # units are consecutive: 1d 0h 5m shows as 1d
        seconds %= size
    return " ".join(out)


def format_time(ts: int, now: int | None = None) -> str:
    """'2026-01-02 03:04:05 UTC', with ' (in 2h 5m)' / ' (3m ago)' relative to `now` (chain time) when given."""
    text = datetime.fromtimestamp(int(ts), timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    if now is None:
        return text
    delta = int(ts) - int(now)
    return f"{text} (in {format_duration(delta)})" if delta > 0 else f"{text} ({format_duration(-delta)} ago)"


def check_stake_terms(terms: StakeTerms) -> StakeTerms:
    """The contract's checks of stake terms (registration and `setStakeTerms`), as one-line ConfigErrors."""
    if not 1 <= terms.slash_bps <= 10_000:
        raise ConfigError(f"slash bps must be in 1..10000 (0.01%..100% of the stake), got {terms.slash_bps}")
    if not 0 <= terms.prover_share_bps <= MAX_PROVER_SHARE_BPS:
        raise ConfigError(f"prover share bps must be in 0..{MAX_PROVER_SHARE_BPS} (at most half of a slash, so "
                          f"self-reporting never pays), got {terms.prover_share_bps}")
    if not MIN_UNBONDING_DELAY <= terms.unbonding_delay <= MAX_UNBONDING_DELAY:
        raise ConfigError(f"unbonding delay must be between 1d and 365d ({MIN_UNBONDING_DELAY}..{MAX_UNBONDING_DELAY} "
                          f"seconds; at least the 1-day reveal window), got {format_duration(terms.unbonding_delay)} "
                          f"({terms.unbonding_delay} s)")
    if terms.min_host_stake <= 0:
        raise ConfigError("min host stake must be positive, or hosts have nothing to lose")
    if terms.min_host_stake * terms.slash_bps // 10_000 < 1:
        raise ConfigError(f"a slash of {terms.slash_bps} bps of the minimum stake {terms.min_host_stake} wei rounds "
                          "to zero; raise the minimum stake")
    return terms


def check_notice_period(seconds: int) -> int:
    if not MIN_NOTICE_PERIOD <= seconds <= MAX_NOTICE_PERIOD:
        raise ConfigError(f"notice period must be between 1h and 30d ({MIN_NOTICE_PERIOD}..{MAX_NOTICE_PERIOD} "
                          f"seconds), got {format_duration(seconds)} ({seconds} s)")
    return seconds


@dataclass
class RegistrationOptions:
    """The owner's choices (defaults are sensible for a local chain)."""

    price_per_query: int = 10**12  # wei per query (0.000001 ETH)
    permission_signer: str | None = None  # default: the owner's own address
    min_host_stake: int = 10**18  # wei (1 ETH)
    slash_bps: int = 5_000  # 50 % of the stake per proven misuse
    prover_share_bps: int = 2_000  # 20 % of the slashed amount goes to the prover (at most 5000)
    unbonding_delay: int = DAY  # seconds, in [1 day, 365 days]
    revenue_recipient: str | None = None  # default: the owner
    metadata_uri: str = ""
    notice_period: int = HOUR  # seconds a price or stake-terms change is announced ahead, in [1 h, 30 days]

    def __post_init__(self) -> None:
        """The contract's bounds, checked before anything is hashed or sent (one-line ConfigError)."""
        if self.price_per_query < 0:
            raise ConfigError(f"price per query must be ≥ 0 wei, got {self.price_per_query}")
        check_notice_period(self.notice_period)
        check_stake_terms(StakeTerms(self.min_host_stake, self.slash_bps, self.prover_share_bps,
                                     self.unbonding_delay))


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
        revenue_recipient=opts.revenue_recipient or owner, notice_period=opts.notice_period)


def register_model(owner: OwnerClient, model_dir: str | Path, fingerprint_file: str | Path,
                   opts: RegistrationOptions | None = None, out: str | Path | None = None) -> Registration:
    """Register on chain and write the registration JSON (default: `registration-<chain>-<id>.json`
    beside the model directory)."""
    opts = opts or RegistrationOptions()
    params = model_params(model_dir, fingerprint_file, owner.account, opts)
    tx = owner.transact("registerModel", params.to_abi())
    model_id = int(tx.event("ModelRegistered").args["modelId"])
    return write_registration(model_id, owner.chain_id, owner.address, owner.account, params, model_dir,
                              fingerprint_file, tx.block_number, out)


def write_registration(model_id: int, chain_id: int, oml: str, owner: str, params: ModelParams,
                       model_dir: str | Path, fingerprint_file: str | Path, block: int | None = None,
                       out: str | Path | None = None) -> Registration:
    """Write the registration JSON of a registered model (default: `registration-<chain>-<id>.json` beside the
    model directory); `oml model register` and `oml dao create` both write one."""
    reg = Registration(
        model_id=model_id, chain_id=chain_id, oml=oml, owner=owner,
        weights_hash="0x" + params.weights_hash.hex(), fingerprint_root="0x" + params.fingerprint_root.hex(),
        fingerprint_count=params.fingerprint_count, model_dir=str(Path(model_dir).resolve()),
        fingerprint_file=str(Path(fingerprint_file).resolve()),
        params={k: ("0x" + v.hex() if isinstance(v, bytes) else v) for k, v in asdict(params).items()},
        tx_block=block)
    path = Path(out) if out else Path(model_dir).resolve().parent / f"registration-{reg.chain_id}-{model_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(reg.to_json() + "\n")
    return reg


# --- owner changes after registration ---------------------------------------------------------------


@dataclass(frozen=True)
class ScheduledChange:
    """A change the contract announced: `new` takes effect at `effective_at` (chain time), `old` is in force now."""

    model_id: int
    what: str  # "price" | "stake terms"
    old: int | StakeTerms
    new: int | StakeTerms
    effective_at: int
    notice_period: int
    tx_hash: str
    block: int


def schedule_price(owner: OwnerClient, model_id: int, price_per_query: int) -> ScheduledChange:
    """Announce a new price per query; it takes effect after the model's notice period (PriceChangeScheduled)."""
    if price_per_query < 0 or price_per_query >= 1 << 128:
        raise ConfigError(f"price per query must be in [0, 2**128) wei, got {price_per_query}")
    model = owner.get_model(model_id)
    tx = owner.set_price(model_id, price_per_query)
    a = tx.event("PriceChangeScheduled").args
    return ScheduledChange(model_id, "price", int(a["oldPrice"]), int(a["newPrice"]), int(a["effectiveAt"]),
                           model.notice_period, tx.tx_hash, tx.block_number)


def schedule_stake_terms(owner: OwnerClient, model_id: int, min_host_stake: int | None = None,
                         slash_bps: int | None = None, prover_share_bps: int | None = None,
                         unbonding_delay: int | None = None) -> ScheduledChange:
    """Announce new stake terms; a value left None keeps the latest announced one (the pending change if there
    is one, else the terms in force). Takes effect after the model's notice period."""
    model = owner.get_model(model_id)
    pending = owner.pending_stake_terms(model_id)
    base = pending.value if pending is not None else model.stake_terms
    changes = {k: v for k, v in dict(min_host_stake=min_host_stake, slash_bps=slash_bps,
                                      prover_share_bps=prover_share_bps, unbonding_delay=unbonding_delay).items()
               if v is not None}
    if not changes:
        raise ConfigError("give at least one of --min-stake, --slash-bps, --prover-share-bps, --unbonding-delay")
    terms = check_stake_terms(replace(base, **changes))
    tx = owner.set_stake_terms(model_id, terms)
    a = tx.event("StakeTermsChangeScheduled").args
    return ScheduledChange(model_id, "stake terms", model.stake_terms, terms, int(a["effectiveAt"]),
                           model.notice_period, tx.tx_hash, tx.block_number)


@dataclass(frozen=True)
class SignerRotation:
    """The permission signer changed now; `old` is retired at `retired_at`, and permissions it issued shield hosts
    only if recorded (receipts) before `grace_ends` = retired_at + notice period."""

    model_id: int
    old: str
    new: str
    retired_at: int
    grace_ends: int
    notice_period: int
    tx_hash: str


def rotate_permission_signer(owner: OwnerClient, model_id: int, new_signer: str) -> SignerRotation:
    """Make `new_signer` the permission signer now; the old one is retired (and can never be used again)."""
    from eth_utils import is_address, to_checksum_address

    if not isinstance(new_signer, str) or not is_address(new_signer):
        raise ConfigError(f"the new permission signer must be a 0x-address, got {new_signer!r}")
    new_signer = to_checksum_address(new_signer)
    model = owner.get_model(model_id)
    if new_signer == model.permission_signer:
        raise ConfigError(f"{new_signer} is already the permission signer of model {model_id}; pass a fresh key's "
                          "address")
    tx = owner.set_permission_signer(model_id, new_signer)
    retired_at = owner.permission_signer_retired_at(model_id, model.permission_signer)
    return SignerRotation(model_id, model.permission_signer, new_signer, retired_at,
                          retired_at + model.notice_period, model.notice_period, tx.tx_hash)


def set_revenue_recipient(owner: OwnerClient, model_id: int, recipient: str) -> tuple[str, str]:
    """Point the model's revenue at `recipient` now; returns (old, new)."""
    from eth_utils import is_address, to_checksum_address

    if not isinstance(recipient, str) or not is_address(recipient) or int(recipient, 16) == 0:
        raise ConfigError(f"the revenue recipient must be a non-zero 0x-address, got {recipient!r}")
    a = owner.set_revenue_recipient(model_id, to_checksum_address(recipient)).event("RevenueRecipientUpdated").args
    return to_checksum_address(a["oldRecipient"]), to_checksum_address(a["newRecipient"])

