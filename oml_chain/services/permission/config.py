"""Configuration of the permission service (`oml permission serve`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...chain.errors import ConfigError
from ..validation import check_address, check_port, check_positive_int, check_private_key, check_rpc_url, check_seconds


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
        owner = "PermissionConfig"
        check_rpc_url(owner, self.rpc_url, websocket=True)
        self.oml_address = check_address(owner, "oml_address", self.oml_address)
        check_private_key(owner, "signer_key", self.signer_key)
        if self.tx_key is not None:
            check_private_key(owner, "tx_key", self.tx_key)
        if not self.db_path:
            raise ConfigError("PermissionConfig.db_path must name the SQLite ledger file")
        for name in ("settle_interval", "escrow_ttl"):
            check_seconds(owner, name, getattr(self, name))
        check_port(owner, self.port)
        if self.durability not in ("crash", "power"):
            raise ConfigError(f"PermissionConfig.durability must be 'crash' or 'power', got {self.durability!r}")
        check_positive_int(owner, "max_batch", self.max_batch)

    @property
    def settlement_key(self) -> str:
        return self.tx_key or self.signer_key
