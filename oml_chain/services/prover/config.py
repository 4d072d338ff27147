"""Configuration of the prover (`oml prove once|daemon`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...chain.errors import ConfigError
from ..validation import check_address, check_positive_int, check_private_key, check_rpc_url, check_seconds


@dataclass
class ProverConfig:
    """Everything the prover needs; each field is checked in `__post_init__` and named when wrong."""

    rpc_url: str = field(metadata={"help": "JSON-RPC URL of the chain"})
    oml_address: str = field(metadata={"help": "address of the deployed OML contract"})
    prover_key: str = field(repr=False, metadata={"help": "hex private key that commits, reveals and earns rewards"})
    fingerprint_files: list[str] = field(metadata={"help": "fingerprint files; each is matched to the registered "
                                                           "model(s) whose fingerprintRoot it produces"})
    db_path: str = field(metadata={"help": "SQLite record of probes, used keys, pending commitments, slashes"})
    model_ids: list[int] = field(default_factory=list,
                                 metadata={"help": "only these models (default: every model a file matches)"})
    interval: float = field(default=30.0, metadata={"help": "daemon: seconds between probing rounds"})
    keys_per_round: int = field(default=1, metadata={"help": "fresh fingerprint keys sent to each host per round"})
    stream: bool = field(default=False, metadata={"help": "probe with streamed requests (`stream: true`) instead of "
                                                          "ordinary ones"})
    max_tokens: int = field(default=32, metadata={"help": "upper bound on max_tokens of a probe request"})
    request_timeout: float = field(default=60.0, metadata={"help": "seconds to wait for a host's answer"})
    backoff_initial: float = field(default=1.0, metadata={"help": "first retry delay after a failure (seconds)"})
    backoff_max: float = field(default=300.0, metadata={"help": "longest retry delay (seconds)"})
    reveal_timeout: float = field(default=120.0, metadata={"help": "seconds to wait for the block after a commit"})
    from_block: int = field(default=0, metadata={"help": "first block scanned for HostStaked events"})

    def __post_init__(self) -> None:
        owner = "ProverConfig"
        check_rpc_url(owner, self.rpc_url)
        self.oml_address = check_address(owner, "oml_address", self.oml_address)
        check_private_key(owner, "prover_key", self.prover_key)
        if not self.fingerprint_files:
            raise ConfigError("ProverConfig.fingerprint_files is empty; pass at least one fingerprint file")
        if not self.db_path:
            raise ConfigError("ProverConfig.db_path must name the prover's SQLite file")
        for name in ("interval", "request_timeout", "backoff_initial", "backoff_max", "reveal_timeout"):
            check_seconds(owner, name, getattr(self, name), allow_zero=False)
        for name in ("keys_per_round", "max_tokens"):
            check_positive_int(owner, name, getattr(self, name))
        if self.backoff_max < self.backoff_initial:
            raise ConfigError("ProverConfig.backoff_max must be at least backoff_initial")
