"""Typed domain values mirroring the structs of contracts/README.md.

Plain dataclasses; `from_abi` builds one from the named tuple web3 returns so a
change of field order in Solidity does not silently mis-assign values.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Mapping, NewType, Sequence

ModelId = NewType("ModelId", int)
Wei = NewType("Wei", int)
Address = NewType("Address", str)  # checksummed 0x… address
QueryHash = NewType("QueryHash", bytes)  # keccak256(utf8(query)), 32 bytes
ResponseHash = NewType("ResponseHash", bytes)
Bytes32 = NewType("Bytes32", bytes)
Signature = NewType("Signature", bytes)  # 65 bytes r‖s‖v, v in {27, 28}

ZERO_ADDRESS = Address("0x0000000000000000000000000000000000000000")
ZERO32 = Bytes32(b"\x00" * 32)


def _snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and not name[i - 1].isupper():
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _to_abi_value(value: Any) -> Any:
    if isinstance(value, AbiStruct):
        return value.to_abi()
    if isinstance(value, (list, tuple)):
        return [_to_abi_value(v) for v in value]
    return value


def check_uints(obj: Any, fields_: Sequence[tuple[str, int]]) -> None:
    """Each named field of `obj` is an int in [0, 2**bits) (a Solidity uint<bits>); ConfigError names the field."""
    from .errors import ConfigError

    for name, bits in fields_:
        v = getattr(obj, name)
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < 1 << bits:
            raise ConfigError(f"{type(obj).__name__}.{name} must be an integer in [0, 2**{bits}), got {v!r}")


class AbiStruct:
    """Mixin: convert between a dataclass and the Solidity struct (camelCase)."""

    @classmethod
    def from_abi(cls, value: Any, components: Sequence[Mapping[str, Any]] | None = None):
        """Build from a web3 result: a dict keyed by Solidity names, or a tuple with ABI components."""
        if isinstance(value, Mapping):
            data = {_snake(k): v for k, v in value.items()}
        elif components is not None:
            data = {_snake(c["name"]): v for c, v in zip(components, value)}
        else:
            data = dict(zip([f.name for f in fields(cls)], value))
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_abi(self) -> dict[str, Any]:
        """The struct as web3 expects it for a tuple argument (keyed by Solidity names)."""
        return {_camel(f.name): _to_abi_value(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True)
class ModelParams(AbiStruct):
    """What an owner registers (`registerModel`)."""

    weights_hash: bytes
    metadata_uri: str
    fingerprint_root: bytes
    fingerprint_count: int
    price_per_query: int
    permission_signer: str
    min_host_stake: int
    slash_bps: int
    prover_share_bps: int
    unbonding_delay: int
    revenue_recipient: str
    notice_period: int = 3600

    def to_abi(self) -> dict[str, Any]:
        d = super().to_abi()
        d["metadataURI"] = d.pop("metadataUri")
        return d

    def __post_init__(self) -> None:
        for name in ("weights_hash", "fingerprint_root"):
            v = getattr(self, name)
            if not isinstance(v, (bytes, bytearray)) or len(v) != 32:
                raise ValueError(f"ModelParams.{name} must be 32 bytes, got {v!r}")
        check_uints(self, (("fingerprint_count", 32), ("price_per_query", 128), ("min_host_stake", 128),
                           ("slash_bps", 16), ("prover_share_bps", 16), ("unbonding_delay", 64), ("notice_period", 64)))
        for name in ("slash_bps", "prover_share_bps"):
            if getattr(self, name) > 10_000:
                raise ValueError(f"ModelParams.{name} is in basis points (≤ 10000), got {getattr(self, name)}")


@dataclass(frozen=True)
class Model(AbiStruct):
    """A registered model (`getModel`): the params (price and stake terms in force now) plus owner and active."""

    weights_hash: bytes
    metadata_uri: str
    fingerprint_root: bytes
    fingerprint_count: int
    price_per_query: int
    permission_signer: str
    min_host_stake: int
    slash_bps: int
    prover_share_bps: int
    unbonding_delay: int
    revenue_recipient: str
    notice_period: int
    owner: str
    active: bool

    @property
    def stake_terms(self) -> StakeTerms:
        return StakeTerms(self.min_host_stake, self.slash_bps, self.prover_share_bps, self.unbonding_delay)


@dataclass(frozen=True)
class StakeTerms(AbiStruct):
    """The stake terms an owner changes with notice (`setStakeTerms`); field order is the ABI's."""

    min_host_stake: int
    slash_bps: int
    prover_share_bps: int
    unbonding_delay: int


@dataclass(frozen=True)
class Scheduled:
    """A change announced on chain: `value` takes effect at `effective_at` (unix seconds, chain time)."""

    value: Any
    effective_at: int


@dataclass(frozen=True)
class HostStake(AbiStruct):
    """A host's stake on one model (`getStake`)."""

    amount: int
    unbonding_end: int
    attestation_signer: str
    endpoint: str


@dataclass(frozen=True)
class Escrow:
    """A host's fee escrow on one model (`getEscrow`); `spendable` is what the permission service may use."""

    balance: int
    thawing_amount: int
    thaw_end: int

    @property
    def spendable(self) -> int:
        return max(0, self.balance - self.thawing_amount)


@dataclass(frozen=True)
class Voucher(AbiStruct):
    """What a host owes in total on one model: `count` queries costing `cumulative_amount` wei (host-signed)."""

    model_id: int
    host: str
    count: int
    cumulative_amount: int


@dataclass(frozen=True)
class Commitment(AbiStruct):
    """A recorded slash commitment (`getCommitment(prover, commitment)`); all zero when there is none."""

    block_number: int
    timestamp: int


@dataclass(frozen=True)
class Dispute(AbiStruct):
    """A slash disputed because the permission was signed by a retired signer (`getDispute`)."""

    prover: str
    deadline: int
    slash_bps: int
    prover_share_bps: int
    receipt_leaf: bytes
    shield_deadline: int

    @property
    def open(self) -> bool:
        return self.deadline != 0


@dataclass(frozen=True)
class SlashEvidence(AbiStruct):
    """Everything `reveal` checks (see contracts/README.md, Slashing)."""

    model_id: int
    host: str
    fingerprint_index: int
    salt: bytes
    key_hash: bytes
    fingerprint_response: bytes
    response: bytes
    merkle_proof: list[bytes] = field(default_factory=list)
    seq: int = 0
    permission: bytes = b""
    attestation: bytes = b""

    def abi_tuple(self) -> tuple:
        """Positional tuple in Solidity field order (for eth-abi encoding)."""
        return (self.model_id, self.host, self.fingerprint_index, self.salt, self.key_hash,
                self.fingerprint_response, self.response, list(self.merkle_proof), self.seq,
                self.permission, self.attestation)


SLASH_EVIDENCE_ABI_TYPE = ("(uint256,address,uint256,bytes32,bytes32,bytes,bytes,bytes32[],uint256,bytes,bytes)")
