"""Configuration of the permission service (`oml permission serve`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from eth_utils import is_address, to_checksum_address

from ...errors import ConfigError

_KEY_RE = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


@dataclass
class PermissionConfig:
    """Everything the service needs; each field is checked in `__post_init__` and named when wrong."""

    rpc_url: str = field(metadata={"help": "JSON-RPC URL of the chain (e.g. http://127.0.0.1:8545)"})
    oml_address: str = field(metadata={"help": "address of the deployed OML contract"})
    signer_key: str = field(repr=False, metadata={"help": "hex private key of the models' permission signer"})
    db_path: str = field(metadata={"help": "SQLite ledger file (created if missing; WAL mode)"})
    settle_interval: float = field(default=60.0, metadata={"help": "seconds between settlement rounds; 0 = "
                                                                   "only on shutdown"})
    escrow_ttl: float = field(default=2.0, metadata={"help": "seconds a cached model/escrow read stays fresh"})
    tx_key: str | None = field(default=None, repr=False,
                               metadata={"help": "hex key that pays settlement gas (default: signer_key)"})
    host: str = field(default="127.0.0.1", metadata={"help": "interface to listen on"})
    port: int = field(default=8700, metadata={"help": "TCP port to listen on"})
    max_batch: int = field(default=1000, metadata={"help": "most queries in one batch request"})
    log_level: str = field(default="info", metadata={"help": "uvicorn/service log level"})
    durability: str = field(default="crash", metadata={
        "help": "ledger durability: 'crash' = survives a killed service (WAL, no fsync per answer); "
                "'power' = also survives power loss (fsync before every answer, slower)"})

    def __post_init__(self) -> None:
        if not isinstance(self.rpc_url, str) or not self.rpc_url.startswith(("http://", "https://", "ws://",
                                                                              "wss://")):
            raise ConfigError(f"PermissionConfig.rpc_url must be an http(s):// or ws(s):// URL, got {self.rpc_url!r}")
        if not isinstance(self.oml_address, str) or not is_address(self.oml_address):
            raise ConfigError(f"PermissionConfig.oml_address must be a 0x-address, got {self.oml_address!r}")
        self.oml_address = to_checksum_address(self.oml_address)
        for name in ("signer_key", "tx_key"):
            v = getattr(self, name)
            if v is None and name == "tx_key":
                continue
            if not isinstance(v, str) or not _KEY_RE.match(v):
                raise ConfigError(f"PermissionConfig.{name} must be a hex private key (64 hex digits, 0x optional)")
        if not self.db_path:
            raise ConfigError("PermissionConfig.db_path must name the SQLite ledger file")
        for name in ("settle_interval", "escrow_ttl"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or v < 0:
                raise ConfigError(f"PermissionConfig.{name} must be a number of seconds ≥ 0, got {v!r}")
        if not isinstance(self.port, int) or not 0 <= self.port < 65536:
            raise ConfigError(f"PermissionConfig.port must be in 0..65535, got {self.port!r}")
        if self.durability not in ("crash", "power"):
            raise ConfigError(f"PermissionConfig.durability must be 'crash' or 'power', got {self.durability!r}")
        if not isinstance(self.max_batch, int) or self.max_batch < 1:
            raise ConfigError(f"PermissionConfig.max_batch must be a positive integer, got {self.max_batch!r}")

    @property
    def settlement_key(self) -> str:
        return self.tx_key or self.signer_key
