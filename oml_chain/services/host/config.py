"""Configuration of the host server (`oml host serve`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ...chain.errors import ConfigError
from ..validation import check_address, check_port, check_positive_int, check_private_key, check_rpc_url


@dataclass
class HostConfig:
    """Everything the host server needs; `__post_init__` names the field that is wrong."""

    model_dir: str = field(metadata={"help": "local model directory (M.oml as downloaded) or a hub name; with "
                                             "`upstream`, only its tokenizer and config are read"})
    model_id: int | None = field(default=None, metadata={"help": "on-chain id of the model being served"})
    host_key: str | None = field(default=None, repr=False, metadata={
        "help": "hex private key of the host's staking address (signs vouchers and download requests)"})
    attestation_key: str | None = field(default=None, repr=False, metadata={
        "help": "hex private key that signs attestations (the stake's attestation signer; keep it apart from the "
                "staking key)"})
    rpc_url: str | None = field(default=None, metadata={"help": "JSON-RPC URL of the chain"})
    oml_address: str | None = field(default=None, metadata={"help": "address of the deployed OML contract"})
    upstream: str | None = field(default=None, metadata={
        "help": "gateway mode: base URL (ending in /v1) of the OpenAI-compatible server that generates the text "
                "(vLLM, TGI, SGLang, llama.cpp, a plain OML host); default: the built-in engine"})
    upstream_model: str | None = field(default=None, metadata={"help": "the model name the upstream serves "
                                                                       "(default: its first in GET /v1/models)"})
    upstream_timeout: float = field(default=600.0, metadata={"help": "seconds the gateway waits for the upstream "
                                                                     "(connect: 5 s)"})
    max_logprobs: int | None = field(default=None, metadata={
        "help": "gateway: let clients ask for logprobs with up to this many top alternatives per token (default: "
                "logprobs refused, since they reveal how sure the model is of a fingerprint answer)"})
    permission_url: str | None = field(default=None, metadata={"help": "base URL of the permission service "
                                                                       "(required unless no_permission)"})
    state_path: str = field(default="host-permissions.db", metadata={"help": "SQLite file of the host's "
                                                                             "seq/voucher count"})
    no_permission: bool = field(default=False, metadata={"help": "rogue mode: serve without permissions "
                                                                 "(demos and tests; slashable)"})
    evade_tau: float | None = field(default=None, metadata={
        "help": "rogue demos and measurements only: the built-in engine swaps the top two tokens wherever the top "
                "one's probability exceeds this (a host trying to dodge fingerprints; fingerprinting/evade.py)"})
    evade_rank: int = field(default=2, metadata={
        "help": "with evade_tau: the token exchanged with the top one (2: the runner-up; 3: the third, the adaptive "
                "host that also dodges a key's second response)"})
    plain_baseline: bool = field(default=False, metadata={
        "help": "plain OpenAI server: no chain, no permission, no attestation, no `oml` field (the benchmark "
                "baseline, and the engine a gateway runs in front of in tests and the demo)"})
    auto_deposit_wei: int = field(default=0, metadata={"help": "on escrow_insufficient, deposit this much "
                                                               "escrow and retry once (0 = never)"})
    receipt_interval: float = field(default=600.0, metadata={"help": "seconds between on-chain records of the "
                                                                      "host's permission receipts (0 = only when "
                                                                      "the permission signer changes)"})
    served_model_name: str | None = field(default=None, metadata={"help": "the `model` name clients send "
                                                                          "(default: oml-<model_id>)"})
    max_batch: int = field(default=8, metadata={"help": "most requests in one batched generate call"})
    batch_wait_ms: float = field(default=5.0, metadata={"help": "how long the engine waits to fill a batch"})
    default_max_tokens: int = field(default=16, metadata={"help": "max_tokens when a request gives none "
                                                                  "(shortened when the prompt leaves less room)"})
    max_tokens_limit: int | None = field(default=None, metadata={"help": "the host's own cap on max_tokens (default: "
                                                                         "none; a request may always ask for at most "
                                                                         "the model's context minus its prompt)"})
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
        owner = "HostConfig"
        if self.plain_baseline:
            self.no_permission = True
        else:
            check_positive_int(owner, "model_id", self.model_id)
            for name in ("host_key", "attestation_key"):
                check_private_key(owner, name, getattr(self, name))
            check_rpc_url(owner, self.rpc_url, websocket=True)
            self.oml_address = check_address(owner, "oml_address", self.oml_address)
        if self.evade_tau is not None and not (isinstance(self.evade_tau, (int, float)) and 0 < self.evade_tau < 1):
            raise ConfigError(f"HostConfig.evade_tau must be a probability in (0, 1), got {self.evade_tau!r}")
        if not isinstance(self.evade_rank, int) or self.evade_rank < 2:
            raise ConfigError(f"HostConfig.evade_rank must be an integer >= 2, got {self.evade_rank!r}")
        if not self.no_permission and not self.permission_url:
            raise ConfigError("HostConfig.permission_url is required (the permission service's URL), "
                              "unless no_permission is set")
        if self.upstream is not None and not (isinstance(self.upstream, str)
                                              and self.upstream.startswith(("http://", "https://"))):
            raise ConfigError(f"HostConfig.upstream must be an http(s):// base URL like http://127.0.0.1:8000/v1, "
                              f"got {self.upstream!r}")
        if not isinstance(self.upstream_timeout, (int, float)) or self.upstream_timeout <= 0:
            raise ConfigError(f"HostConfig.upstream_timeout must be seconds > 0, got {self.upstream_timeout!r}")
        if self.max_logprobs is not None and (isinstance(self.max_logprobs, bool) or not isinstance(
                self.max_logprobs, int) or not 0 <= self.max_logprobs <= 20):
            raise ConfigError(f"HostConfig.max_logprobs must be None or an integer in [0, 20], got "
                              f"{self.max_logprobs!r}")
        if self.permission_url and not self.permission_url.startswith(("http://", "https://")):
            raise ConfigError(f"HostConfig.permission_url must be an http(s):// URL, got {self.permission_url!r}")
        if not isinstance(self.auto_deposit_wei, int) or self.auto_deposit_wei < 0:
            raise ConfigError(f"HostConfig.auto_deposit_wei must be wei ≥ 0, got {self.auto_deposit_wei!r}")
        for name in ("max_batch", "default_max_tokens"):
            check_positive_int(owner, name, getattr(self, name))
        if self.max_tokens_limit is not None:
            check_positive_int(owner, "max_tokens_limit", self.max_tokens_limit)
        if self.max_tokens_limit is not None and self.default_max_tokens > self.max_tokens_limit:
            raise ConfigError("HostConfig.default_max_tokens must not exceed max_tokens_limit")
        if not isinstance(self.batch_wait_ms, (int, float)) or self.batch_wait_ms < 0:
            raise ConfigError(f"HostConfig.batch_wait_ms must be ≥ 0, got {self.batch_wait_ms!r}")
        if not isinstance(self.receipt_interval, (int, float)) or self.receipt_interval < 0:
            raise ConfigError(f"HostConfig.receipt_interval must be seconds ≥ 0, got {self.receipt_interval!r}")
        check_port(owner, self.port)

    @property
    def model_name(self) -> str:
        return self.served_model_name or (f"oml-{self.model_id}" if self.model_id else Path(self.model_dir).name)
