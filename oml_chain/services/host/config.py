"""Configuration of the host server (`oml host serve`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from eth_utils import is_address, to_checksum_address

from ...errors import ConfigError

_KEY_RE = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


@dataclass
class HostConfig:
    """Everything the host server needs; `__post_init__` names the field that is wrong."""

    model_dir: str = field(metadata={"help": "local model directory (M.oml as downloaded) or a hub name"})
    model_id: int = field(metadata={"help": "on-chain id of the model being served"})
    host_key: str = field(repr=False, metadata={"help": "hex private key of the host's staking address "
                                                        "(signs vouchers and download requests)"})
    attestation_key: str = field(repr=False, metadata={"help": "hex private key that signs attestations "
                                                               "(the stake's attestation signer; keep it apart "
                                                               "from the staking key)"})
    rpc_url: str = field(metadata={"help": "JSON-RPC URL of the chain"})
    oml_address: str = field(metadata={"help": "address of the deployed OML contract"})
    permission_url: str | None = field(default=None, metadata={"help": "base URL of the permission service "
                                                                       "(required unless no_permission)"})
    state_path: str = field(default="host-permissions.db", metadata={"help": "SQLite file of the host's "
                                                                             "seq/voucher count"})
    no_permission: bool = field(default=False, metadata={"help": "rogue mode: serve without permissions "
                                                                 "(demos and tests; slashable)"})
    plain_baseline: bool = field(default=False, metadata={"help": "benchmark baseline only: no permission, "
                                                                  "no attestation, no `oml` field (needs "
                                                                  "no_permission)"})
    auto_deposit_wei: int = field(default=0, metadata={"help": "on escrow_insufficient, deposit this much "
                                                               "escrow and retry once (0 = never)"})
    served_model_name: str | None = field(default=None, metadata={"help": "the `model` name clients send "
                                                                          "(default: oml-<model_id>)"})
    max_batch: int = field(default=8, metadata={"help": "most requests in one batched generate call"})
    batch_wait_ms: float = field(default=5.0, metadata={"help": "how long the engine waits to fill a batch"})
    default_max_tokens: int = field(default=16, metadata={"help": "max_tokens when a request gives none"})
    max_tokens_limit: int = field(default=512, metadata={"help": "largest max_tokens a request may ask for"})
    device: str | None = field(default=None, metadata={"help": "torch device (default: cuda if visible, else cpu)"})
    torch_threads: int | None = field(default=None, metadata={"help": "torch CPU threads (default: torch's)"})
    host: str = field(default="127.0.0.1", metadata={"help": "interface to listen on"})
    port: int = field(default=8000, metadata={"help": "TCP port to listen on"})
    log_level: str = field(default="info", metadata={"help": "log level"})

    def __post_init__(self) -> None:
        if not self.model_dir:
            raise ConfigError("HostConfig.model_dir must name a model directory (or hub name)")
        if Path(self.model_dir).expanduser().exists():
            self.model_dir = str(Path(self.model_dir).expanduser())
        if not isinstance(self.model_id, int) or self.model_id < 1:
            raise ConfigError(f"HostConfig.model_id must be a positive integer, got {self.model_id!r}")
        for name in ("host_key", "attestation_key"):
            v = getattr(self, name)
            if not isinstance(v, str) or not _KEY_RE.match(v):
                raise ConfigError(f"HostConfig.{name} must be a hex private key (64 hex digits, 0x optional)")
        if not isinstance(self.rpc_url, str) or not self.rpc_url.startswith(("http://", "https://", "ws://",
                                                                              "wss://")):
            raise ConfigError(f"HostConfig.rpc_url must be an http(s):// or ws(s):// URL, got {self.rpc_url!r}")
        if not isinstance(self.oml_address, str) or not is_address(self.oml_address):
            raise ConfigError(f"HostConfig.oml_address must be a 0x-address, got {self.oml_address!r}")
        self.oml_address = to_checksum_address(self.oml_address)
        if not self.no_permission and not self.permission_url:
            raise ConfigError("HostConfig.permission_url is required (the permission service's URL), "
                              "unless no_permission is set")
        if self.plain_baseline and not self.no_permission:
            raise ConfigError("HostConfig.plain_baseline is a benchmark baseline and needs no_permission")
        if self.permission_url and not self.permission_url.startswith(("http://", "https://")):
            raise ConfigError(f"HostConfig.permission_url must be an http(s):// URL, got {self.permission_url!r}")
        if not isinstance(self.auto_deposit_wei, int) or self.auto_deposit_wei < 0:
            raise ConfigError(f"HostConfig.auto_deposit_wei must be wei ≥ 0, got {self.auto_deposit_wei!r}")
        for name in ("max_batch", "default_max_tokens", "max_tokens_limit"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ConfigError(f"HostConfig.{name} must be a positive integer, got {v!r}")
        if self.default_max_tokens > self.max_tokens_limit:
            raise ConfigError("HostConfig.default_max_tokens must not exceed max_tokens_limit")
        if not isinstance(self.batch_wait_ms, (int, float)) or self.batch_wait_ms < 0:
            raise ConfigError(f"HostConfig.batch_wait_ms must be ≥ 0, got {self.batch_wait_ms!r}")
        if not isinstance(self.port, int) or not 0 <= self.port < 65536:
            raise ConfigError(f"HostConfig.port must be in 0..65535, got {self.port!r}")

    @property
    def model_name(self) -> str:
        return self.served_model_name or f"oml-{self.model_id}"
