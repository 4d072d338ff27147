"""Base web3 wrapper of the deployed OML contract: local signing, receipts, typed reads, decoded reverts.

The web3 instance is always passed in. Transactions are signed locally with
the client's private key, sent raw, and awaited; a revert (at estimate or in
the mined transaction) becomes the `ContractError` subclass of errors.py with
the decoded values. Role clients (roles.py) add the actions of each actor.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import requests
from eth_account import Account
from eth_utils import event_abi_to_log_topic, to_checksum_address
from web3 import Web3
from web3._utils.events import get_event_data
from web3.exceptions import (ContractCustomError, ContractLogicError, ContractPanicError, TimeExhausted,
                             TransactionNotFound)

from .eip712 import Domain, Signer
from .errors import ERROR_TABLE, ConfigError, RPCUnavailable, RevertDecoder, TransactionFailed
from .types import Commitment, Dispute, Escrow, HostStake, Model, Scheduled, StakeTerms

_CONNECTION_ERRORS = (requests.exceptions.ConnectionError, ConnectionRefusedError, requests.exceptions.Timeout)


@dataclass(frozen=True)
class Event:
    name: str
    args: dict[str, Any]


@dataclass(frozen=True)
class TxResult:
    """A mined, successful transaction."""

    tx_hash: str
    block_number: int
    gas_used: int
    events: list[Event] = field(default_factory=list)

    def event(self, name: str) -> Event:
        """The first event called `name` (LookupError if the transaction emitted none)."""
        for e in self.events:
            if e.name == name:
                return e
        raise LookupError(f"transaction {self.tx_hash} emitted no {name} event (got {[e.name for e in self.events]})")

    def all(self, name: str) -> list[Event]:
        return [e for e in self.events if e.name == name]


def default_abi() -> list:
    from .artifacts import load_artifact

    return load_artifact("OML").abi


class OMLContract:
    """Reads of the OML contract, and the machinery to send transactions from one local key."""

    def __init__(self, w3: Web3, address: str, private_key: bytes | str | Signer | None = None,
                 abi: Sequence[dict] | None = None, receipt_timeout: float = 120.0, gas_margin: float = 1.2):
        self.w3 = w3
        self.address = to_checksum_address(address)
        self.abi = list(abi) if abi is not None else default_abi()
        self.contract = w3.eth.contract(address=self.address, abi=self.abi)
        self.decoder = RevertDecoder(self.abi, ERROR_TABLE)
        self.signer: Signer | None = (private_key if isinstance(private_key, Signer)
                                      else Signer(private_key) if private_key is not None else None)
        self._account = Account.from_key(self.signer.private_key) if self.signer else None
        self.receipt_timeout = receipt_timeout
        self.gas_margin = gas_margin
        self._next_nonce = 0
        self._chain_id: int | None = None
        self._events = {event_abi_to_log_topic(e): e for e in self.abi if e.get("type") == "event"}

    # --- identity ---------------------------------------------------------------------------------
    @property
    def account(self) -> str:
        if self.signer is None:
            raise ConfigError("this client has no private key; pass private_key= to send transactions or sign")
        return self.signer.address

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = self._rpc(lambda: self.w3.eth.chain_id)
        return self._chain_id

    @property
    def domain(self) -> Domain:
        return Domain(self.chain_id, self.address)

    # --- low level --------------------------------------------------------------------------------
    def _rpc(self, fn):
        try:
            return fn()
        except _CONNECTION_ERRORS as exc:
            raise RPCUnavailable(getattr(self.w3.provider, "endpoint_uri", "?"), exc) from exc

    def _reraise(self, exc: Exception):
        data = getattr(exc, "data", None)
        if isinstance(data, dict):
            data = data.get("data")
        err = self.decoder.decode(data) if isinstance(data, (str, bytes)) and data not in ("", "0x") else None
        if err is not None:
            raise err from exc
        raise TransactionFailed(f"the contract reverted without an error code: {exc}") from exc

    def call(self, fn_name: str, *args, sender: str | None = None, block: Any = "latest") -> Any:
        """eth_call of a view or a would-be transaction; reverts become ContractError."""
        fn = getattr(self.contract.functions, fn_name)(*args)
        params = {"from": sender} if sender else {}
        try:
            return self._rpc(lambda: fn.call(params, block_identifier=block))
        except (ContractCustomError, ContractLogicError, ContractPanicError) as exc:
            self._reraise(exc)

    def transact(self, fn_name: str, *args, value: int = 0, gas: int | None = None) -> TxResult:
        """Sign and send `fn_name(*args)` from this client's key, wait for the receipt, decode events."""
        sender = self.account
        fn = getattr(self.contract.functions, fn_name)(*args)
        tx: dict[str, Any] = {"from": sender, "value": value, "chainId": self.chain_id}
        try:
            if gas is None:
                # "pending": the state and block number the transaction will meet (next block on anvil)
                estimate = self._rpc(lambda: fn.estimate_gas({"from": sender, "value": value}, "pending"))
                gas = int(estimate * self.gas_margin) + 10_000
        except (ContractCustomError, ContractLogicError, ContractPanicError) as exc:
            self._reraise(exc)
        tx["gas"] = gas
        base_fee = self._rpc(lambda: self.w3.eth.get_block("latest")).get("baseFeePerGas", 0)
        tip = self._rpc(lambda: self.w3.eth.max_priority_fee)
        tx.update(maxFeePerGas=2 * base_fee + tip, maxPriorityFeePerGas=tip)
        for attempt in range(2):
            pending = self._rpc(lambda: self.w3.eth.get_transaction_count(sender, "pending"))
            tx["nonce"] = max(self._next_nonce, pending) if attempt == 0 else pending
            built = fn.build_transaction(tx)
            raw = self._account.sign_transaction(built).raw_transaction
            try:
                tx_hash = self._rpc(lambda: self.w3.eth.send_raw_transaction(raw))
                break
            except ValueError as exc:  # node rejected: retry once on a stale nonce
                if attempt == 0 and "nonce" in str(exc).lower():
                    self._next_nonce = 0
                    continue
                raise TransactionFailed(f"the node rejected the transaction {fn_name}: {exc}") from exc
        self._next_nonce = tx["nonce"] + 1
        receipt = self._wait(tx_hash)
        if receipt["status"] != 1:
            self._explain_failure(fn, tx, receipt)
        return TxResult(tx_hash=tx_hash.hex() if isinstance(tx_hash, bytes) else str(tx_hash),
                        block_number=receipt["blockNumber"], gas_used=receipt["gasUsed"],
                        events=self.decode_events(receipt))

    def _wait(self, tx_hash):
        deadline = time.monotonic() + self.receipt_timeout
        delay = 0.002
        while True:
            try:
                return self._rpc(lambda: self.w3.eth.get_transaction_receipt(tx_hash))
            except TransactionNotFound:
                pass
            if time.monotonic() > deadline:
                raise TimeExhausted(f"transaction {tx_hash.hex()} not mined within {self.receipt_timeout}s; "
                                    "is the chain producing blocks?")
            time.sleep(delay)
            delay = min(delay * 2, 0.5)

    def _explain_failure(self, fn, tx, receipt):
        try:
            fn.call({"from": tx["from"], "value": tx["value"], "gas": tx["gas"]},
                    block_identifier=receipt["blockNumber"] - 1)
        except (ContractCustomError, ContractLogicError, ContractPanicError) as exc:
            self._reraise(exc)
        raise TransactionFailed(f"transaction {receipt['transactionHash'].hex()} reverted (gas used "
                                f"{receipt['gasUsed']} of {tx['gas']}); no revert data — possibly out of gas")

    def decode_events(self, receipt) -> list[Event]:
        out = []
        for log in receipt["logs"]:
            if to_checksum_address(log["address"]) != self.address or not log["topics"]:
                continue
            abi = self._events.get(bytes(log["topics"][0]))
            if abi is None:
                continue
            data = get_event_data(self.w3.codec, abi, log)
            out.append(Event(data["event"], dict(data["args"])))
        return out

    def events(self, name: str, from_block: int, to_block: int | str = "latest", **match: Any) -> list[Event]:
        """Decoded `name` events of this contract in [from_block, to_block] whose args equal `match`
        (e.g. `events("SlashDisputed", 0, host=addr)`; filtering on args happens here, not in the node)."""
        abi = next((e for e in self.abi if e.get("type") == "event" and e["name"] == name), None)
        if abi is None:
            raise ConfigError(f"the OML ABI has no event {name}")
        logs = self._rpc(lambda: self.w3.eth.get_logs({"address": self.address, "fromBlock": from_block,
                                                         "toBlock": to_block,
                                                         "topics": [event_abi_to_log_topic(abi)]}))
        out = []
        for log in logs:
            args = dict(get_event_data(self.w3.codec, abi, log)["args"])
            if all(_same(args.get(k), v) for k, v in match.items()):
                out.append(Event(name, args))
        return out

    # --- reads ------------------------------------------------------------------------------------
    def get_model(self, model_id: int) -> Model:
        return Model.from_abi(self.call("getModel", model_id), _outputs(self.abi, "getModel"))

    def model_count(self) -> int:
        return self.call("modelCount")

    def get_stake(self, model_id: int, host: str) -> HostStake:
        return HostStake.from_abi(self.call("getStake", model_id, host), _outputs(self.abi, "getStake"))

    def is_active_host(self, model_id: int, host: str) -> bool:
        return self.call("isActiveHost", model_id, host)

    def get_escrow(self, model_id: int, host: str) -> Escrow:
        return Escrow(*self.call("getEscrow", model_id, host))

    def settled_count(self, model_id: int, host: str) -> int:
        return self.call("settledCount", model_id, host)

    def settled_amount(self, model_id: int, host: str) -> int:
        """Wei settled so far from the host's vouchers (the cumulative amount of the newest settled voucher)."""
        return self.call("settledAmount", model_id, host)

    def price_at(self, model_id: int, timestamp: int) -> int:
        """The price per query in force at `timestamp` (chain time)."""
        return self.call("priceAt", model_id, timestamp)

    def stake_terms_at(self, model_id: int, timestamp: int) -> StakeTerms:
        return StakeTerms.from_abi(self.call("stakeTermsAt", model_id, timestamp), _outputs(self.abi, "stakeTermsAt"))

    def pending_price(self, model_id: int) -> Scheduled | None:
        """The announced price change not yet in force, or None."""
        price, effective_at = self.call("pendingPrice", model_id)
        return Scheduled(price, effective_at) if effective_at else None

    def pending_stake_terms(self, model_id: int) -> Scheduled | None:
        """The announced stake-terms change not yet in force (value: StakeTerms), or None."""
        terms, effective_at = self.call("pendingStakeTerms", model_id)
        comps = _outputs(self.abi, "pendingStakeTerms")[0]["components"]
        return Scheduled(StakeTerms.from_abi(terms, comps), effective_at) if effective_at else None

    def permission_signer_retired_at(self, model_id: int, signer: str) -> int:
        """When `signer` stopped being the model's permission signer (0: never retired)."""
        return self.call("permissionSignerRetiredAt", model_id, signer)

    def attestation_signer_valid_until(self, model_id: int, host: str, signer: str) -> int:
        return self.call("attestationSignerValidUntil", model_id, host, signer)

    def receipt_recorded_at(self, model_id: int, host: str, root: bytes) -> int:
        return self.call("receiptRecordedAt", model_id, host, root)

    def open_disputes(self, model_id: int, host: str) -> int:
        return self.call("openDisputes", model_id, host)

    def get_dispute(self, model_id: int, host: str, index: int) -> Dispute:
        return Dispute.from_abi(self.call("getDispute", model_id, host, index), _outputs(self.abi, "getDispute"))

    def chain_time(self) -> int:
        """Timestamp of the latest block (what a view call sees as `block.timestamp`)."""
        return self._rpc(lambda: self.w3.eth.get_block("latest")["timestamp"])

    def revenue_of(self, model_id: int) -> int:
        return self.call("revenueOf", model_id)

    def reward_of(self, prover: str) -> int:
        return self.call("rewardOf", prover)

    def is_burned(self, model_id: int, host: str, index: int) -> bool:
        """Whether fingerprint `index` of `model_id` was revealed against `host` (burns are per host)."""
        return self.call("isBurned", model_id, host, index)

    def get_commitment(self, prover: str, commitment: bytes) -> Commitment:
        return Commitment.from_abi(self.call("getCommitment", prover, commitment), _outputs(self.abi, "getCommitment"))

    def reveal_window(self) -> int:
        return self.call("REVEAL_WINDOW")

    def dispute_window(self) -> int:
        return self.call("DISPUTE_WINDOW")

    def balance(self, address: str | None = None) -> int:
        return self._rpc(lambda: self.w3.eth.get_balance(address or self.account))


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()
    return a == b


def _outputs(abi: Sequence[dict], fn_name: str):
    for item in abi:
        if item.get("type") == "function" and item["name"] == fn_name:
            outs = item["outputs"]
            return outs[0]["components"] if len(outs) == 1 and "components" in outs[0] else outs
    raise ConfigError(f"the ABI has no function {fn_name}; is it the OML ABI?")
